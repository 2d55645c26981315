"""Issue 17, harness side, through the ``krazy-gym`` command line: agents that exit, interrupt
or hang; outputs that are not ours to replace; absurd ``--seeds``; hostile input files for
``validate`` and ``summary`` (which run the leaderboard's checks and recompute scores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from krazy_gym.evaluation.cli import main
from krazy_gym.evaluation.runner import partial_path, previous_path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def evaluate_argv(agent: str, out: Path, *extra: str) -> list[str]:
    return ["evaluate", "--agent", agent, "--benchmark", "ToyChain", "--seeds", "3",
            "--out", str(out), "--no-progress", *extra]


# -- agents that end the process, interrupt it or hang ---------------------------------------


@pytest.mark.parametrize(("agent", "raised", "method"), [
    ("eval_toys:exit_in_act", "SystemExit", "act()"),
    ("eval_toys:interrupt_in_observe", "KeyboardInterrupt", "observe()"),
])
def test_agent_exiting_or_interrupting_is_an_agent_error(toy_benchmarks, tmp_path, capsys, agent,
                                                         raised, method):
    out = tmp_path / "r.json"
    out.write_text('{"an older run": true}\n')  # a results file of an earlier run
    code, stdout, err = run(evaluate_argv(agent, out), capsys)
    assert code == 1
    assert "evaluation failed" in err and "misbehaving" in err and agent in err
    assert f"raised {raised} in {method}" in err and "test task" in err and "step 0" in err
    assert str(partial_path(out)) in err  # partial results kept, as for any agent error
    assert json.loads(partial_path(out).read_text())["error"]
    # the older file no longer sits at --out looking like this run's results
    assert not out.exists()
    assert previous_path(out).read_text() == '{"an older run": true}\n'
    assert f"moved to {previous_path(out)}" in err
    assert "results written" not in stdout


def test_factory_calling_sys_exit_is_bad_input(toy_benchmarks, tmp_path, capsys):
    code, _, err = run(evaluate_argv("eval_toys:exit_in_factory", tmp_path / "r.json"), capsys)
    assert code == 2 and "raised SystemExit" in err
    assert list(tmp_path.iterdir()) == []


def test_agent_timeout_stops_a_hung_act(toy_benchmarks, tmp_path, capsys):
    """``act`` sleeps for an hour: the worker's watchdog interrupts it after 1 s."""
    out = tmp_path / "r.json"
    code, _, err = run(evaluate_argv("eval_toys:sleep_in_act", out, "--agent-timeout", "1"), capsys)
    assert code == 1
    assert "did not return from act() within 1 s (--agent-timeout)" in err
    assert "misbehaving" in err and "test task" in err and "step 0" in err
    assert partial_path(out).exists() and not out.exists()


def test_agent_timeout_stops_a_worker_stuck_in_compiled_code(toy_benchmarks, tmp_path, capsys):
    """``act`` loops inside C (no signal handler can run): the worker is stopped."""
    out = tmp_path / "r.json"
    code, _, err = run(evaluate_argv("eval_toys:busy_in_act", out, "--agent-timeout", "1"), capsys)
    assert code == 1
    assert "a worker process running agent 'misbehaving'" in err and "--agent-timeout 1 s" in err
    assert partial_path(out).exists() and not out.exists()


@pytest.mark.parametrize(("value", "message"), [
    ("0", "--agent-timeout must be a number of seconds > 0"),
    ("nan", "--agent-timeout must be a number of seconds > 0"),
    ("soon", "--agent-timeout must be a number of seconds > 0"),
])
def test_bad_agent_timeout_is_bad_input(toy_benchmarks, tmp_path, capsys, value, message):
    code, _, err = run(evaluate_argv("eval_toys:always_right", tmp_path / "r.json",
                                     "--agent-timeout", value), capsys)
    assert code == 2 and message in err
    assert list(tmp_path.iterdir()) == []


def test_a_good_run_with_agent_timeout_equals_one_without(toy_benchmarks, tmp_path, capsys):
    plain, timed = tmp_path / "plain.json", tmp_path / "timed.json"
    assert run(evaluate_argv("eval_toys:seeded_random", plain), capsys)[0] == 0
    assert run(evaluate_argv("eval_toys:seeded_random", timed, "--agent-timeout", "60"),
               capsys)[0] == 0
    a, b = json.loads(plain.read_text()), json.loads(timed.read_text())
    assert a["returns"] == b["returns"] and a["exploration_metrics"] == b["exploration_metrics"]


# -- outputs: only a regular file or a new path ----------------------------------------------


def _special_outputs(tmp_path: Path) -> dict[str, Path]:
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    return {"symlink": link, "fifo": fifo, "directory": tmp_path / "adir"}


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory"])
def test_evaluate_never_replaces_a_symlink_fifo_or_directory(toy_benchmarks, tmp_path, capsys, kind):
    special = _special_outputs(tmp_path)
    (tmp_path / "adir").mkdir()
    path = special[kind]
    for option, argv in (
        ("--out", evaluate_argv("eval_toys:always_right", path)),
        ("--plot", evaluate_argv("eval_toys:always_right", tmp_path / "r.json", "--plot", str(path))),
    ):
        code, _, err = run(argv, capsys)
        assert code == 2, err
        assert f"{option} " in err and "must be a new path or a regular file" in err
    assert (tmp_path / "precious.txt").read_text() == "keep me\n"
    assert os.path.islink(special["symlink"]) and os.readlink(special["symlink"]).endswith("precious.txt")
    import stat

    assert stat.S_ISFIFO(os.lstat(special["fifo"]).st_mode)
    assert not (tmp_path / "r.json").exists()


