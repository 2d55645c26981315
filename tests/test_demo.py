"""``make demo`` end to end: pictures, a trained agent adapting, the harness, the leaderboard."""

from __future__ import annotations

import json
import sqlite3

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from krazy_gym import demo  # noqa: E402
from leaderboard.reference import default_reference_dir  # noqa: E402


def test_demo_writes_every_output_and_loads_the_reference_rows(tmp_path, capsys):
    out = tmp_path / "demo"
    assert demo.main(["--out", str(out), "--runs", str(tmp_path / "no-runs")]) == 0
    printed = capsys.readouterr().out
    assert len(list((out / "boards").glob("*.png"))) == 4
    assert (out / "episode_hard_test_00.gif").stat().st_size > 0
    shipped = [a for a in demo.ADAPTING_AGENTS
               if (default_reference_dir() / "checkpoints" / "KrazyWorld-Easy-v1" / a).is_dir()]
    assert shipped, "the demo's trained agent (E-RL² or RL² on KrazyWorld-Easy) must ship"
    gif = out / f"adaptation_KrazyWorld-Easy_{shipped[0]}.gif"
    from PIL import Image

    with Image.open(gif) as im:  # two boards side by side, more than one frame
        assert im.n_frames > 1 and im.size[0] > 2 * im.size[1]
    assert (out / "adaptation_curves_KrazyWorld-Easy.png").stat().st_size > 0
    assert "episode 5 (exploit)" in printed
    # every shipped row is in the database; the KrazyWorld-Easy rows reproduced step 4's
    # re-runs of their checkpoints, the quick rows were re-run, the others wait for seed-reference
    manifest = json.loads((default_reference_dir() / "manifest.json").read_text())
    done = {r["name"] for r in manifest["rows"] if r["status"] == "done"}
    quick = {r["name"] for r in manifest["rows"]
             if r["evaluate"]["estimate_seconds"] <= demo.CHEAP_VERIFY_SECONDS}
    easy = {n for n in done if n.startswith("KrazyWorld-Easy-v1/")}
    with sqlite3.connect(out / "leaderboard.db") as con:
        rows = dict(con.execute("SELECT reference_row, verified FROM submissions "
                                "WHERE reference_row IS NOT NULL").fetchall())
    assert set(rows) == done
    assert {n for n, v in rows.items() if v} == (easy | quick) & done
    assert {"KrazyWorld-Easy-v1/maml-trpo", "KrazyWorld-Easy-v1/erl2"} <= easy
    assert "seed-reference --db" in printed
    assert (out / "site" / "index.html").is_file()
