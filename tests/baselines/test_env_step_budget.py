"""``--max-env-steps``: a run stops after the first iteration whose cumulative env steps reach
the budget, for the gradient learners and RL² alike, resumes exactly, and rejects bad values."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from baselines.common.checkpoint import load_checkpoint  # noqa: E402
from baselines.common.logger import read_progress  # noqa: E402
from baselines.common.meta_learning import TIME_COLUMNS  # noqa: E402
from baselines.train import main  # noqa: E402

GRADIENT = ["--env", "KrazyGym/Navigation2D-v0", "--set", "num_tasks=2",
            "--set", "episodes_per_task=2", "--set", "max_episode_steps=8",
            "--set", "hidden_sizes=(8,)", "--set", "progress=false"]
# Krazy World episodes end at different steps, so the steps per iteration vary
RL2 = ["--env", "KrazyGym/KrazyWorld-Easy-v0", "--set", "episodes_per_trial=2",
       "--set", "trials_per_iteration=4", "--set", "task_pool_size=8", "--set", "minibatches=1",
       "--set", "hidden_size=8", "--set", "ppo_epochs=1"]
CASES = {"maml-trpo": GRADIENT, "promp": GRADIENT, "rl2": RL2}


def _rows(out):
    return [{k: v for k, v in r.items() if k not in TIME_COLUMNS and k not in
             ("wall_time", "steps_per_second", "sample_seconds", "update_seconds")}
            for r in read_progress(out)]


def _train(out, algo, *extra):
    return main(["--algo", algo, "--out", str(out), "--seed", "1", *CASES[algo], *extra])


def _resume(out, algo, *extra):
    env = CASES[algo][CASES[algo].index("--env") + 1]
    return main(["--algo", algo, "--env", env, "--out", str(out), "--resume", *extra])


@pytest.mark.parametrize("algo", sorted(CASES))
def test_the_budget_stops_at_the_first_iteration_that_reaches_it(tmp_path, algo):
    assert _train(tmp_path / "free", algo, "--iterations", "4") == 0
    free = _rows(tmp_path / "free")
    steps = [r["env_steps"] for r in free]
    assert steps == sorted(steps) and steps[0] > 0
    budget = int(steps[1]) - 1  # reached during the second iteration, not the first
    assert steps[0] < budget
    out = tmp_path / "budget"
    assert _train(out, algo, "--iterations", "4", "--max-env-steps", str(budget)) == 0
    assert load_checkpoint(out).iteration == 2
    assert _rows(out) == free[:2]  # the same run, cut after the iteration that spent it
    assert load_checkpoint(out).config["max_env_steps"] == budget

    # a resume whose budget is already spent trains nothing ...
    assert _resume(out, algo, "--iterations", "4") == 0
    assert load_checkpoint(out).iteration == 2 and len(read_progress(out)) == 2
    # ... and one given a larger budget continues the same run, bit for bit
    assert _resume(out, algo, "--iterations", "4", "--max-env-steps", "0") == 0
    assert load_checkpoint(out).iteration == 4
    assert _rows(out) == free


@pytest.mark.parametrize("algo", sorted(CASES))
def test_a_negative_budget_is_a_usage_error_naming_it(tmp_path, capsys, algo):
    out = tmp_path / "x"
    assert _train(out, algo, "--iterations", "1", "--max-env-steps", "-5") == 2
    assert "max_env_steps" in capsys.readouterr().err
    assert not (out / "checkpoint.pt").exists()
