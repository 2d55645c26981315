"""Issue 17: the forged-but-consistent files that used to get through, through the CLI.

Every forged file has its sha256 recomputed (anyone can do that), so only the leaderboard's
own rules can stop it. A refusal must exit 2 with a message naming the check, print no
traceback, and leave the database byte-identical (no journal or temporary file either).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import stat
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
from lb_helpers import AGENTS, BENCHMARK, SEEDS, load_json, parse_page, write_sealed
from PIL import Image

from leaderboard import api, render, store, validate
from leaderboard.cli import main
from leaderboard.serve import make_server, url_of


def refused(argv, db, capsys, check, *phrases) -> str:
    """Run the CLI; assert exit 2, ``rejected (check)``, the phrases, and ``db`` unchanged."""
    before = db.read_bytes() if db.exists() else None
    listing = sorted(p.name for p in db.parent.iterdir())
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert f"rejected ({check}):" in err, err
    for phrase in phrases:
        assert phrase in err, (phrase, err)
    assert "Traceback" not in err and "intact leaderboard database" not in err
    assert (db.read_bytes() if db.exists() else None) == before
    assert sorted(p.name for p in db.parent.iterdir()) == listing
    return err


def submit_argv(path, db, *extra):
    return ["submit", str(path), "--db", str(db), *extra]


def resealed(src, dst, edit):
    data = load_json(src)
    edit(data)
    return write_sealed(dst, data)


@pytest.fixture(scope="module")
def random_runs(tmp_path_factory):
    """The random agent on seeds 0..29 (one run), and the same agent's own best seeds."""
    from krazy_gym.evaluation import evaluate, write_results

    out = tmp_path_factory.mktemp("lb_cherry")
    wide = evaluate(AGENTS["random"], BENCHMARK, seeds=30, progress=False)
    returns = np.asarray(wide["returns"])
    best = [int(i) for i in np.argsort(-returns.mean(axis=(1, 2)))[:3]]
    picked = out / "picked.json"
    write_results(picked, evaluate(AGENTS["random"], BENCHMARK, seeds=best, progress=False))
    return {"best": best, "picked": picked}


# -- 1. the benchmark prescribes the seeds -------------------------------------------------------


def test_cherry_picked_seeds_are_refused_even_with_verify(random_runs, db_copy, capsys):
    assert random_runs["best"] != [0, 1, 2]
    for extra in ((), ("--verify", AGENTS["random"])):
        refused(submit_argv(random_runs["picked"], db_copy, *extra), db_copy, capsys, "seeds",
                f"seeds {random_runs['best']} are not the seeds the protocol prescribes",
                "must use seeds 0..2", "--seeds K")


def test_too_few_seeds_are_refused_naming_the_minimum(results_files, db_copy, tmp_path, capsys):
    def two_seeds(d):  # a consistent 2-seed file: seeds 0, 1 and their rows only
        d["seeds"] = [0, 1]
        d["returns"] = d["returns"][:2]
        d["exploration_metrics"] = {k: v[:2] for k, v in d["exploration_metrics"].items()}

    path = resealed(results_files["greedy"], tmp_path / "two.json", two_seeds)
    refused(submit_argv(path, db_copy), db_copy, capsys, "seeds",
            "2 seed(s) [0, 1]", "requires seeds 0..K-1 with K >= 3", "5 or more to be ranked")


