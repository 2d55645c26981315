"""The shipped reference rows (``reference/``) and ``python -m leaderboard seed-reference``.

Everything here runs on the real shipped files: the manifest, results files and checkpoints in
``reference/``. The seed-reference tests work on a copy of a few cheap rows (the random agent
and RL² on Bandit, the random agent on TabularMDP) so that their re-runs take seconds, and
go through the CLI: exit codes, messages, what the database holds and its bytes.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from lb_helpers import REPO, load_json, parse_page, write_sealed

from leaderboard import reference as ref
from leaderboard import store
from leaderboard.cli import main

REFERENCE = REPO / "reference"
#: cheap rows the seed-reference tests load (their re-runs take seconds)
CHEAP_ROWS = ("Bandit-v1/random", "Bandit-v1/rl2", "TabularMDP-v1/random")


@pytest.fixture(scope="module")
def manifest() -> ref.Manifest:
    return ref.load_manifest(REFERENCE)


def _done(manifest: ref.Manifest) -> list[ref.Row]:
    return [r for r in manifest.rows if r.status == "done"]


# -- the shipped files ----------------------------------------------------------------------------


def test_every_shipped_results_file_validates_and_its_checkpoint_is_the_recorded_one(manifest):
    done = _done(manifest)
    assert {"Bandit-v1/random", "Bandit-v1/rl2"} <= {r.name for r in done}
    for row in done:
        sub = ref.check_row(manifest, row)  # every check of `submit` + the manifest's sha256s
        assert sub.reference_kind == row.kind and sub.reference_row == row.name
        assert sub.seeds == list(range(row.evaluate["seeds"])) == row.produced["seeds"]
        assert row.evaluate["seeds"] >= 5  # the leaderboard's rank minimum
        if row.checkpoint is not None:
            ckpt = manifest.path(row.checkpoint)
            assert ckpt.is_file()
            assert ref.file_sha256(ckpt) == row.produced["checkpoint_sha256"]
        # the scores in the manifest are the leaderboard's recomputed ones
        assert row.produced["scores"]["normalised_iqm"] == [
            sub.headline["iqm"], sub.headline["iqm_low"], sub.headline["iqm_high"]]


def test_shipped_files_are_within_the_size_budget_and_none_is_orphaned(manifest):
    done = _done(manifest)
    ckpt_files = [p for p in (REFERENCE / "checkpoints").rglob("*") if p.is_file()]
    result_files = [p for p in (REFERENCE / "results").rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in ckpt_files) <= ref.CHECKPOINTS_BUDGET_BYTES
    assert sum(p.stat().st_size for p in result_files) <= ref.RESULTS_BUDGET_BYTES
    for row in done:
        if row.checkpoint is not None:
            row_dir = manifest.path(row.checkpoint).parent
            assert sum(p.stat().st_size for p in row_dir.iterdir()) <= ref.ROW_CHECKPOINT_BUDGET_BYTES
    # every shipped file belongs to a done row (no stale or half-installed leftovers)
    shipped_results = {manifest.path(r.results) for r in done}
    assert set(result_files) == shipped_results
    ckpt_dirs = {manifest.path(r.checkpoint).parent for r in done if r.checkpoint is not None}
    assert {p.parent for p in ckpt_files} == ckpt_dirs
    assert not [p for p in REFERENCE.rglob(".*")]  # no staging or temporary files


def test_manifest_records_how_each_row_was_made(manifest):
    for row in manifest.rows:
        assert row.name == f"{row.benchmark}/{row.agent}"
        assert row.results == f"results/{row.benchmark}/{row.agent}.json"
        if row.status != "done":
            assert row.produced is None
            continue
        p = row.produced
        assert p["commit"] and len(p["commit"]) == 40
        assert p["machine"]["cpu"] and p["machine"]["cores"] >= 1 and "torch" in p["machine"]
        assert isinstance(p["verified_reproducible"], bool)
        if row.train is not None:
            assert p["train"]["env_steps"] > 0 and p["train"]["wall_seconds"] > 0
            budget = row.train["budget"]
            if budget["env_steps_exact"]:
                assert p["train"]["env_steps"] == budget["env_steps"]
            else:
                assert p["train"]["env_steps"] <= budget["env_steps"]
        data = load_json(manifest.path(row.results))
        assert data["provenance"]["git_commit"] == p["commit"]


def _returns(path: Path) -> np.ndarray:
    return np.asarray(load_json(path)["returns"], dtype=np.float64)


@pytest.mark.parametrize("name", ["Bandit-v1/random", "Bandit-v1/rl2"])
def test_a_row_reproduces_from_its_manifest_line(manifest, name, tmp_path):
    """Run the manifest's evaluation command (the CLI, in a fresh process) on the shipped
    checkpoint: the same returns as the shipped file. The random agent's returns are integer
    draws from numpy generators, equal on any machine; RL²'s actions are sampled from float32
    probabilities, so on another CPU a last-bit difference can flip a sampled pull: there the
    test allows 0.1% of the returns to differ, on the machine that produced the row none."""
    from krazy_gym.evaluation.runner import cpu_model

    row = manifest.row(name)
    out = tmp_path / "rerun.json"
    argv = [ref.expand(a, reference=REFERENCE, out=out) for a in row.evaluate["argv"]]
    assert argv[:2] == ["krazy-gym", "evaluate"]
    env = {**os.environ, **ref.evaluation_env(manifest, row), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "krazy_gym.evaluation", *argv[1:], "--no-progress"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    ours, shipped = _returns(out), _returns(manifest.path(row.results))
    assert ours.shape == shipped.shape
    if row.agent == "random" or cpu_model() == row.produced["machine"]["cpu"]:
        assert np.array_equal(ours, shipped)
    else:
        assert np.mean(ours != shipped) <= 1e-3


# -- seed-reference -------------------------------------------------------------------------------


def _small_reference(tmp_path: Path, names=CHEAP_ROWS) -> Path:
    """A copy of reference/ holding only ``names`` (plus their files) as produced rows."""
    src = ref.load_manifest(REFERENCE)
    data = copy.deepcopy(src.data)
    data["rows"] = [r for r in data["rows"] if r["name"] in names or r["status"] != "done"]
    out = tmp_path / "reference"
    out.mkdir()
    for r in data["rows"]:
        if r["status"] != "done":
            continue
        files = [r["results"]] + ([str(Path(r["checkpoint"]).parent)] if r["checkpoint"] else [])
        for rel in files:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            if (REFERENCE / rel).is_dir():
                shutil.copytree(REFERENCE / rel, out / rel)
            else:
                shutil.copyfile(REFERENCE / rel, out / rel)
    (out / ref.MANIFEST_NAME).write_text(json.dumps(data, indent=1, ensure_ascii=False))
    assert sorted(r["name"] for r in data["rows"] if r["status"] == "done") == sorted(names)
    return out


def _seed(db: Path, reference: Path, *extra: str) -> int:
    return main(["seed-reference", "--db", str(db), "--reference", str(reference), *extra])


@pytest.fixture(scope="module")
def small_reference(tmp_path_factory) -> Path:
    return _small_reference(tmp_path_factory.mktemp("ref"))


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory, small_reference) -> Path:
    """A database seeded once with verification (never modified: copy it to change it)."""
    db = tmp_path_factory.mktemp("seeded") / "board.db"
    assert _seed(db, small_reference, "--create") == 0
    return db


def test_seed_reference_loads_verified_reference_rows(seeded_db, small_reference, capsys):
    rows = store.list_submissions(seeded_db)
    manifest = ref.load_manifest(small_reference)
    assert sorted(r.reference_row for r in rows) == sorted(CHEAP_ROWS)
    for sub in rows:
        row = manifest.row(sub.reference_row)
        assert sub.reference_kind == row.kind and sub.is_reference
        assert sub.verified and sub.verified_factory == row.evaluate["factory"]
        assert sub.sha256 == row.produced["results_sha256"]
        assert np.array_equal(sub.returns, _returns(manifest.path(row.results)))
    # show marks them, in the reference column
    assert main(["show", "--db", str(seeded_db)]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln[:6].strip().isdigit()]
    assert len(lines) == 3
    assert sum(" baseline " in ln for ln in lines) == 1 and sum(" random " in ln for ln in lines) == 2
    assert "reference" in out.splitlines()[1]  # the header


def test_seed_reference_twice_adds_nothing_and_leaves_the_bytes(seeded_db, small_reference,
                                                               tmp_path, capsys):
    db = tmp_path / "board.db"
    shutil.copyfile(seeded_db, db)
    before = db.read_bytes()
    capsys.readouterr()
    assert _seed(db, small_reference) == 0
    out = capsys.readouterr().out
    assert "0 added" in out and out.count("already stored as reference row") == 3
    assert db.read_bytes() == before
    assert _seed(db, small_reference, "--no-verify") == 0
    assert db.read_bytes() == before


def test_no_verify_stores_unverified_and_a_later_run_verifies(small_reference, tmp_path, capsys):
    db = tmp_path / "board.db"
    assert _seed(db, small_reference, "--create", "--no-verify") == 0
    first = {s.reference_row: (s.id, s.verified) for s in store.list_submissions(db)}
    assert sorted(first) == sorted(CHEAP_ROWS) and not any(v for _, v in first.values())
    capsys.readouterr()
    assert _seed(db, small_reference) == 0
    assert capsys.readouterr().out.count("now verified") == 3
    second = {s.reference_row: (s.id, s.verified) for s in store.list_submissions(db)}
    assert {k: i for k, (i, _) in second.items()} == {k: i for k, (i, _) in first.items()}
    assert all(v for _, v in second.values())


def test_only_verify_and_given_reruns(small_reference, tmp_path):
    """``only_verify`` re-runs just those rows; a given re-run is compared instead of running
    again, and one that is not the row's (other returns, other seeds) leaves it unverified."""
    from krazy_gym.evaluation import evaluate
    from krazy_gym.evaluation.agents import agent_environment

    manifest = ref.load_manifest(small_reference)
    rl2 = manifest.row("Bandit-v1/rl2")
    with agent_environment(ref.evaluation_env(manifest, rl2)):
        rerun = evaluate(rl2.evaluate["factory"], "Bandit", seeds=rl2.evaluate["seeds"], progress=None)
    db = tmp_path / "board.db"
    report = ref.seed_reference(db, small_reference, create=True,
                                only_verify={"Bandit-v1/rl2"}, reruns={"Bandit-v1/rl2": rerun})
    verified = {s.reference_row: s.verified for s in store.list_submissions(db)}
    assert verified == {"Bandit-v1/rl2": True, "Bandit-v1/random": False, "TabularMDP-v1/random": False}
    assert "not verified here" in {o.row: o.message for o in report.outcomes}["Bandit-v1/random"]
    # a re-run that is not the row's: other returns, or other seeds
    for name, bad in (("returns", copy.deepcopy(rerun)), ("seeds", copy.deepcopy(rerun))):
        if name == "returns":
            bad["returns"][0][0][0] += 1.0
        else:
            bad["seeds"] = [1, 2, 3, 4, 5]
        db2 = tmp_path / f"board-{name}.db"
        report = ref.seed_reference(db2, small_reference, create=True,
                                    only_verify={"Bandit-v1/rl2"}, reruns={"Bandit-v1/rl2": bad})
        assert not {s.reference_row: s.verified for s in store.list_submissions(db2)}["Bandit-v1/rl2"]
        assert "verification FAILED" in {o.row: o.message for o in report.outcomes}["Bandit-v1/rl2"]


