"""ProMP against MAML-TRPO on the HalfCheetah meta-tasks: the issue-18 learning curves, summarised.

Reads the runs ``<root>/<algo>-<family>-s<seed>/progress.csv`` (``python -m baselines.train
--algo <algo> --env KrazyGym/<family>-v0 --config paper --seed <seed> --iterations 200``; the
repo's snapshots live in ``reference/curves/``) and prints, per family and algorithm:

* **pre- vs post-update return over the last ``--window`` iterations** (default 20): per run a
  95% Student-t interval over those iterations, and for ≥ 2 runs a 95% t-interval over the
  runs' window means; "post > pre" when the two intervals are disjoint;
* **ProMP against MAML-TRPO at equal samples** (ProMP Fig. 2's claim: ProMP ahead): the
  post-update return averaged over the whole curve (an area under the curve per env step,
  both algorithms sample the same 40 × 20 × 100 steps twice per iteration) and over the last
  window, per run, compared over the common iterations of the two algorithms; a verdict only
  with ≥ 2 runs on each side and disjoint intervals, else "undecided".

It writes a figure (``--plot``: mean over runs ± 95% CI, pre dashed, post solid, x = env
steps) and, with ``--json``, the numbers.

    python benchmarks/mujoco_curves.py --root reference/curves --plot docs/figures/mujoco_curves.png
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baselines.common.logger import read_progress  # noqa: E402
from krazy_gym.atomic_io import write_bytes_atomic, write_text_atomic  # noqa: E402

FAMILIES = ("HalfCheetahDir", "HalfCheetahVel")
ALGOS = ("promp", "maml-trpo")
LABELS = {"promp": "ProMP", "maml-trpo": "MAML-TRPO"}
RUN = re.compile(r"^(?P<algo>[a-z0-9-]+?)-(?P<family>[A-Za-z0-9]+)-s(?P<seed>\d+)$")
#: two-sided 95% Student-t quantiles by degrees of freedom
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 15: 2.131, 19: 2.093, 20: 2.086, 30: 2.042}


def t_interval(values) -> tuple[float, float, float]:
    """Mean and 95% Student-t interval (nan bounds for fewer than 2 values)."""
    v = np.asarray(values, dtype=float)
    m = float(v.mean())
    if len(v) < 2:
        return m, math.nan, math.nan
    q = _T95.get(len(v) - 1) or _T95[max(k for k in _T95 if k <= len(v) - 1)]
    half = q * float(v.std(ddof=1)) / math.sqrt(len(v))
    return m, m - half, m + half


def disjoint_above(a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
    """True when interval ``a`` lies wholly above interval ``b`` (False if either is missing)."""
    return not (math.isnan(a[1]) or math.isnan(b[2])) and a[1] > b[2]


def find_runs(root: Path) -> dict[tuple[str, str], list[tuple[int, list[dict[str, float]]]]]:
    """``(family, algo) -> [(seed, progress rows), ...]`` for the run directories under root."""
    runs: dict[tuple[str, str], list] = {}
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        match = RUN.match(path.name)
        if match and (path / "progress.csv").is_file() and match["family"] in FAMILIES:
            rows = read_progress(path)
            if rows:
                runs.setdefault((match["family"], match["algo"]), []).append((int(match["seed"]), rows))
    return runs


def _fmt(t: tuple[float, float, float]) -> str:
    if math.isnan(t[1]):
        return f"{t[0]:.2f} (1 run: no interval)"
    return f"{t[0]:.2f} [{t[1]:.2f}, {t[2]:.2f}]"


def summarise(runs: dict, window: int) -> tuple[list[str], dict]:
    """The report's lines and numbers (see the module docstring)."""
    lines: list[str] = []
    out: dict = {"window": window, "families": {}}
    for family in FAMILIES:
        fam: dict = {}
        for algo in ALGOS:
            entries = runs.get((family, algo), [])
            if not entries:
                continue
            per_run = []
            for seed, rows in entries:
                tail = rows[-window:]
                pre = t_interval([r["pre_return"] for r in tail])
                post = t_interval([r["post_return"] for r in tail])
                steps = rows[-1]["env_steps"] if "env_steps" in rows[-1] else math.nan
                per_run.append({"seed": seed, "iterations": len(rows), "env_steps": steps,
                                "pre": pre, "post": post, "post_above_pre": disjoint_above(post, pre)})
                lines.append(
                    f"{family} {LABELS[algo]} seed {seed}: {len(rows)} iterations, {steps:,.0f} env "
                    f"steps; last {len(tail)}: pre {_fmt(pre)}  post {_fmt(post)}  post > pre "
                    f"(disjoint 95% CIs over iterations): {disjoint_above(post, pre)}")
            # over runs: only those as long as the longest (a run still going is left out)
            longest = max(r["iterations"] for r in per_run)
            complete = [r for r in per_run if r["iterations"] == longest]
            if len(complete) >= 2:
                pre = t_interval([r["pre"][0] for r in complete])
                post = t_interval([r["post"][0] for r in complete])
                lines.append(
                    f"{family} {LABELS[algo]} over {len(complete)} runs of {longest} iterations "
                    f"(window means): pre "
                    f"{_fmt(pre)}  post {_fmt(post)}  post > pre (disjoint): {disjoint_above(post, pre)}")
            fam[algo] = per_run
        out["families"][family] = fam
        lines.extend(_compare(family, runs, window))
    return lines, out


