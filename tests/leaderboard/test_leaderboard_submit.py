"""submit: what is stored (recomputed, raw, provenance) and every rejected input."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from lb_helpers import AGENTS, BENCHMARK, HERE, SEEDS, load_json, write_sealed
from scipy import stats

from leaderboard import api, store
from leaderboard.cli import main
from leaderboard.validate import MAX_FILE_BYTES

REPO = HERE.parents[1]


def test_submit_stores_raw_returns_provenance_and_recomputed_scores(results_files, tmp_path):
    src = load_json(results_files["greedy"])
    # a submitter's own aggregates are never trusted: put absurd ones in and re-seal
    src["aggregates"] = {"normalised_iqm": {"value": 99.0, "ci_low": 98.0, "ci_high": 100.0}}
    path = write_sealed(tmp_path / "boasting.json", src)
    db = tmp_path / "board.db"

    result = api.submit(path, db=db, create=True)
    (row,) = store.list_submissions(db)

    assert row.id == result.id
    assert row.sha256 == load_json(path)["sha256"]
    assert row.benchmark_name == BENCHMARK and row.agent_factory == AGENTS["greedy"]
    np.testing.assert_array_equal(row.returns, np.array(src["returns"]))  # bit-exact round trip
    assert row.returns.dtype == np.float64
    assert row.provenance == src["provenance"]
    assert row.seeds == src["seeds"]
    assert not row.verified

    # recomputed independently of the harness's aggregate(): normalise the exploit means and
    # take the 25% trimmed mean (IQM) and the mean over all seeds x tasks
    from krazy_gym.evaluation import get_benchmark

    bench = get_benchmark(BENCHMARK)
    returns = np.array(src["returns"])
    scores = returns[:, :, bench.explore_episodes:].mean(axis=2)
    norm = (scores - bench.random_score) / (bench.normaliser - bench.random_score)
    assert row.iqm == pytest.approx(stats.trim_mean(norm.ravel(), 0.25), abs=1e-12)
    assert row.mean == pytest.approx(norm.mean(), abs=1e-12)
    assert row.iqm != 99.0
    assert row.iqm_low < row.iqm < row.iqm_high
    assert row.mean_low < row.mean < row.mean_high
    np.testing.assert_allclose(row.aggregates["normalised_scores"], norm, atol=1e-12)
    assert row.aggregates["adaptation_curve"] == pytest.approx(returns.mean(axis=(0, 1)).tolist())


def test_ranking_follows_recomputed_iqm(ranked_db, results_files):
    rows = store.list_submissions(ranked_db)
    assert [r.agent_factory for r in rows] == list(AGENTS.values())  # greedy > random > anti
    assert rows[0].iqm > rows[1].iqm > rows[2].iqm
    assert store.integrity_check(ranked_db) == "ok"


def test_show_prints_ranking_with_ci_seeds_verified_and_date(ranked_db, capsys):
    assert main(["show", "--db", str(ranked_db)]) == 0
    out = capsys.readouterr().out
    rows = store.list_submissions(ranked_db)
    lines = [ln for ln in out.splitlines() if ln.strip()[:1].isdigit()]
    assert [ln.split()[1] for ln in lines] == [r.agent_name for r in rows]
    for line, row in zip(lines, rows):
        assert f"{row.iqm:.3f} [{row.iqm_low:.3f}, {row.iqm_high:.3f}]" in line
        assert f"{row.mean:.3f}" in line
        assert line.split()[0] == str(rows.index(row) + 1)
        assert f" {SEEDS} " in line and " no " in line and row.submitted_at[:10] in line
    assert BENCHMARK in out and rows[0].benchmark_hash[:12] in out


# -- bad input ---------------------------------------------------------------------------------


def _edit(results_files, tmp_path, edit, *, reseal=True, allow_nan=False):
    data = load_json(results_files["greedy"])
    edit(data)
    path = tmp_path / "bad.json"
    if reseal:
        return write_sealed(path, data)
    path.write_text(json.dumps(data, allow_nan=allow_nan))
    return path


def _malformed(results_files, tmp_path):
    path = tmp_path / "bad.json"
    text = results_files["greedy"].read_text()
    path.write_text(text[: len(text) // 2])
    return path


def _missing_field(results_files, tmp_path):
    return _edit(results_files, tmp_path, lambda d: d.pop("returns"))


def _wrong_schema_version(results_files, tmp_path):
    return _edit(results_files, tmp_path, lambda d: d.update(schema_version=2))


def _one_return_edited(results_files, tmp_path):
    def edit(d):
        d["returns"][1][7][4] = 1.0 - d["returns"][1][7][4]

    return _edit(results_files, tmp_path, edit, reseal=False)


def _benchmark_hash_mismatch(results_files, tmp_path):
    return _edit(results_files, tmp_path, lambda d: d["benchmark"].update(hash="0" * 64))


def _task_dropped(results_files, tmp_path):
    def edit(d):
        for seed_rows in d["returns"]:
            seed_rows.pop()

    return _edit(results_files, tmp_path, edit)


def _task_dropped_consistently(results_files, tmp_path):
    # internally consistent file (num_test_tasks says 99) that no longer matches the
    # installed benchmark's 100 test tasks
    def edit(d):
        for seed_rows in d["returns"]:
            seed_rows.pop()
        for metric in d["exploration_metrics"].values():
            for seed_rows in metric:
                seed_rows.pop()
        d["benchmark"]["num_test_tasks"] -= 1

    return _edit(results_files, tmp_path, edit)


def _nan(results_files, tmp_path):
    return _edit(results_files, tmp_path, lambda d: d["returns"][2][5].__setitem__(3, math.nan),
                 reseal=False, allow_nan=True)


def _inf(results_files, tmp_path):
    return _edit(results_files, tmp_path, lambda d: d["returns"][0][9].__setitem__(0, -math.inf),
                 reseal=False, allow_nan=True)


def _oversized(results_files, tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as fh:  # sparse: no 50 MB actually written
        fh.write(b'{"schema_version": 1, "padding": "')
        fh.truncate(MAX_FILE_BYTES + 1)
    return path


def _unknown_benchmark(results_files, tmp_path):
    return _edit(results_files, tmp_path, lambda d: d["benchmark"].update(name="NoSuchBench"))


def _duplicate(results_files, tmp_path):
    return results_files["random"]  # already in the database


def _same_run_resealed(results_files, tmp_path):
    # the stored random run under another name and date, with a valid new sha256
    def edit(d):
        d["agent"]["name"] = "definitely-new-agent"
        d["created"] = "2030-01-01T00:00:00Z"

    data = load_json(results_files["random"])
    edit(data)
    return write_sealed(tmp_path / "renamed.json", data)


BAD_INPUTS = {
    # case: (make file, failed check, phrases the message must contain)
    "malformed_json": (_malformed, "json", ["not valid JSON", "line", "column"]),
    "missing_field": (_missing_field, "schema", ["'returns' is a required property"]),
    "wrong_schema_version": (_wrong_schema_version, "schema_version", ["is 2", "version 1"]),
    "one_return_edited": (_one_return_edited, "sha256", ["hashes to", "unmodified"]),
    "benchmark_hash_mismatch": (_benchmark_hash_mismatch, "benchmark.hash", ["0" * 64, "re-run"]),
    "wrong_shape": (_task_dropped, "shape", ["returns", "(5, 99, 10)", "(5, 100, 10)"]),
    "wrong_shape_consistent": (_task_dropped_consistently, "shape", ["(5, 99, 10)", "(5, 100, 10)"]),
    "nan_return": (_nan, "returns", ["returns[2][5][3]", "nan", "finite"]),
    "inf_return": (_inf, "returns", ["returns[0][9][0]", "-inf", "finite"]),
    "duplicate": (_duplicate, "duplicate", ["already stored as submission #2"]),
    "same_run_resealed": (_same_run_resealed, "duplicate", ["same raw returns", "submission #2"]),
    "oversized": (_oversized, "size", ["50,000,001 bytes", "limit is 50,000,000 bytes"]),
    "unknown_benchmark": (_unknown_benchmark, "benchmark", ["'NoSuchBench'", "KrazyWorld-Hard"]),
}
FIX_HINTS = ("submit", "re-run", "evaluate", "fix")


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_rejected_clearly_and_changes_nothing(case, results_files, db_copy, tmp_path, capsys):
    make, check, phrases = BAD_INPUTS[case]
    bad = make(results_files, tmp_path)
    before = db_copy.read_bytes()
    listing_before = sorted(p.name for p in db_copy.parent.iterdir())

    code = main(["submit", str(bad), "--db", str(db_copy)])

    err = capsys.readouterr().err
    assert code == 2
    assert f"rejected ({check}):" in err
    for phrase in phrases:
        assert phrase in err, (phrase, err)
    assert any(hint in err for hint in FIX_HINTS), err
    assert db_copy.read_bytes() == before
    assert sorted(p.name for p in db_copy.parent.iterdir()) == listing_before  # no journal left
    assert len(store.list_submissions(db_copy)) == 3


def test_rejected_file_creates_no_database(results_files, tmp_path, capsys):
    db = tmp_path / "new.db"
    bad = _one_return_edited(results_files, tmp_path)
    assert main(["submit", str(bad), "--db", str(db), "--create"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


def test_cli_subprocess_exit_codes(results_files, tmp_path):
    """The real `python -m leaderboard` process: 2 and a message on bad input, 0 on success."""
    db = tmp_path / "board.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)])}
    bad = _benchmark_hash_mismatch(results_files, tmp_path)
    cmd = [sys.executable, "-m", "leaderboard", "submit"]
    proc = subprocess.run([*cmd, str(bad), "--db", str(db), "--create"], capture_output=True,
                          text=True, env=env, cwd=REPO)
    assert proc.returncode == 2 and "rejected (benchmark.hash)" in proc.stderr
    assert not db.exists()
    proc = subprocess.run([*cmd, str(results_files["anti"]), "--db", str(db), "--create"],
                          capture_output=True, text=True, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "accepted as submission #1: anti-greedy on Bandit" in proc.stdout


def test_readers_refuse_a_missing_database(tmp_path, capsys):
    for command in (["show"], ["render", "--out", str(tmp_path / "site")], ["export"]):
        assert main([*command, "--db", str(tmp_path / "none.db")]) == 2
        assert "no leaderboard database" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_verify_marks_verified_only_when_scores_match(results_files, tmp_path, capsys):
    db = tmp_path / "board.db"
    code = main(["submit", str(results_files["greedy"]), "--db", str(db), "--create",
                 "--verify", AGENTS["greedy"]])
    assert code == 0
    assert "verified: re-running lb_agents:greedy_agent reproduced every task score" in capsys.readouterr().out
    # the anti-greedy run relabelled as the greedy agent (name and factory, re-sealed):
    # re-running the greedy factory gives other scores -> stored, unverified, exit 1
    data = load_json(results_files["anti"])
    data["agent"] = {"name": "greedy-explorer", "factory": AGENTS["greedy"]}
    forged = write_sealed(tmp_path / "forged.json", data)
    assert main(["submit", str(forged), "--db", str(db), "--verify", AGENTS["greedy"]]) == 1
    assert "verification FAILED" in capsys.readouterr().out
    rows = store.list_submissions(db)
    assert [(r.verified, r.verified_factory) for r in rows] == [(True, AGENTS["greedy"]),
                                                                (False, AGENTS["greedy"])]
    assert rows[0].sha256 == load_json(results_files["greedy"])["sha256"]


def test_verify_with_a_broken_factory_changes_nothing(fresh_results, db_copy, tmp_path, capsys):
    data = load_json(fresh_results)
    data["agent"]["factory"] = "no_such_module:make"  # the file records a factory that fails
    path = write_sealed(tmp_path / "broken-factory.json", data)
    before = db_copy.read_bytes()
    assert main(["submit", str(path), "--db", str(db_copy),
                 "--verify", "no_such_module:make"]) == 2
    err = capsys.readouterr().err
    assert "rejected (verify)" in err and "no_such_module" in err
    assert db_copy.read_bytes() == before


def test_a_file_that_is_not_a_leaderboard_database_is_left_alone(results_files, tmp_path, capsys):
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_bytes(b"these are my notes, not SQLite\n" * 200)
    before = not_a_db.read_bytes()
    assert main(["submit", str(results_files["anti"]), "--db", str(not_a_db)]) == 2
    assert "is not a leaderboard database" in capsys.readouterr().err
    assert not_a_db.read_bytes() == before
    assert main(["show", "--db", str(not_a_db)]) == 2
    assert "is not a leaderboard database" in capsys.readouterr().err


def test_default_database_comes_from_the_environment(results_files, tmp_path, monkeypatch, capsys):
    db = tmp_path / "from-env" / "board.db"
    monkeypatch.setenv(api.DB_ENV, str(db))
    assert api.default_db() == db
    assert main(["submit", str(results_files["random"]), "--create"]) == 0
    assert [s.agent_name for s in api.submissions()] == ["RandomAgent"]
    # the stored document is the submitted file, content for content
    assert store.get_document(db, 1) == load_json(results_files["random"])
    monkeypatch.delenv(api.DB_ENV)
    assert api.default_db() == REPO / "leaderboard" / "leaderboard.db"


def test_verify_reruns_with_the_submitted_batch_size(tmp_path, capsys):
    """A stochastic agent's random stream depends on the batch size: verify must reuse it."""
    from krazy_gym.evaluation import evaluate, write_results

    path = tmp_path / "random-batch25.json"
    write_results(path, evaluate(AGENTS["random"], BENCHMARK, seeds=3, batch_size=25,
                                 progress=False))
    assert main(["submit", str(path), "--db", str(tmp_path / "board.db"), "--create",
                 "--verify", AGENTS["random"]]) == 0
    assert "verified:" in capsys.readouterr().out
    assert store.list_submissions(tmp_path / "board.db")[0].verified