def _tamper_and_expect_refusal(reference: Path, tmp_path: Path, capsys, *expected: str) -> None:
    """seed-reference refuses (exit 2), names the row and why, and stores nothing."""
    new_db = tmp_path / "new.db"
    capsys.readouterr()
    assert _seed(new_db, reference, "--create") == 2
    err = capsys.readouterr().err
    for text in expected:
        assert text in err
    assert "nothing stored" in err
    assert not new_db.exists() and not list(tmp_path.glob(".new.db*"))


def test_a_tampered_results_file_is_refused_with_a_message(tmp_path, seeded_db, capsys):
    reference = _small_reference(tmp_path)
    path = reference / "results" / "Bandit-v1" / "rl2.json"
    data = load_json(path)
    data["returns"][0][0][0] = 1.0 - data["returns"][0][0][0]
    path.write_text(json.dumps(data))  # edited, not re-sealed: the content sha256 is wrong
    _tamper_and_expect_refusal(reference, tmp_path, capsys, "Bandit-v1/rl2", "rejected (sha256)")
    write_sealed(path, data)  # re-sealed: a valid file, but not the one the manifest records
    _tamper_and_expect_refusal(reference, tmp_path, capsys, "Bandit-v1/rl2",
                               "it is not the shipped file")
    # an existing database is left byte for byte as it was
    db = tmp_path / "board.db"
    shutil.copyfile(seeded_db, db)
    before = db.read_bytes()
    assert _seed(db, reference) == 2
    assert db.read_bytes() == before