def test_three_seeds_are_listed_unranked_and_verify_reruns_exactly_those(tmp_path, db_copy, capsys):
    from krazy_gym.evaluation import evaluate, write_results

    path = tmp_path / "three.json"
    write_results(path, evaluate(AGENTS["greedy"], BENCHMARK, seeds=3, progress=False))
    assert main(submit_argv(path, db_copy, "--verify", AGENTS["greedy"])) == 0
    out = capsys.readouterr().out
    assert "listed unranked: 3 seeds" in out and "verified: re-running" in out
    assert main(["show", "--db", str(db_copy)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "1 unranked (< 5 seeds)" in lines[0]
    table = [ln for ln in lines[3:] if ln.strip()]
    assert [ln.split()[0] for ln in table] == ["1", "2", "3", "-"]  # unranked last, rank "-"
    assert table[-1].split()[1] == "greedy-explorer" and f"yes ({AGENTS['greedy']})" in table[-1]
    row = [r for r in store.list_submissions(db_copy) if r.num_seeds == 3][0]
    assert row.seeds == [0, 1, 2] and row.verified


# -- 2. one canonical run key: duplicates in disguise ---------------------------------------------


def _negative_zero(d):
    s, t, e = next((s, t, e) for s, rows in enumerate(d["returns"]) for t, r in enumerate(rows)
                   for e, v in enumerate(r) if v == 0.0)
    d["returns"][s][t][e] = -0.0


def _seeds_reversed(d):
    d["seeds"] = d["seeds"][::-1]
    d["returns"] = d["returns"][::-1]
    d["exploration_metrics"] = {k: v[::-1] for k, v in d["exploration_metrics"].items()}


def _ints_for_floats(d):
    d["returns"] = [[[int(v) for v in r] for r in rows] for rows in d["returns"]]


@pytest.mark.parametrize("disguise", [_negative_zero, _seeds_reversed, _ints_for_floats])
def test_the_same_run_under_another_spelling_is_a_duplicate(disguise, results_files, db_copy,
                                                            tmp_path, capsys):
    path = resealed(results_files["anti"], tmp_path / "disguised.json", disguise)
    assert load_json(path)["sha256"] != load_json(results_files["anti"])["sha256"]
    refused(submit_argv(path, db_copy), db_copy, capsys, "duplicate",
            "same raw returns", "submission #3")


def test_seeds_in_another_order_are_stored_canonically(results_files, tmp_path, capsys):
    db = tmp_path / "board.db"
    path = resealed(results_files["anti"], tmp_path / "reversed.json", _seeds_reversed)
    assert main(submit_argv(path, db, "--create")) == 0
    (row,) = store.list_submissions(db)
    expected = np.asarray(load_json(results_files["anti"])["returns"])
    assert row.seeds == list(range(SEEDS))
    np.testing.assert_array_equal(row.returns, expected)  # rows follow their seeds


@pytest.mark.parametrize("where", ["agent", "provenance"])
def test_a_duplicate_json_key_anywhere_is_refused(where, fresh_results, db_copy, tmp_path, capsys):
    text = fresh_results.read_text()
    key = {"agent": '"name"', "provenance": '"python"'}[where]
    doubled = text.replace(f'"{where}": {{', f'"{where}": {{\n  {key}: "decoy",', 1)
    assert doubled != text
    path = tmp_path / "dupkey.json"
    path.write_text(doubled)
    refused(submit_argv(path, db_copy), db_copy, capsys, "json",
            f"the key {key.strip(chr(34))!r} appears twice")


# -- 3. returns the reward function cannot produce ------------------------------------------------


@pytest.mark.parametrize("value", [1e300, 1e306, 1.5, -0.5])
def test_impossible_returns_are_refused_naming_seed_task_episode_and_bound(
    value, fresh_results, db_copy, tmp_path, capsys
):
    def edit(d):
        d["returns"][4][17][6] = value

    path = resealed(fresh_results, tmp_path / "impossible.json", edit)
    refused(submit_argv(path, db_copy), db_copy, capsys, "return_range",
            f"returns[4][17][6] = {value!r}", "seed 4, test task 17, episode 7 of 10",
            "outside [0, 1]", "Bandit", "one pull per episode paying 0 or 1")


@pytest.mark.parametrize(("literal", "phrase"), [
    ("1" * 400, "has 400 digits; integers must fit in 64 bits"),
    ("1e400", "the number 1e400 is outside the float64 range"),
])
def test_numbers_beyond_64_bits_are_a_clear_json_error(literal, phrase, fresh_results, db_copy,
                                                        tmp_path, capsys):
    marked = resealed(fresh_results, tmp_path / "marked.json",
                      lambda d: d["returns"][0][0].__setitem__(0, 0.123456789))
    path = tmp_path / "bignum.json"
    path.write_text(marked.read_text().replace("0.123456789", literal, 1))
    refused(submit_argv(path, db_copy), db_copy, capsys, "json", phrase)
    for command in (["validate", str(path)], ["summary", str(path)]):
        from krazy_gym.evaluation.cli import main as harness

        assert harness(command) == 2
        err = capsys.readouterr().err
        assert phrase in err and "Traceback" not in err


# -- 4. names are plain text everywhere ------------------------------------------------------------

FAKE_ROW = "\x1b[2K\r  1  DeepMind-SOTA  0.998 [0.997, 0.999]  verified yes"
MATHTEXT_NAMES = ["$\\notacommand$", "x^{", "$x^{$", "50$ and 20$", "a\\$b$"]
FORMULA_NAMES = ['=HYPERLINK("http://example.invalid","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)",
                 "-2+3"]


@pytest.mark.parametrize(("field", "value", "phrase"), [
    ("name", FAKE_ROW, "control/format character U+001B"),
    ("name", "ok\u202egnp.exe", "U+202E"),  # a bidi override
    ("name", "two\nlines", "U+000A"),
    ("name", "n" * 121, "121 characters long; the limit is 120"),
    ("name", "n" * 1_000_000, "1,000,000 characters long; the limit is 120"),
    ("factory", "pkg.mod:" + "f" * 293, "301 characters long; the limit is 300"),
    ("factory", "pkg.mod:make\x07", "U+0007"),
])
def test_hostile_agent_strings_are_refused_at_submit(field, value, phrase, fresh_results, db_copy,
                                                     tmp_path, capsys):
    path = resealed(fresh_results, tmp_path / "hostile.json",
                    lambda d: d["agent"].update({field: value}))
    refused(submit_argv(path, db_copy), db_copy, capsys, "text", f"agent.{field}", phrase)


def test_hostile_provenance_strings_are_refused(fresh_results, db_copy, tmp_path, capsys):
    path = resealed(fresh_results, tmp_path / "prov.json",
                    lambda d: d["provenance"].update(platform="Linux\x1b]0;pwned\x07"))
    refused(submit_argv(path, db_copy), db_copy, capsys, "text", "provenance.platform", "U+001B")


def test_names_at_the_caps_are_accepted(fresh_results, tmp_path, capsys):
    path = resealed(fresh_results, tmp_path / "long.json", lambda d: d["agent"].update(
        name="n" * 120, factory="pkg.mod:" + "f" * 292))
    assert main(submit_argv(path, tmp_path / "board.db", "--create")) == 0
    (row,) = store.list_submissions(tmp_path / "board.db")
    assert len(row.agent_name) == 120 and len(row.agent_factory) == 300


@pytest.fixture
def legacy_hostile_db(fresh_results, db_copy):
    """``db_copy`` plus rows stored *before* names were checked (inserted past validation):
    terminal escapes with a counterfeit row, a 100,000-character name, mathtext, formulas."""
    sub = validate.load_submission(fresh_results)
    names = [FAKE_ROW + "\n", "L" * 100_000, *MATHTEXT_NAMES, *FORMULA_NAMES, "\tcell", "\rcell"]
    for i, name in enumerate(names):
        returns = sub.returns.copy()
        returns[1, i, 1] = 1.0 - returns[1, i, 1]  # a distinct run per row
        row = dataclasses.replace(sub, agent_name=name, agent_factory=f"{name}:make",
                                  sha256=f"{i:064x}", returns=returns)
        store.insert_submission(db_copy, row, "2030-01-01T00:00:00Z")
    return db_copy


def test_show_never_prints_escapes_whatever_the_database_holds(legacy_hostile_db, capsys):
    assert main(["show", "--db", str(legacy_hostile_db)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "\t" not in out
    assert "\\x1b[2K\\x0d" in out  # made visible instead
    assert not [ln for ln in out.splitlines() if ln.lstrip().startswith("1  DeepMind-SOTA")]
    assert max(len(ln) for ln in out.splitlines()) < 1000  # the 100,000-character name is cut
    assert "L" * 119 + "…" in out and "L" * 121 not in out


def test_render_draws_every_name_literally(legacy_hostile_db, tmp_path, capsys):
    from matplotlib.figure import Figure

    # the hazard is real: matplotlib refuses these strings as labels when it parses mathtext
    fig = Figure()
    fig.text(0, 0, "$\\notacommand$")
    with pytest.raises(ValueError):
        fig.savefig(io.BytesIO(), format="png")

    site = tmp_path / "site"
    assert main(["render", "--db", str(legacy_hostile_db), "--out", str(site)]) == 0
    capsys.readouterr()
    page = parse_page(site / "index.html")
    agents = [r["agent"] for r in page.tables[0]]
    assert set(MATHTEXT_NAMES) <= set(agents)
    assert max(len(a) for a in agents) == 120 and "L" * 119 + "…" in agents
    text = (site / "index.html").read_text()
    assert "\x1b" not in text and "\\x1b[2K" in text
    for src in page.images:
        with Image.open(site / src) as img:
            img.verify()


def test_csv_export_neutralises_formulas_json_keeps_the_values(legacy_hostile_db, tmp_path, capsys):
    out = tmp_path / "board.csv"
    assert main(["export", "--db", str(legacy_hostile_db), "--out", str(out)]) == 0
    capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8"), newline="")))
    by_id = {int(r["id"]): r for r in rows}
    stored = {s.id: s for s in store.list_submissions(legacy_hostile_db)}
    for sub_id, sub in stored.items():
        cell = by_id[sub_id]["agent"]
        if sub.agent_name.startswith(("=", "+", "-", "@", "\t", "\r")):
            assert cell == "'" + sub.agent_name and by_id[sub_id]["factory"] == "'" + sub.agent_factory
        else:
            assert cell == sub.agent_name
    assert all(r["iqm"] == repr(stored[int(r["id"])].iqm) for r in rows)  # numbers stay numbers
    assert main(["export", "--db", str(legacy_hostile_db), "--format", "json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert {e["id"]: e["agent"] for e in exported} == {i: s.agent_name for i, s in stored.items()}


# -- 5. verified means this factory on these seeds -------------------------------------------------


def test_verify_must_name_the_recorded_factory(fresh_results, db_copy, tmp_path, capsys):
    path = resealed(fresh_results, tmp_path / "sota.json", lambda d: d["agent"].update(
        name="SuperSOTA-9000", factory="sota.models:make"))
    refused(submit_argv(path, db_copy, "--verify", AGENTS["random"]), db_copy, capsys, "verify",
            f"--verify '{AGENTS['random']}' is not the factory the file records",
            "'sota.models:make'")
    refused(submit_argv(path, db_copy, "--verify", "sota.models:make"), db_copy, capsys,
            "verify", "re-running 'sota.models:make' failed")


def test_a_renamed_run_of_the_recorded_factory_is_not_verified(results_files, tmp_path, capsys):
    db = tmp_path / "board.db"
    path = resealed(results_files["random"], tmp_path / "renamed.json",
                    lambda d: d["agent"].update(name="SuperSOTA-9000"))
    assert main(submit_argv(path, db, "--create", "--verify", AGENTS["random"])) == 1
    out = capsys.readouterr().out
    assert "verification FAILED" in out and "named 'RandomAgent'" in out
    (row,) = store.list_submissions(db)
    assert not row.verified


def test_page_and_show_print_the_verified_factory(results_files, tmp_path, capsys):
    db = tmp_path / "board.db"
    assert main(submit_argv(results_files["greedy"], db, "--create", "--verify",
                            AGENTS["greedy"])) == 0
    assert main(submit_argv(results_files["random"], db)) == 0
    capsys.readouterr()
    assert main(["show", "--db", str(db)]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln[:6].strip().isdigit()]
    assert f"yes ({AGENTS['greedy']})" in lines[0] and lines[1].split()[-2] == "no"
    index = api.render(db=db, out_dir=tmp_path / "site")
    cells = [r["cells"][6] for r in parse_page(index).tables[0]]
    assert cells == [f"yes{AGENTS['greedy']}", "no"]


# -- 6. outputs only where they belong ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_export_never_replaces_a_symlink_or_fifo(kind, ranked_db, tmp_path, capsys):
    target = tmp_path / "precious.csv"
    target.write_text("keep me\n")
    out = tmp_path / "board.csv"
    if kind == "symlink":
        out.symlink_to(target)
    else:
        os.mkfifo(out)
    assert main(["export", "--db", str(ranked_db), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "must be a new path or a regular file" in err
    assert target.read_text() == "keep me\n"
    mode = os.lstat(out).st_mode
    assert stat.S_ISLNK(mode) if kind == "symlink" else stat.S_ISFIFO(mode)


def test_render_refuses_a_foreign_directory_unless_forced(ranked_db, tmp_path, capsys):
    site = tmp_path / "mine"
    (site / "plots").mkdir(parents=True)
    (site / "index.html").write_text("my own page\n")
    (site / "plots" / "holiday.png").write_bytes(b"not a leaderboard plot")
    (site / "plots" / "Bandit-iqm.png").write_bytes(b"my file, same name as a plot")
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}

    assert main(["render", "--db", str(ranked_db), "--out", str(site)]) == 2
    err = capsys.readouterr().err
    assert "holds no .krazy-leaderboard-site marker" in err and "--force" in err
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before
    assert main(["serve", "--db", str(ranked_db), "--dir", str(site), "--port", "0"]) == 2
    assert "--force" in capsys.readouterr().err

    assert main(["render", "--db", str(ranked_db), "--out", str(site), "--force"]) == 0
    assert (site / "plots" / "holiday.png").read_bytes() == b"not a leaderboard plot"
    assert parse_page(site / "index.html").tables  # ours now, and the marker says so
    assert (site / render.MARKER).is_file()
    # a rendered directory can be rendered into again without --force
    assert main(["render", "--db", str(ranked_db), "--out", str(site)]) == 0
    assert (site / "plots" / "holiday.png").is_file()


def test_render_never_writes_through_a_symlinked_subdirectory(ranked_db, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    site = tmp_path / "site"
    site.mkdir()
    (site / "static").symlink_to(elsewhere, target_is_directory=True)
    assert main(["render", "--db", str(ranked_db), "--out", str(site), "--force"]) == 2
    assert "static is a symbolic link" in capsys.readouterr().err
    assert list(elsewhere.iterdir()) == [] and sorted(p.name for p in site.iterdir()) == ["static"]


def test_a_db_that_is_a_fifo_or_directory_is_refused(results_files, tmp_path, capsys):
    os.mkfifo(tmp_path / "fifo.db")
    (tmp_path / "dir.db").mkdir()
    for db, phrase in ((tmp_path / "fifo.db", "is not a regular file"),
                       (tmp_path / "dir.db", "is a directory")):
        assert main(submit_argv(results_files["random"], db, "--create")) == 2
        assert phrase in capsys.readouterr().err
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo.db").st_mode)


def test_render_into_a_file_or_a_missing_parent_is_refused(ranked_db, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for out, phrase in ((tmp_path / "file", "is not a directory"),
                        (tmp_path / "no" / "such" / "site", "does not exist")):
        assert main(["render", "--db", str(ranked_db), "--out", str(out)]) == 2
        assert phrase in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_a_mistyped_db_creates_nothing_without_create(results_files, tmp_path, capsys):
    for db in (tmp_path / "typo" / "board.db", tmp_path / "bord.db"):
        assert main(submit_argv(results_files["random"], db)) == 2
        err = capsys.readouterr().err
        assert "no leaderboard database at" in err and "--create" in err
    assert list(tmp_path.iterdir()) == []
    db = tmp_path / "new" / "dir" / "board.db"
    assert main(submit_argv(results_files["random"], db, "--create")) == 0
    assert [p.name for p in db.parent.iterdir()] == ["board.db"]


def test_a_first_submission_failing_inside_its_transaction_leaves_no_file(
    results_files, tmp_path, monkeypatch
):
    def fail_inside_transaction():
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "_pause_for_crash_test", fail_inside_transaction)
    with pytest.raises(RuntimeError, match="disk on fire"):
        api.submit(results_files["random"], db=tmp_path / "board.db", create=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["fifo", "directory", "dev_zero", "not_utf8", "deep"])
def test_unreadable_inputs_are_refused_without_hanging(kind, db_copy, tmp_path, capsys):
    path = tmp_path / "input.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "dev_zero":
        path = "/dev/zero"
    elif kind == "not_utf8":
        path.write_bytes(b'{"agent": "\xff\xfe"}')
    else:
        path.write_text('{"a":' * 5000 + "1" + "}" * 5000)
    check, phrase = {
        "fifo": ("file", "is a FIFO (named pipe), not a regular file"),
        "directory": ("file", "is a directory, not a regular file"),
        "dev_zero": ("file", "/dev/zero is a character device, not a regular file"),
        "not_utf8": ("json", "is not UTF-8 text (byte 0xff at offset 11)"),
        "deep": ("json", "nests JSON too deeply"),
    }[kind]
    refused(submit_argv(path, db_copy), db_copy, capsys, check, phrase)


def test_serve_lists_no_directory(rendered_site):
    server = make_server(rendered_site, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = url_of(server)
        for directory in ("static/", "plots/", "static", "plots"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(url + directory, timeout=30)
            assert err.value.code == 404
        with urllib.request.urlopen(url + "static/leaderboard.css", timeout=30) as resp:
            assert resp.status == 200
    finally:
        server.shutdown()
        server.server_close()
