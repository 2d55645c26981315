"""benchmarks/learn_rl2.py: ``--resume`` continues a saved run bit for bit, and refuses a run
that is missing or was trained with another config (exit code 2, nothing written)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from baselines.common.checkpoint import CHECKPOINT_NAME, load_checkpoint

TINY = ["--problem", "bandit5x10", "--workers", "1", "--eval-every", "2", "--eval-trials", "32",
        "--test-tasks", "16", "--set", "trials_per_iteration=16", "--set", "hidden_size=16",
        "--set", "task_pool_size=64"]


@pytest.fixture(scope="module")
def learn_rl2(load_script):
    return load_script("learn_rl2")


def _state(run_dir: Path):
    return load_checkpoint(run_dir / CHECKPOINT_NAME)


def test_resume_continues_bit_for_bit(learn_rl2, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert learn_rl2.main([*TINY, "--iterations", "4", "--save", str(straight)]) == 0
    assert learn_rl2.main([*TINY, "--iterations", "2", "--save", str(split)]) == 0
    assert _state(split).iteration == 2
    assert learn_rl2.main([*TINY, "--iterations", "4", "--save", str(split), "--resume"]) == 0
    a, b = _state(straight), _state(split)
    assert (a.iteration, a.state["total_steps"]) == (b.iteration, b.state["total_steps"]) == (4, 640)
    for key, value in a.state["model"].items():
        assert torch.equal(value, b.state["model"][key]), key
    for key, value in a.state["optimizer"]["state"].items():  # Adam moments
        for name, tensor in value.items():
            assert torch.equal(tensor, b.state["optimizer"]["state"][key][name]), (key, name)
    for name, entry in a.rng.items():  # the run's random streams (torch's global one aside)
        if name != "__torch_global__":
            other = b.rng[name]["state"]
            assert (torch.equal(entry["state"], other) if entry["kind"] == "torch"
                    else entry["state"] == other), name


def test_resume_refuses_another_config_or_a_missing_run(learn_rl2, tmp_path, capsys):
    run = tmp_path / "run"
    assert learn_rl2.main([*TINY, "--iterations", "2", "--save", str(run)]) == 0
    before = (run / CHECKPOINT_NAME).read_bytes()
    with pytest.raises(SystemExit) as exc:
        learn_rl2.main([*TINY, "--iterations", "4", "--save", str(run), "--resume",
                        "--set", "learning_rate=0.1"])
    assert exc.value.code == 2
    assert "learning_rate 0.001 there, 0.1 here" in capsys.readouterr().err
    assert (run / CHECKPOINT_NAME).read_bytes() == before
    with pytest.raises(SystemExit) as exc:
        learn_rl2.main([*TINY, "--iterations", "4", "--save", str(tmp_path / "none"), "--resume"])
    assert exc.value.code == 2
    assert "no checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse: --resume without --save
        learn_rl2.main([*TINY, "--resume"])
    assert exc.value.code == 2
