"""The krazy-gym command line: a good run, and every bad input exits 2 writing nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from krazy_gym.evaluation.cli import main
from krazy_gym.evaluation.results import read_results

ROOT = Path(__file__).resolve().parents[2]


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_writes_valid_results_summary_and_plot(toy_benchmarks, tmp_path, capsys):
    out, plot = tmp_path / "r.json", tmp_path / "curve.png"
    code, stdout, err = run(
        ["evaluate", "--agent", "eval_toys:always_right", "--benchmark", "ToyChain", "--seeds", "3",
         "--out", str(out), "--plot", str(plot), "--no-progress"], capsys)
    assert code == 0, err
    res = read_results(out)
    assert res["agent"] == {"name": "always-right", "factory": "eval_toys:always_right"}
    assert res["seeds"] == [0, 1, 2]
    assert "ToyChain-v1" in stdout and "always-right" in stdout and "norm. IQM" in stdout
    assert plot.stat().st_size > 1000 and plot.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png", "r.json"]
    code, stdout, _ = run(["summary", str(out)], capsys)
    assert code == 0 and "always-right" in stdout
    code, stdout, _ = run(["validate", str(out)], capsys)
    assert code == 0 and "valid" in stdout


BAD = [
    (["--agent", "no_such_pkg_xyz.agents:make"], "does not import"),
    (["--agent", "eval_toys:nope"], "has no attribute"),
    (["--agent", "eval_toys"], "package.module:factory"),
    (["--agent", "eval_toys:not_an_agent"], "not a MetaAgent"),
    (["--benchmark", "ToyChian"], "did you mean 'ToyChain'"),
    (["--seeds", "0"], "--seeds must be >= 1"),
    (["--seeds", "many"], "--seeds must be an integer"),
    (["--workers", "0"], "--workers must be >= 1"),
    (["--out", "{tmp}/missing/r.json"], "does not exist"),
    (["--plot", "{tmp}/missing/c.png"], "does not exist"),
    (["--engine", "spark"], "invalid choice"),
]


@pytest.mark.parametrize(("override", "message"), BAD)
def test_bad_input_exits_2_and_writes_nothing(toy_benchmarks, tmp_path, capsys, override, message):
    args = {"--agent": "eval_toys:always_right", "--benchmark": "ToyChain", "--seeds": "1",
            "--out": str(tmp_path / "r.json")}
    args.update(dict(zip(override[::2], [v.format(tmp=tmp_path) for v in override[1::2]])))
    argv = ["evaluate", "--no-progress"] + [x for kv in args.items() for x in kv]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert message in err
    assert list(tmp_path.iterdir()) == []


def test_failed_run_exits_1_and_keeps_partial(toy_benchmarks, tmp_path, capsys):
    import eval_toys

    from krazy_gym.evaluation import benchmarks as bm

    bm.register_benchmark(eval_toys.chain_benchmark(
        name="ToyReveal", env_kwargs={"start_noise": False, "reveal_goal": True}, batch_size=2),
        replace=True)
    try:
        code, _, err = run(["evaluate", "--agent", "eval_toys:raise_on_goal_5", "--benchmark",
                            "ToyReveal", "--seeds", "1", "--out", str(tmp_path / "r.json"),
                            "--no-progress"], capsys)
    finally:
        bm._REGISTRY.pop("ToyReveal")
    assert code == 1
    assert "goal-breaker" in err and "step 0" in err and "r.json.partial.json" in err
    assert [p.name for p in tmp_path.iterdir()] == ["r.json.partial.json"]


def test_benchmarks_listing(capsys):
    code, out, _ = run(["benchmarks"], capsys)
    assert code == 0
    for name in ("KrazyWorld-Hard-v1", "Maze-v1", "Bandit-v1", "TabularMDP-v1", "Navigation2D-v1",
                 "HalfCheetahDir-v1"):
        assert name in out


def test_python_dash_m_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "krazy_gym.evaluation", "benchmarks", "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert '"KrazyWorld-Hard"' in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "krazy_gym.evaluation", "evaluate", "--agent",
                           "x:y", "--benchmark", "Nope", "--seeds", "1", "--out",
                           str(tmp_path / "r.json")], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 2 and "unknown benchmark 'Nope'" in proc.stderr
    assert list(tmp_path.iterdir()) == []