def test_absurd_seed_counts_are_bad_input(toy_benchmarks, tmp_path, capsys):
    for value in ("1000000000000000000000000000000", "1001", "9" * 5000):
        argv = evaluate_argv("eval_toys:always_right", tmp_path / "r.json")
        argv[argv.index("--seeds") + 1] = value
        code, _, err = run(argv, capsys)
        assert code == 2 and "--seeds must be an integer in 1..1000" in err
    assert list(tmp_path.iterdir()) == []


# -- validate and summary: the leaderboard's checks, recomputed scores ------------------------


@pytest.fixture
def good_file(toy_benchmarks, tmp_path, capsys) -> Path:
    path = tmp_path / "good.json"
    assert run(evaluate_argv("eval_toys:seeded_random", path), capsys)[0] == 0
    return path


def _resealed(src: Path, dst: Path, edit) -> Path:
    from krazy_gym.evaluation.results import seal_results

    data = json.loads(src.read_text())
    edit(data)
    dst.write_text(json.dumps(seal_results(data)))
    return dst


def test_summary_recomputes_aggregates_and_ignores_forged_ones(good_file, tmp_path, capsys):
    from krazy_gym.evaluation import get_benchmark
    from krazy_gym.evaluation.metrics import aggregate

    real = aggregate(json.loads(good_file.read_text())["returns"], get_benchmark("ToyChain"))
    forged = _resealed(good_file, tmp_path / "forged.json", lambda d: d.update(aggregates={
        "normalised_iqm": {"value": 0.99, "ci_low": 0.98, "ci_high": 0.995},
        "normalised_mean": {"value": 0.99, "ci_low": 0.98, "ci_high": 0.995},
        "score_mean": 0.99, "adaptation_curve": [0.99] * 4}))
    for path in (good_file, forged):
        code, out, err = run(["summary", str(path)], capsys)
        assert code == 0, err
        iqm = real["normalised_iqm"]
        assert f"{iqm['value']:.3f} [{iqm['ci_low']:.3f}, {iqm['ci_high']:.3f}]" in out
        assert "0.990" not in out


def test_summary_accepts_any_seeds_validate_requires_the_prescribed_ones(toy_benchmarks, tmp_path,
                                                                         capsys):
    from krazy_gym.evaluation import evaluate, write_results

    picked = tmp_path / "picked.json"
    write_results(picked, evaluate("eval_toys:seeded_random", "ToyChain", seeds=[22, 13, 4],
                                   progress=False))
    code, out, _ = run(["summary", str(picked)], capsys)
    assert code == 0 and "seeded-random" in out
    code, _, err = run(["validate", str(picked)], capsys)
    assert code == 2
    assert "rejected (seeds)" in err and "must use seeds 0..2" in err


def _deep(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    return path


def _not_utf8(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"agent": {"name": "caf\u00e9"}}'.encode("latin-1"))
    return path


def _huge_int(tmp_path, good):
    path = tmp_path / "bigint.json"
    path.write_text(good.read_text().replace('"schema_version": 1', '"schema_version": ' + "1" * 400))
    return path


def _duplicate_key(tmp_path, good):
    path = tmp_path / "dupkey.json"
    path.write_text(good.read_text().replace('"agent": {', '"agent": {\n  "name": "decoy",', 1))
    return path


@pytest.mark.parametrize(("make", "message"), [
    (lambda t, g: _deep(t), "nests JSON too deeply"),
    (lambda t, g: _not_utf8(t), "is not UTF-8 text (byte 0xe9"),
    (_huge_int, "has 400 digits; integers must fit in 64 bits"),
    (_duplicate_key, "the key 'name' appears twice"),
    (lambda t, g: Path("/dev/zero"), "/dev/zero is a character device, not a regular file"),
    (lambda t, g: t, "is a directory, not a regular file"),
    (lambda t, g: t / "missing.json", "does not exist"),
])
def test_validate_and_summary_refuse_hostile_files_with_a_message(good_file, tmp_path, capsys,
                                                                  make, message):
    path = make(tmp_path, good_file)
    for command in ("validate", "summary"):
        code, out, err = run([command, str(path)], capsys)
        assert code == 2, (command, out, err)
        assert message in err and "Traceback" not in err


def test_validate_does_not_hang_on_a_fifo(tmp_path):
    """A FIFO with no writer would block a plain open(); the real process must return."""
    fifo = tmp_path / "results.json"
    os.mkfifo(fifo)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    proc = subprocess.run([sys.executable, "-m", "krazy_gym.evaluation", "validate", str(fifo)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert "is a FIFO (named pipe), not a regular file" in proc.stderr
