"""benchmarks/sb3_reference.py at a tiny budget: results, model and training record; the row
re-scores from its record through ``--agent sb3``; saving in chunks changes nothing; resuming
and its refusals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from krazy_gym.evaluation.cli import main as cli_main
from krazy_gym.evaluation.results import read_results

pytest.importorskip("sb3_contrib")
torch = pytest.importorskip("torch")

ROLLOUT = 32 * 50  # the Bandit config: 32 envs x 50 steps per rollout


@pytest.fixture(scope="module")
def script(load_script):
    return load_script("sb3_reference")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)  # the script sets one thread


def _run(script, out: Path, *extra: str) -> int:
    return script.main(["--benchmark", "Bandit", "--eval-seeds", "1", "--out", str(out), *extra])


def _params(path: Path) -> dict:
    from sb3_contrib import RecurrentPPO

    return RecurrentPPO.load(path, device="cpu").policy.state_dict()


def test_tiny_run_writes_a_row_that_rescores_from_its_record(script, tmp_path, capsys,
                                                             monkeypatch):
    out = tmp_path / "bandit.json"
    assert _run(script, out, "--steps", str(2 * ROLLOUT), "--save-every", str(ROLLOUT)) == 0
    printed = capsys.readouterr().out
    assert printed.count("steps/s") == 2 and "RESULT Bandit RecurrentPPO steps=3200" in printed
    results = read_results(out)  # validates schema and sha256
    assert results["agent"] == {"name": "sb3:RecurrentPPO",
                                "factory": "krazy_gym.evaluation.agents:sb3_from_env"}
    model, record_path = script.paths(out)
    record = json.loads(record_path.read_text())
    assert record["steps_done"] == 2 * ROLLOUT and record["episodes_per_trial"] == 10
    assert record["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert record["evaluation"]["results_sha256"] == results["sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bandit.json", "bandit.train.json", "bandit.zip"]
    assert (model.stat().st_mode & 0o777) == (out.stat().st_mode & 0o777)
    # the record's settings re-score the row through the CLI's built-in sb3 agent
    for key, value in record["evaluation"]["environment"].items():
        monkeypatch.setenv(key, value)
    again = tmp_path / "again.json"
    assert cli_main(["evaluate", "--agent", "sb3", "--benchmark", "Bandit", "--seeds", "1",
                     "--out", str(again), "--no-progress"]) == 0
    assert read_results(again)["returns"] == results["returns"]


def test_saving_in_chunks_trains_the_same_model(script, tmp_path):
    straight, chunked = tmp_path / "straight.json", tmp_path / "chunked.json"
    assert _run(script, straight, "--steps", str(2 * ROLLOUT)) == 0
    assert _run(script, chunked, "--steps", str(2 * ROLLOUT), "--save-every", str(ROLLOUT)) == 0
    a, b = _params(script.paths(straight)[0]), _params(script.paths(chunked)[0])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert read_results(straight)["returns"] == read_results(chunked)["returns"]


def test_resume_continues_and_refusals_change_nothing(script, tmp_path):
    out = tmp_path / "run.json"
    model, record_path = script.paths(out)
    with pytest.raises(SystemExit, match="there is no model"):
        _run(script, out, "--steps", str(ROLLOUT), "--resume")
    assert list(tmp_path.iterdir()) == []
    assert _run(script, out, "--steps", str(ROLLOUT)) == 0
    first = _params(model)
    saved = model.read_bytes(), record_path.read_bytes(), out.read_bytes()
    with pytest.raises(SystemExit, match="exists: pass --resume"):
        _run(script, out, "--steps", str(2 * ROLLOUT))
    with pytest.raises(SystemExit, match="has seed=0, this run 1"):
        _run(script, out, "--steps", str(2 * ROLLOUT), "--resume", "--seed", "1")
    assert (model.read_bytes(), record_path.read_bytes(), out.read_bytes()) == saved
    assert _run(script, out, "--steps", str(2 * ROLLOUT), "--resume") == 0
    record = json.loads(record_path.read_text())
    assert record["steps_done"] == 2 * ROLLOUT
    assert record["train_seconds"] >= json.loads(saved[1])["train_seconds"]
    later = _params(model)
    assert any(not torch.equal(first[k], later[k]) for k in first)  # it trained on
