"""The store under stress: concurrent submitters, and a submitter killed mid-transaction."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lb_helpers import BENCHMARK, HERE, load_json

from leaderboard import store

REPO = HERE.parents[1]
NUM_PROCESSES = 8


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)]), **extra}


@pytest.fixture(scope="module")
def single_seed_files(tmp_path_factory) -> list[Path]:
    """Eight distinct real results files: the random agent on seeds 0..K-1, K = 3..10."""
    from krazy_gym.evaluation import evaluate, write_results

    out = tmp_path_factory.mktemp("lb_eight_runs")
    files = []
    for i in range(NUM_PROCESSES):
        path = out / f"seeds{3 + i}.json"
        write_results(path, evaluate("krazy_gym.evaluation.agents:random_agent", BENCHMARK,
                                     seeds=3 + i, progress=False))
        files.append(path)
    return files


def _submit_worker(db, own, shared, go, validated, reports) -> None:
    """One submitting process: wait for the common start, then submit two files.

    After validating each file it waits at ``validated`` (a barrier of all processes), so the
    eight write transactions start at the same instant and really contend for the lock.
    """
    from leaderboard import api, validate
    from leaderboard.errors import SubmissionError

    real_load = validate.load_submission

    def load_then_wait(path):
        sub = real_load(path)
        validated.wait(timeout=300)
        return sub

    validate.load_submission = load_then_wait  # this process only (forked child)
    go.wait()
    for name in (own, shared):
        try:
            reports.put({"file": name, "id": api.submit(name, db=db, create=True).id,
                         "pid": os.getpid()})
        except SubmissionError as exc:
            reports.put({"file": name, "check": exc.check, "pid": os.getpid()})


def test_eight_processes_submitting_at_once_all_land_once(single_seed_files, results_files, tmp_path):
    """Eight OS processes (forked, so they skip the imports) submit at the same moment.

    Each submits its own file and then one shared file, all to a database that does not
    exist yet (``create=True``: all eight race to create it): all eight own files must land,
    the shared one exactly once (seven clean ``duplicate`` rejections), no temporary file may
    be left, and the database must pass ``PRAGMA integrity_check``.
    """
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    db = tmp_path / "board.db"
    shared = str(results_files["greedy"])
    go, validated, reports = ctx.Event(), ctx.Barrier(NUM_PROCESSES), ctx.Queue()
    procs = [
        ctx.Process(target=_submit_worker, args=(str(db), str(own), shared, go, validated, reports))
        for own in single_seed_files
    ]
    for p in procs:
        p.start()
    go.set()
    collected = [reports.get(timeout=300) for _ in range(2 * NUM_PROCESSES)]
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * NUM_PROCESSES
    assert len({r["pid"] for r in collected}) == NUM_PROCESSES

    own = [r for r in collected if r["file"] != shared]
    assert sorted(r["file"] for r in own) == sorted(map(str, single_seed_files))
    assert all("id" in r for r in own), own
    shared_reports = [r for r in collected if r["file"] == shared]
    assert sum("id" in r for r in shared_reports) == 1
    assert [r["check"] for r in shared_reports if "id" not in r] == ["duplicate"] * (NUM_PROCESSES - 1)

    rows = store.list_submissions(db)
    assert len(rows) == NUM_PROCESSES + 1
    assert len({r.sha256 for r in rows}) == len(rows) == len({r.id for r in rows})
    assert sorted(r.sha256 for r in rows) == sorted(
        load_json(p)["sha256"] for p in [*single_seed_files, shared]
    )
    assert sorted(r.id for r in rows) == sorted(r["id"] for r in collected if "id" in r)
    assert store.integrity_check(db) == "ok"
    assert [p.name for p in tmp_path.iterdir()] == ["board.db"]


def test_submit_killed_inside_the_transaction_leaves_the_database_as_it_was(
    fresh_results, db_copy, tmp_path
):
    new = fresh_results  # a valid run that is not in the database yet
    before = db_copy.read_bytes()
    rows_before = store.list_submissions(db_copy)
    marker = tmp_path / "inside-transaction"

    proc = subprocess.Popen(
        [sys.executable, "-m", "leaderboard", "submit", str(new), "--db", str(db_copy)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
        env=_env(**{store.PAUSE_HOOK_ENV: str(marker)}),
    )
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the submit never reached its transaction"
            time.sleep(0.02)
        # the row is written but not committed; another reader still sees the old state
        assert len(store.list_submissions(db_copy)) == len(rows_before)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL

    assert db_copy.read_bytes() == before
    rows_after = store.list_submissions(db_copy)  # replays the dead writer's journal, if any
    assert [(r.id, r.sha256) for r in rows_after] == [(r.id, r.sha256) for r in rows_before]
    assert store.integrity_check(db_copy) == "ok"
    assert db_copy.read_bytes() == before
    # (a leftover "-journal" whose header was never committed is not hot: SQLite ignores it
    # and the next write transaction replaces it)

    # nothing half-stored: the same file is accepted afterwards, as a new row
    from leaderboard import api

    assert api.submit(new, db=db_copy).id == max(r.id for r in rows_before) + 1
    assert not Path(f"{db_copy}-journal").exists()
    assert store.integrity_check(db_copy) == "ok"
