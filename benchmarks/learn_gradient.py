"""Learning benchmark for the gradient-based baselines (MAML, E-MAML, ProMP, LVC-VPG, DiCE).

Trains every (algo, seed) with ``python -m baselines.train`` (in-process; an interrupted run is
resumed, a finished one is reused), then prints, per algo, the pre- and post-update return
averaged over the last ``--window`` iterations: mean over seeds with a 95% Student-t interval,
and whether the two intervals overlap. Writes ``learning_curves.png`` (mean ± 95% CI over
seeds) and ``summary.json`` into ``--root``.

Example (the Navigation2D figure in docs/results.md)::

    nice -n 10 python benchmarks/learn_gradient.py --env KrazyGym/Navigation2D-v0 \\
        --algos maml-trpo promp --seeds 0 1 2 --iterations 100 \\
        --set num_tasks=20 --set episodes_per_task=10 --root runs/bench-nav2d
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see baselines/train.py (before numpy)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baselines.common.checkpoint import load_checkpoint  # noqa: E402
from baselines.common.logger import read_progress  # noqa: E402
from baselines.train import main as train_main  # noqa: E402
from krazy_gym.atomic_io import write_bytes_atomic  # noqa: E402

# two-sided 95% Student-t quantiles by degrees of freedom
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 14: 2.145, 19: 2.093, 29: 2.045}


def mean_ci(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t-interval of ``values`` (one per seed)."""
    n = len(values)
    m = float(np.mean(values))
    if n < 2:
        return m, math.nan, math.nan
    half = _T95.get(n - 1, 1.96) * float(np.std(values, ddof=1)) / math.sqrt(n)
    return m, m - half, m + half


def run_one(algo: str, env: str, seed: int, iterations: int, sets: list[str], out: Path) -> None:
    args = ["--algo", algo, "--env", env, "--out", str(out)]
    done = 0
    if (out / "checkpoint.pt").exists():
        done = load_checkpoint(out).iteration
        if done >= iterations:
            return
        args += ["--resume", "--iterations", str(iterations)]
    else:
        args += ["--seed", str(seed), "--iterations", str(iterations)]
        for s in sets:
            args += ["--set", s]
    print(f"[learn] {algo} seed {seed}: iterations {done}..{iterations} -> {out}", flush=True)
    code = train_main(args)
    if code:
        raise SystemExit(code)


def summarize(root: Path, algos: list[str], seeds: list[int], window: int, env: str) -> dict:
    summary: dict = {"env": env, "window": window, "algos": {}}
    curves = {}
    for algo in algos:
        pre, post, runs = [], [], []
        for seed in seeds:
            rows = read_progress(root / f"{algo}-s{seed}")
            runs.append(rows)
            tail = rows[-window:]
            pre.append(np.mean([r["pre_return"] for r in tail]))
            post.append(np.mean([r["post_return"] for r in tail]))
        if len(seeds) == 1:  # one seed: the interval is over the window's iterations
            tail = runs[0][-window:]
            pm, plo, phi = mean_ci(np.array([r["pre_return"] for r in tail]))
            qm, qlo, qhi = mean_ci(np.array([r["post_return"] for r in tail]))
        else:  # over seeds (each seed's mean of the window)
            pm, plo, phi = mean_ci(np.array(pre))
            qm, qlo, qhi = mean_ci(np.array(post))
        iters = min(len(r) for r in runs)
        separated = bool(qlo > phi) if not math.isnan(qlo) else False
        # the pre-update policy's entropy over the window (older runs did not log it: nan)
        entropy = float(np.mean([r.get("pre_entropy", math.nan) for run in runs
                                 for r in run[-window:]]))
        summary["algos"][algo] = {
            "iterations": iters,
            "pre_return": [pm, plo, phi],
            "post_return": [qm, qlo, qhi],
            "post_above_pre_non_overlapping_ci": separated,
            "per_seed_pre": pre,
            "per_seed_post": post,
            "pre_entropy": entropy,
        }
        print(
            f"{env} {algo}: {len(seeds)} seed{'s' if len(seeds) > 1 else ' (CI over iterations)'}, "
            f"{iters} iterations, last {window}: "
            f"pre {pm:.2f} [{plo:.2f}, {phi:.2f}]  post {qm:.2f} [{qlo:.2f}, {qhi:.2f}]  "
            f"post > pre (CIs disjoint): {separated}  pre-update entropy {entropy:.3f} nats"
        )
        curves[algo] = (
            np.array([[r["pre_return"] for r in run[:iters]] for run in runs]),
            np.array([[r["post_return"] for r in run[:iters]] for run in runs]),
        )
    _plot(root / "learning_curves.png", curves, env)
    write_bytes_atomic(root / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    return summary


def _plot(path: Path, curves: dict, env: str) -> None:
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=100)
    ax = fig.add_subplot()
    for algo, (pre, post) in curves.items():
        for label, arr, style in (("pre", pre, "--"), ("post", post, "-")):
            n = arr.shape[0]
            m = arr.mean(0)
            half = _T95.get(n - 1, 1.96) * arr.std(0, ddof=1) / math.sqrt(n) if n > 1 else 0 * m
            xs = np.arange(arr.shape[1])
            (line,) = ax.plot(xs, m, style, label=f"{algo} {label}-update")
            ax.fill_between(xs, m - half, m + half, alpha=0.2, color=line.get_color())
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean episode return")
    ax.set_title(f"{env}: mean ± 95% CI over seeds")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_bytes_atomic(path, buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", required=True)
    p.add_argument("--algos", nargs="+", required=True)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--window", type=int, default=10, help="final iterations averaged per seed")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--root", required=True, help="directory holding one run per (algo, seed)")
    p.add_argument("--summary-only", action="store_true", help="do not train, only summarise")
    args = p.parse_args(argv)
    root = Path(args.root)
    if not args.summary_only:
        for seed in args.seeds:
            for algo in args.algos:
                run_one(algo, args.env, seed, args.iterations, args.set, root / f"{algo}-s{seed}")
    summarize(root, args.algos, args.seeds, args.window, args.env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
