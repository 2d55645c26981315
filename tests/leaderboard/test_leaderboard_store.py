"""The store under stress: concurrent submitters, and a submitter killed mid-transaction."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BENCHMARK, HERE, load_json, write_sealed

from leaderboard import store

REPO = HERE.parents[1]
NUM_PROCESSES = 8


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)]), **extra}


@pytest.fixture(scope="module")
def single_seed_files(tmp_path_factory) -> list[Path]:
    """Eight real results files: the random agent on one seed each (seeds 0..7)."""
    from krazy_gym.evaluation import evaluate, write_results

    out = tmp_path_factory.mktemp("lb_single_seed")
    files = []
    for seed in range(NUM_PROCESSES):
        path = out / f"seed{seed}.json"
        write_results(path, evaluate("krazy_gym.evaluation.agents:random_agent", BENCHMARK,
                                     seeds=[seed], progress=False))
        files.append(path)
    return files


def test_eight_processes_submitting_at_once_all_land_once(single_seed_files, results_files, tmp_path):
    db = tmp_path / "board.db"
    start = tmp_path / "go"
    shared = results_files["greedy"]  # every process also submits this one: exactly one wins
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "_submit_worker.py"), str(db), str(start), str(own), str(shared)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=REPO,
        )
        for own in single_seed_files
    ]
    try:
        for p in procs:  # wait until every process is imported and waiting
            assert json.loads(p.stdout.readline()) == {"ready": True}
        start.touch()
        outputs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0] * NUM_PROCESSES, [e for _, e in outputs]
    reports = [json.loads(line) for out, _ in outputs for line in out.splitlines()]

    own = [r for r in reports if r["file"] != str(shared)]
    assert sorted(r["file"] for r in own) == sorted(map(str, single_seed_files))
    assert all("id" in r for r in own), own
    shared_reports = [r for r in reports if r["file"] == str(shared)]
    assert len(shared_reports) == NUM_PROCESSES
    assert sum("id" in r for r in shared_reports) == 1
    assert [r["check"] for r in shared_reports if "id" not in r] == ["duplicate"] * (NUM_PROCESSES - 1)

    rows = store.list_submissions(db)
    assert len(rows) == NUM_PROCESSES + 1
    assert len({r.sha256 for r in rows}) == len(rows) == len({r.id for r in rows})
    assert sorted(r.sha256 for r in rows) == sorted(
        load_json(p)["sha256"] for p in [*single_seed_files, shared]
    )
    assert sorted(r.id for r in rows) == sorted(r["id"] for r in reports if "id" in r)
    assert store.integrity_check(db) == "ok"


def test_submit_killed_inside_the_transaction_leaves_the_database_as_it_was(
    results_files, db_copy, tmp_path
):
    data = load_json(results_files["anti"])
    data["created"] = "2031-01-01T00:00:00Z"  # a new, valid submission
    new = write_sealed(tmp_path / "new.json", data)
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