def test_a_swapped_checkpoint_is_refused(tmp_path, capsys):
    reference = _small_reference(tmp_path)
    ckpt = reference / "checkpoints" / "Bandit-v1" / "rl2" / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes() + b"\0")
    _tamper_and_expect_refusal(reference, tmp_path, capsys, "Bandit-v1/rl2", "checkpoint",
                               "is not the checkpoint the results were evaluated from")


def test_a_checkpoint_that_does_not_reproduce_its_file_stays_unverified(tmp_path, capsys):
    """Other weights under the recorded sha256: the files pass every check, but the re-run
    gives other returns, so the row is stored unverified and the exit code is 1."""
    torch = pytest.importorskip("torch")
    reference = _small_reference(tmp_path, names=("Bandit-v1/rl2",))
    ckpt = reference / "checkpoints" / "Bandit-v1" / "rl2" / "checkpoint.pt"
    payload = torch.load(ckpt, weights_only=True)
    for name, tensor in payload["state"]["model"].items():
        if tensor.dtype.is_floating_point:
            payload["state"]["model"][name] = torch.zeros_like(tensor)  # a uniform policy
    torch.save(payload, ckpt)
    manifest_path = reference / ref.MANIFEST_NAME
    data = json.loads(manifest_path.read_text())
    (row,) = [r for r in data["rows"] if r["name"] == "Bandit-v1/rl2"]
    row["produced"]["checkpoint_sha256"] = ref.file_sha256(ckpt)
    manifest_path.write_text(json.dumps(data))
    db = tmp_path / "board.db"
    capsys.readouterr()
    assert _seed(db, reference, "--create") == 1
    out = capsys.readouterr().out
    assert "verification FAILED" in out and "returns" in out
    (sub,) = store.list_submissions(db)
    assert sub.is_reference and not sub.verified and sub.verified_factory is None


