"""benchmarks/mujoco_curves.py: run discovery, the t-intervals, and verdicts only from enough
runs with disjoint intervals (synthetic progress files with known answers)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def curves(load_script):
    return load_script("mujoco_curves")


def write_run(root: Path, name: str, pre: np.ndarray, post: np.ndarray) -> None:
    path = root / name
    path.mkdir(parents=True)
    with open(path / "progress.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["iteration", "pre_return", "post_return", "env_steps"])
        for i, (a, b) in enumerate(zip(pre, post)):
            w.writerow([i, a, b, 160000 * (i + 1)])


def test_t_interval_matches_the_textbook_formula(curves):
    v = np.array([1.0, 2.0, 4.0, 7.0])
    m, lo, hi = curves.t_interval(v)
    half = 3.182 * v.std(ddof=1) / 2.0
    assert m == pytest.approx(3.5) and lo == pytest.approx(3.5 - half) and hi == pytest.approx(3.5 + half)
    assert math.isnan(curves.t_interval([5.0])[1])


def test_runs_are_found_by_name_and_verdicts_need_two_runs_a_side(curves, tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 30
    for seed in (0, 1):
        # ProMP learns (post 100 above pre 0); MAML-TRPO does not (post = pre = 0)
        write_run(tmp_path, f"promp-HalfCheetahDir-s{seed}", rng.normal(0, 1, n), rng.normal(100, 1, n))
        write_run(tmp_path, f"maml-trpo-HalfCheetahDir-s{seed}", rng.normal(0, 1, n), rng.normal(0, 1, n))
    write_run(tmp_path, "promp-HalfCheetahVel-s0", rng.normal(0, 1, n), rng.normal(50, 1, n))
    # a ProMP run still going (10 iterations): left out of the over-runs line
    write_run(tmp_path, "promp-HalfCheetahDir-s2", rng.normal(0, 1, 10), rng.normal(100, 1, 10))
    (tmp_path / "notes").mkdir()  # not a run: ignored
    runs = curves.find_runs(tmp_path)
    assert sorted(runs) == [("HalfCheetahDir", "maml-trpo"), ("HalfCheetahDir", "promp"),
                            ("HalfCheetahVel", "promp")]
    lines, numbers = curves.summarise(runs, window=20)
    text = "\n".join(lines)
    assert "HalfCheetahDir ProMP seed 0: 30 iterations, 4,800,000 env steps" in text
    promp = numbers["families"]["HalfCheetahDir"]["promp"]
    assert len(promp) == 3 and all(r["post_above_pre"] for r in promp)
    assert not any(r["post_above_pre"] for r in numbers["families"]["HalfCheetahDir"]["maml-trpo"])
    assert "HalfCheetahDir ProMP over 2 runs of 30 iterations" in text
    assert "whole curve (10 iterations each, equal samples)" in text and "ProMP ahead (reproduced)" in text
    # one run per side: no verdict, whatever the numbers
    assert "HalfCheetahVel ProMP vs MAML-TRPO: not comparable yet (runs: ProMP 1, MAML-TRPO 0)" in text
    assert curves.main(["--root", str(tmp_path), "--plot", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()


def test_bad_arguments_name_the_parameter(curves, tmp_path, capsys):
    with pytest.raises(SystemExit):
        curves.main(["--root", str(tmp_path / "missing")])
    assert "--root must be a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        curves.main(["--root", str(tmp_path), "--window", "1"])
    assert "--window must be an int >= 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        curves.main(["--root", str(tmp_path)])
    assert "holds no <algo>-<family>-s<seed> run" in capsys.readouterr().err
