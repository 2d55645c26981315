"""render (static page and plots), serve (localhost) and export (CSV/JSON)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
from lb_helpers import SEEDS, load_json, parse_page, write_sealed
from PIL import Image

from leaderboard import api, render, store
from leaderboard.cli import main
from leaderboard.serve import make_server, url_of


def test_render_writes_ranked_table_plots_and_static_files(ranked_db, rendered_site):
    out = rendered_site
    index = out / "index.html"
    rows = store.list_submissions(ranked_db)

    page = parse_page(index)
    assert len(page.tables) == 1  # one benchmark
    table = page.tables[0]
    assert [r["agent"] for r in table] == [s.agent_name for s in rows]
    for rank, (html_row, sub) in enumerate(zip(table, rows), start=1):
        cells = html_row["cells"]
        assert cells[0] == str(rank)
        assert cells[2] == f"{sub.iqm:.3f} [{sub.iqm_low:.3f}, {sub.iqm_high:.3f}]"
        assert cells[4].startswith(f"{sub.mean:.3f}")
        assert cells[5] == str(SEEDS) and cells[6] == "no"
    assert sorted(page.images) == sorted(
        f"plots/Bandit-{kind}.png" for kind in ("iqm", "adaptation", "scores")
    )
    for src in page.images:
        with Image.open(out / src) as img:
            img.verify()
            assert img.format == "PNG" and img.size[0] > 100 and img.size[1] > 100
    assert (out / "static" / "leaderboard.js").read_text().count("sortTable") >= 2
    html_text = index.read_text()
    assert "http://" not in html_text and "https://" not in html_text  # nothing from the network
    assert [p.name for p in out.rglob(".*")] == [render.MARKER]  # no temporary files left


def test_render_is_atomic_and_removes_only_its_own_stale_plots(ranked_db, rendered_site, tmp_path,
                                                               monkeypatch):
    out = tmp_path / "site"
    shutil.copytree(rendered_site, out)
    index_before = (out / "index.html").read_bytes()
    theirs = out / "plots" / "OldBenchmark-iqm.png"  # not written by a render: never deleted
    theirs.write_bytes(b"someone else's")
    # a plot an earlier render wrote (listed in its marker) for a benchmark now gone
    ours = out / "plots" / "GoneBenchmark-iqm.png"
    ours.write_bytes(b"old plot")
    marker = load_json(out / render.MARKER)
    marker["files"].append("plots/GoneBenchmark-iqm.png")
    (out / render.MARKER).write_text(json.dumps(marker))

    def broken(rows, title):
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(render, "_plot_intervals", broken)
    with pytest.raises(RuntimeError, match="plotting failed"):
        api.render(db=ranked_db, out_dir=out)
    assert (out / "index.html").read_bytes() == index_before  # the old page stays whole
    assert not list(out.rglob("*.tmp"))
    monkeypatch.undo()

    api.render(db=ranked_db, out_dir=out)
    assert not ours.exists()
    assert theirs.read_bytes() == b"someone else's"
    assert (out / "plots" / "Bandit-scores.png").is_file()
    assert "plots/GoneBenchmark-iqm.png" not in load_json(out / render.MARKER)["files"]


def test_render_escapes_agent_names(results_files, tmp_path):
    data = load_json(results_files["random"])
    data["agent"]["name"] = '<img src=x onerror="alert(1)">'
    path = write_sealed(tmp_path / "evil.json", data)
    db = tmp_path / "board.db"
    api.submit(path, db=db, create=True)
    index = api.render(db=db, out_dir=tmp_path / "site")
    text = index.read_text()
    assert "<img src=x" not in text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in text


def test_an_empty_database_renders_and_shows_no_submissions(tmp_path, capsys):
    db = tmp_path / "empty.db"
    db.write_bytes(b"")  # an empty file is an empty SQLite database
    index = api.render(db=db, out_dir=tmp_path / "site")
    assert "No submissions yet" in index.read_text() and parse_page(index).tables == []
    assert main(["show", "--db", str(db)]) == 0
    assert capsys.readouterr().out.strip() == "no submissions yet"
    assert db.read_bytes() == b""  # readers never write


def test_serve_serves_the_rendered_directory_only(rendered_site):
    out = rendered_site
    (out.parent / "secret.txt").write_text("not for the web")  # next to the site, not in it
    server = make_server(out, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = url_of(server)
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.status == 200
            assert resp.read() == (out / "index.html").read_bytes()
        with urllib.request.urlopen(url + "plots/Bandit-iqm.png", timeout=30) as resp:
            assert resp.headers["Content-Type"] == "image/png"
            assert resp.read() == (out / "plots" / "Bandit-iqm.png").read_bytes()
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url + "../secret.txt", timeout=30)
        assert err.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_serve_refuses_a_directory_without_a_page(tmp_path):
    with pytest.raises(FileNotFoundError, match="render --out"):
        make_server(tmp_path, port=0)


def test_export_csv_and_json_match_the_store(ranked_db, tmp_path, capsys):
    rows = store.list_submissions(ranked_db)

    assert main(["export", "--db", str(ranked_db), "--out", str(tmp_path / "board.csv")]) == 0
    assert capsys.readouterr().out.startswith("wrote ")
    table = list(csv.DictReader(io.StringIO((tmp_path / "board.csv").read_text())))
    assert [r["agent"] for r in table] == [s.agent_name for s in rows]
    assert [int(r["rank"]) for r in table] == [1, 2, 3]
    assert [float(r["iqm"]) for r in table] == [s.iqm for s in rows]  # repr round-trips
    assert [r["sha256"] for r in table] == [s.sha256 for s in rows]

    assert main(["export", "--db", str(ranked_db), "--format", "json"]) == 0  # to stdout
    exported = json.loads(capsys.readouterr().out)
    assert [e["agent"] for e in exported] == [s.agent_name for s in rows]
    for entry, sub in zip(exported, rows):
        np.testing.assert_array_equal(np.array(entry["returns"]), sub.returns)
        assert entry["provenance"] == sub.provenance
        assert entry["aggregates"]["normalised_iqm"]["value"] == sub.iqm

    assert main(["export", "--db", str(ranked_db), "--out", str(tmp_path / "board.txt")]) == 2
    assert "pass format 'csv' or 'json'" in capsys.readouterr().err
    assert not (tmp_path / "board.txt").exists()