def test_a_row_submitted_before_is_reported_and_left_alone(small_reference, tmp_path, capsys):
    db = tmp_path / "board.db"
    shipped = small_reference / "results" / "Bandit-v1" / "random.json"
    assert main(["submit", str(shipped), "--db", str(db), "--create"]) == 0
    capsys.readouterr()
    assert _seed(db, small_reference) == 0
    out = capsys.readouterr().out
    assert "by `submit` (not a reference row); left as it is" in out and "2 added" in out
    kinds = {s.reference_row: s.reference_kind for s in store.list_submissions(db)}
    assert kinds == {None: None, "Bandit-v1/rl2": "baseline", "TabularMDP-v1/random": "random"}


def test_a_malformed_manifest_or_missing_db_is_a_clear_error(tmp_path, small_reference, capsys):
    bad = tmp_path / "reference"
    bad.mkdir()
    (bad / ref.MANIFEST_NAME).write_text('{"manifest_version": 1, "rows": [{"name": "x"}]}')
    assert _seed(tmp_path / "a.db", bad, "--create") == 2
    assert "manifest row 0: 'benchmark' must be a non-empty string" in capsys.readouterr().err
    assert _seed(tmp_path / "b.db", tmp_path / "nowhere", "--create") == 2
    assert "no such directory" in capsys.readouterr().err
    assert _seed(tmp_path / "missing.db", small_reference) == 2  # no --create
    assert "pass --create" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.db"))