def _compare(family: str, runs: dict, window: int) -> list[str]:
    """ProMP vs MAML-TRPO at equal samples: over the common iterations of all their runs."""
    a, b = runs.get((family, "promp"), []), runs.get((family, "maml-trpo"), [])
    if not a or not b:
        return [f"{family} ProMP vs MAML-TRPO: not comparable yet (runs: ProMP {len(a)}, "
                f"MAML-TRPO {len(b)})"]
    common = min(len(rows) for _, rows in a + b)
    lines = []
    for label, select in (("whole curve", slice(0, common)),
                          (f"last {window} of the common {common}", slice(max(0, common - window), common))):
        pa = t_interval([np.mean([r["post_return"] for r in rows[select]]) for _, rows in a])
        pb = t_interval([np.mean([r["post_return"] for r in rows[select]]) for _, rows in b])
        if len(a) >= 2 and len(b) >= 2:
            verdict = ("ProMP ahead (reproduced)" if disjoint_above(pa, pb) else
                       "MAML-TRPO ahead (refuted)" if disjoint_above(pb, pa) else
                       "undecided (intervals overlap)")
        else:
            verdict = "undecided (< 2 runs on a side)"
        lines.append(f"{family} post-update return, {label} ({common} iterations each, equal "
                     f"samples): ProMP {_fmt(pa)} ({len(a)} runs) vs MAML-TRPO {_fmt(pb)} "
                     f"({len(b)} runs): {verdict}")
    return lines


def plot(runs: dict, path: Path) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=100)
    for k, family in enumerate(FAMILIES):
        ax = fig.add_subplot(1, len(FAMILIES), k + 1)
        for algo in ALGOS:
            entries = runs.get((family, algo), [])
            if not entries:
                continue
            n_it = min(len(rows) for _, rows in entries)
            steps = np.array([r["env_steps"] for r in entries[0][1][:n_it]]) / 1e6
            for key, style in (("pre_return", "--"), ("post_return", "-")):
                arr = np.array([[r[key] for r in rows[:n_it]] for _, rows in entries])
                m = arr.mean(0)
                (line,) = ax.plot(steps, m, style, label=f"{LABELS[algo]} {key.split('_')[0]}-update "
                                  f"({len(entries)} run{'s' * (len(entries) > 1)})",
                                  color="C0" if algo == "promp" else "C3")
                if len(entries) > 1:
                    lo = np.array([t_interval(col)[1] for col in arr.T])
                    hi = np.array([t_interval(col)[2] for col in arr.T])
                    ax.fill_between(steps, lo, hi, alpha=0.15, color=line.get_color())
        ax.set_title(f"{family} (40 tasks x 20 rollouts x 100 steps)")
        ax.set_xlabel("env steps (millions, pre + post)")
        ax.set_ylabel("mean episode return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_bytes_atomic(path, buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=Path("reference/curves"),
                   help="directory of <algo>-<family>-s<seed> runs (default reference/curves)")
    p.add_argument("--window", type=int, default=20, help="final iterations summarised (default 20)")
    p.add_argument("--plot", type=Path, help="write the curves' figure (PNG) here")
    p.add_argument("--json", type=Path, help="write the numbers (JSON) here")
    args = p.parse_args(argv)
    if args.window < 2:
        p.error(f"--window must be an int >= 2, got {args.window}")
    if not args.root.is_dir():
        p.error(f"--root must be a directory of runs, got {str(args.root)!r}")
    runs = find_runs(args.root)
    if not runs:
        p.error(f"--root {str(args.root)!r} holds no <algo>-<family>-s<seed> run of "
                f"{', '.join(FAMILIES)} with a progress.csv")
    lines, numbers = summarise(runs, args.window)
    print("\n".join(lines))
    if args.plot:
        plot(runs, args.plot)
    if args.json:
        write_text_atomic(args.json, json.dumps(numbers, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