def test_the_page_marks_reference_rows_and_compares_them_with_random(seeded_db, tmp_path):
    from leaderboard import api

    index = api.render(db=seeded_db, out_dir=tmp_path / "site")
    page = parse_page(index)
    html_text = index.read_text()
    bandit = [t for t in page.tables if t][0]
    assert all("reference:" in r["cells"][1] for r in bandit)
    assert 'data-reference="baseline"' in html_text and "Reference agents against random" in html_text
    assert "plots/Bandit-reference.png" in page.images
    assert (tmp_path / "site" / "plots" / "Bandit-reference.png").stat().st_size > 1000
    # the trained RL² row is above random (disjoint IQM CIs), the random row is random
    rows = {s.reference_row: s for s in store.list_submissions(seeded_db)}
    from leaderboard.render import versus_random

    rl2, rnd = rows["Bandit-v1/rl2"], rows["Bandit-v1/random"]
    assert rl2.iqm_low > rnd.iqm_high and versus_random(rl2, rnd) == "above"
    assert versus_random(rnd, rnd) == "is random"


# -- the store layout: a database from before reference rows ----------------------------------


def _as_layout_1(db: Path) -> None:
    """Turn a database into store layout 1 (no reference columns), as older code wrote it."""
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE submissions DROP COLUMN reference_kind")
        conn.execute("ALTER TABLE submissions DROP COLUMN reference_row")
        conn.execute("PRAGMA user_version = 1")


def test_a_layout_1_database_opens_and_migrates_only_on_a_write(db_copy, fresh_results,
                                                                results_files, capsys):
    _as_layout_1(db_copy)
    before = db_copy.read_bytes()
    rows = store.list_submissions(db_copy)
    assert len(rows) == 3 and not any(r.is_reference for r in rows)
    assert main(["show", "--db", str(db_copy)]) == 0 and "RandomAgent" in capsys.readouterr().out
    # a rejected submission (duplicate) leaves the bytes; found inside the write transaction
    # (past the CLI's read-only pre-check), it rolls the migration back with it
    assert main(["submit", str(results_files["greedy"]), "--db", str(db_copy)]) == 2
    assert db_copy.read_bytes() == before
    from leaderboard import validate

    with pytest.raises(store.DuplicateSubmissionError):
        store.insert_submission(db_copy, validate.load_submission(results_files["greedy"]),
                                "2030-01-01T00:00:00Z")
    assert db_copy.read_bytes() == before
    # an accepted one migrates the layout in its transaction
    assert main(["submit", str(fresh_results), "--db", str(db_copy)]) == 0
    with sqlite3.connect(db_copy) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == store.STORE_VERSION == 2
        columns = [r[1] for r in conn.execute("PRAGMA table_info(submissions)")]
    assert columns[-2:] == ["reference_kind", "reference_row"]
    after = store.list_submissions(db_copy)
    assert len(after) == 4 and not any(r.is_reference for r in after)
    assert store.integrity_check(db_copy) == "ok"


def test_seed_reference_into_a_layout_1_database(db_copy, small_reference, capsys):
    """db_copy already holds the random agent's 5-seed Bandit run (the same run as the shipped
    Bandit-v1/random): that one is reported and left alone, the other two are added."""
    _as_layout_1(db_copy)
    assert _seed(db_copy, small_reference, "--no-verify") == 0
    assert "(not a reference row); left as it is" in capsys.readouterr().out
    rows = store.list_submissions(db_copy)
    assert sorted(r.reference_row for r in rows if r.is_reference) == [
        "Bandit-v1/rl2", "TabularMDP-v1/random"]
    assert sum(not r.is_reference for r in rows) == 3


def test_a_newer_layout_is_refused(db_copy, capsys):
    with sqlite3.connect(db_copy) as conn:
        conn.execute("PRAGMA user_version = 3")
    assert main(["show", "--db", str(db_copy)]) == 2
    assert "store version 3, this code reads versions 1, 2" in capsys.readouterr().err
