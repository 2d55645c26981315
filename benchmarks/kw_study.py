"""The Krazy World comparison of Stadie et al. (2018): five baselines, several training seeds.

MAML-TRPO, E-MAML-TRPO, ProMP, RL² and E-RL² on KrazyWorld-Easy, -Medium and -Hard (and Maze),
each trained with the reference row's config (``benchmarks/reference_suite.py``; ``--seed``
changes) for the same env-step budget, :data:`BUDGETS` (``--max-env-steps``: 1M env steps a run,
whatever the algorithm, on Krazy World, 10M on Maze, in place of the rows' iteration counts,
under which the RL² rows used 3.5-5x the gradient rows' samples), and evaluated by the harness with 10 seeds on the held-out
tasks. Everything is resumable: a finished cell is reused, a partial one continued from its
own full checkpoint (the reference rows' slim checkpoints are not training state and are
refused).

Usage::

    nice python benchmarks/kw_study.py --train                 # every missing cell, seed-major
    nice python benchmarks/kw_study.py --train --preset Easy --algo promp --seeds 1 2
    python benchmarks/kw_study.py --report --plot curves.png   # table, claims (and curves)
    python benchmarks/kw_study.py --list                       # cells and their state

Layout: ``runs/kw-study/<preset>/<algo>-s<seed>/`` (a ``python -m baselines.train`` run) with
``eval.json`` (harness results, 10 seeds) once evaluated. ``--keep DIR`` copies the finished
cells' ``eval.json`` and ``progress.csv`` gzipped, with the command, into ``DIR`` (the repo's
``reference/kw-study/``), which ``--report --root DIR`` reads. ``--report`` aggregates over training
seeds the rliable way: per run, the per-task score (mean exploit return over the 10 harness
seeds); the runs × tasks matrix gives the mean with a 95% stratified-bootstrap CI over runs,
for the score and for the oracle fraction. With one run a CI over training seeds does not
exist: the table says so, and a paper claim is decided only with >= 3 runs on each side and
disjoint intervals.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

PRESETS = ("Easy", "Medium", "Hard", "Maze")
ALGOS = ("maml-trpo", "emaml-trpo", "promp", "rl2", "erl2")
LABELS = {"maml-trpo": "MAML-TRPO", "emaml-trpo": "E-MAML-TRPO", "promp": "ProMP",
          "rl2": "RL²", "erl2": "E-RL²"}
#: training seeds per preset (issue 19: 5 on Easy, 3 on the others)
SEEDS = {"Easy": 5, "Medium": 3, "Hard": 3, "Maze": 3}
#: env steps of training per run, equal for every algorithm of a preset (issue 19): a run
#: stops after the first iteration at which it has spent them (``--max-env-steps``). Krazy
#: World: 1M (~435 iterations of the gradient methods on Easy, ~115 of RL²'s ~8.7k-step ones).
#: Maze episodes are long and an RL² iteration there is ~256k steps, so 1M would be 4 RL²
#: iterations: 10M (~40 of them; the reference rows' budgets are 14.4M and 51.2M)
BUDGETS = {"Easy": 1_000_000, "Medium": 1_000_000, "Hard": 1_000_000, "Maze": 10_000_000}
#: the cells' ``--iterations``: never reached, the budget ends every run
ITERATION_CAP = 100_000
EVAL_SEEDS = 10
DEFAULT_ROOT = REPO / "runs" / "kw-study"


def benchmark_name(preset: str) -> str:
    return "Maze" if preset == "Maze" else f"KrazyWorld-{preset}"


def train_argv(preset: str, algo: str, seed: int, out: Path) -> list[str]:
    """The reference row's training command (see reference_suite) with ``--seed seed`` and the
    preset's env-step budget (``--max-env-steps``) in place of its iteration count."""
    import reference_suite as rs

    bench = rs._bench(benchmark_name(preset))
    row = next(r for r in rs.definitions() if r["name"] == f"{bench.full_name}/{algo}")
    argv = [rs.ref.expand(a, reference=rs.REFERENCE_DIR, run=out, out="") for a in row["train"]["argv"]]
    argv[argv.index("--seed") + 1] = str(seed)
    argv[argv.index("--iterations") + 1] = str(ITERATION_CAP)
    return [sys.executable, *argv[1:], "--max-env-steps", str(BUDGETS[preset])]


def cells(presets, algos, seeds) -> list[tuple[str, str, int]]:
    """Seed-major order: every cell's seed 0, then seed 1, ...: a study cut short is balanced."""
    out = []
    for seed in range(max(SEEDS.values())):
        for preset in presets:
            for algo in algos:
                if seed < SEEDS[preset] and (seeds is None or seed in seeds):
                    out.append((preset, algo, seed))
    return out


def run_dir(root: Path, preset: str, algo: str, seed: int) -> Path:
    return root / preset / f"{algo}-s{seed}"


def checkpoint_env_steps(path: Path) -> tuple[int, int, int]:
    """(iterations, env steps, ``max_env_steps``) of the run in ``path`` (its checkpoint)."""
    from baselines.common.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    steps = ckpt.state.get("env_steps", ckpt.state.get("total_steps"))
    if steps is None or not ckpt.rng:
        raise SystemExit(f"{path}: a slim checkpoint (the shipped reference ones keep only the "
                         "policy): it cannot be continued to the budget; move it away")
    return ckpt.iteration, int(steps), int(ckpt.config.get("max_env_steps", 0))


def state(path: Path, budget: int) -> str:
    """fresh, partial (below the budget: ``--train`` resumes it), trained, evaluated, or
    "other budget" (spent more than ``budget`` without it: not this study's cell)."""
    if not (path / "checkpoint.pt").is_file():
        return "fresh"
    done, steps, saved_budget = checkpoint_env_steps(path)
    if steps < budget:
        return f"partial ({done} iterations, {steps:,}/{budget:,} env steps)"
    if saved_budget != budget:
        return f"other budget ({steps:,} env steps without --max-env-steps {budget})"
    return "evaluated" if (path / "eval.json").is_file() else "trained"


def train_cell(root: Path, preset: str, algo: str, seed: int) -> None:
    path = run_dir(root, preset, algo, seed)
    argv = train_argv(preset, algo, seed, path)
    budget = BUDGETS[preset]
    st = state(path, budget)
    if st.startswith("other budget"):
        raise SystemExit(f"{preset}/{algo}-s{seed}: {st}; move {path} away to train the cell")
    path.parent.mkdir(parents=True, exist_ok=True)
    # a resumed run is bit for bit the fresh one (the budget and the iteration cap do not
    # change the trajectory), so this command reproduces the cell either way
    (path.parent / f"{path.name}.command.txt").write_text(" ".join(argv[1:]) + "\n")
    if st == "fresh":
        cmd = argv
    elif st.startswith("partial"):
        cmd = [sys.executable, "-m", "baselines.train", "--algo", algo,
               "--env", argv[argv.index("--env") + 1], "--out", str(path), "--resume",
               "--iterations", str(ITERATION_CAP), "--max-env-steps", str(budget)]
        (path / "eval.json").unlink(missing_ok=True)  # it scored the shorter run
    else:
        cmd = None
    if cmd is not None:
        print(f"# {preset}/{algo}-s{seed}: {'resuming' if st != 'fresh' else 'training'}", flush=True)
        with open(path.parent / f"{path.name}.log", "a") as log:
            code = subprocess.run(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT).returncode
        if code != 0:
            raise SystemExit(f"{preset}/{algo}-s{seed}: training exited with {code} "
                             f"(see {path.parent / (path.name + '.log')}; run again to resume)")
    if not (path / "eval.json").is_file():
        print(f"# {preset}/{algo}-s{seed}: evaluating ({EVAL_SEEDS} harness seeds)", flush=True)
        from krazy_gym.evaluation import evaluate
        from krazy_gym.evaluation.agents import agent_environment

        with agent_environment({"KRAZY_GYM_CHECKPOINT": str(path)}):
            evaluate("baselines", benchmark_name(preset), seeds=EVAL_SEEDS,
                     out=path / "eval.json", progress=None)


def read_text(path: Path) -> str | None:
    """The text of ``path``, or of ``path.gz`` (the study's files as kept in the repo,
    ``reference/kw-study/``), or None when neither exists."""
    if path.is_file():
        return path.read_text()
    gz = path.with_name(path.name + ".gz")
    if gz.is_file():
        import gzip

        return gzip.decompress(gz.read_bytes()).decode()
    return None


def random_results(root: Path, preset: str) -> dict[str, Any]:
    """The random agent on the preset with the study's harness seeds (``<preset>/random-eval.json``,
    evaluated once: the reference point for the explore episodes)."""
    path = root / preset / "random-eval.json"
    if read_text(path) is None:
        from krazy_gym.evaluation import evaluate

        path.parent.mkdir(parents=True, exist_ok=True)
        evaluate("random", benchmark_name(preset), seeds=EVAL_SEEDS, out=path, progress=None)
    return json.loads(read_text(path))


def _explore_per_task(results: dict[str, Any]) -> np.ndarray:
    """Per test task, the mean return of the explore episodes over the harness seeds."""
    returns = np.asarray(results["returns"], dtype=float)  # (seeds, tasks, episodes)
    return returns[:, :, : results["explore_episodes"]].mean(axis=(0, 2))


def explore_vs_random(runs: list[dict[str, Any]], random: dict[str, Any],
                      resamples: int = 2000) -> tuple[float, float, float]:
    """Explore-episode return minus the random agent's, paired by test task (mean over runs
    first), with a 95% percentile-bootstrap interval over the tasks (fixed generator)."""
    agent = np.mean([_explore_per_task(r["results"]) for r in runs], axis=0)
    diff = agent - _explore_per_task(random)
    rng = np.random.default_rng(0)
    boot = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    return float(diff.mean()), float(low), float(high)


def keep(root: Path, dest: Path) -> int:
    """Copy every evaluated cell of ``root`` (``eval.json``, ``progress.csv``, its command) and
    the random agent's results into ``dest`` gzipped (byte-reproducible: no timestamp), each
    written atomically; returns the number of cells. ``--report --root dest`` reads them."""
    import gzip

    from krazy_gym.atomic_io import write_bytes_atomic, write_text_atomic

    def put(src: Path, out: Path) -> None:
        write_bytes_atomic(out.with_name(out.name + ".gz"), gzip.compress(src.read_bytes(), mtime=0))

    n = 0
    for preset in PRESETS:
        if (root / preset / "random-eval.json").is_file():
            put(root / preset / "random-eval.json", dest / preset / "random-eval.json")
        for algo in ALGOS:
            for seed in range(SEEDS[preset]):
                path = run_dir(root, preset, algo, seed)
                if not (path / "eval.json").is_file() or state(path, BUDGETS[preset]) != "evaluated":
                    continue
                out = run_dir(dest, preset, algo, seed)
                put(path / "eval.json", out / "eval.json")
                put(path / "progress.csv", out / "progress.csv")
                command = path.parent / f"{path.name}.command.txt"
                text = command.read_text() if command.is_file() else (
                    " ".join(train_argv(preset, algo, seed, path)[1:]) + "\n")
                write_text_atomic(out / "command.txt", text)
                n += 1
    return n


# -- report -------------------------------------------------------------------------------------
def _progress(path: Path) -> list[dict[str, str]]:
    """The rows of a cell's ``progress.csv`` (or ``.csv.gz``)."""
    return list(csv.DictReader(io.StringIO(read_text(path / "progress.csv"))))


def _read_curve(path: Path, algo: str) -> tuple[np.ndarray, np.ndarray]:
    """(env steps, training return) of a run: post-update return (gradient methods) or the
    mean return of the trial's scored episodes (RL²: ``exploit_return``)."""
    rows = _progress(path)
    key = "exploit_return" if algo in ("rl2", "erl2") else "post_return"
    return (np.array([float(r["env_steps"]) for r in rows]),
            np.array([float(r[key]) for r in rows]))


def _read_gap(path: Path, algo: str) -> tuple[np.ndarray, np.ndarray]:
    """(env steps, adaptation gap) of a run, Fig. 6-style: post- minus pre-update return
    (gradient methods) or the scored episodes' mean return minus the trial's first episode's
    (RL²: ``exploit_return − episode_0_return``, what the earlier episodes of a trial taught)."""
    rows = _progress(path)
    after, before = (("exploit_return", "episode_0_return") if algo in ("rl2", "erl2")
                     else ("post_return", "pre_return"))
    return (np.array([float(r["env_steps"]) for r in rows]),
            np.array([float(r[after]) - float(r[before]) for r in rows]))


def _pre_post_gap(path: Path, algo: str, window: int = 20) -> float:
    """The adaptation gap (:func:`_read_gap`) over the last ``window`` training iterations."""
    return float(np.mean(_read_gap(path, algo)[1][-window:]))


def _pre_entropy(path: Path, algo: str, window: int = 20) -> float | None:
    """The pre-update policy's mean entropy over the last ``window`` iterations (gradient
    methods; uniform over Krazy World's 4 actions: 1.386 nats): no exploration collapse."""
    if algo in ("rl2", "erl2"):
        return None
    return float(np.mean([float(r["pre_entropy"]) for r in _progress(path)[-window:]]))


def collect(root: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for preset in PRESETS:
        for algo in ALGOS:
            for seed in range(SEEDS[preset]):
                path = run_dir(root, preset, algo, seed)
                text = read_text(path / "eval.json")
                # a cell that has not spent the budget yet (e.g. a run being continued) is out
                if text is not None and _read_curve(path, algo)[0][-1] >= BUDGETS[preset]:
                    res = json.loads(text)
                    out.setdefault((preset, algo), []).append(
                        {"seed": seed, "path": path, "results": res})
    return out


def _ci(matrix: np.ndarray) -> tuple[float, float, float]:
    from krazy_gym.evaluation.metrics import stratified_bootstrap_ci

    point = float(matrix.mean())
    if matrix.shape[0] < 2:
        return point, float("nan"), float("nan")
    low, high = stratified_bootstrap_ci(matrix, lambda x: x.mean(axis=1))
    return point, low, high


def _fmt(t: tuple[float, float, float]) -> str:
    point, low, high = t
    return f"{point:.3f}" + ("" if np.isnan(low) else f" [{low:.3f}, {high:.3f}]")


def _episode_mean(results: list[dict[str, Any]], key: str, explore: bool) -> float:
    """An exploration metric's mean over the explore (or the exploit) episodes, over runs."""
    def one(r: dict[str, Any]) -> float:
        x, n = np.asarray(r["exploration_metrics"][key], dtype=float), r["explore_episodes"]
        return float(np.nanmean(x[:, :, :n] if explore else x[:, :, n:]))
    return float(np.mean([one(r) for r in results]))


def _table_row(preset: str, label: str, results: list[dict[str, Any]], *, runs: str, score: str,
               frac: str, gap: str, entropy: str, steps: str) -> str:
    """One row of the report's Krazy World or Maze table: the cells read from training are
    given, the rest (explore → exploit, Fig. 7's metrics; Maze: success and path length,
    as it has no tiles, deaths or goals) are computed from the harness ``results``."""
    curve = np.mean([np.asarray(r["aggregates"]["adaptation_curve"]) for r in results], axis=0)
    n = results[0]["explore_episodes"]
    if preset == "Maze":
        cells = [label, runs, score, f"{curve[:n].mean():.3f} → {curve[n:].mean():.3f}", gap,
                 entropy, f"{_episode_mean(results, 'success', True):.3f} → "
                 f"{_episode_mean(results, 'success', False):.3f}",
                 f"{_episode_mean(results, 'path_length_ratio', True):.2f}", steps]
    else:
        cells = [preset, label, runs, score, frac, f"{curve[:n].mean():.2f} → {curve[n:].mean():.2f}",
                 gap, entropy, f"{_episode_mean(results, 'tile_types_visited_fraction', True):.3f}",
                 f"{_episode_mean(results, 'deaths', True):.2f} / "
                 f"{_episode_mean(results, 'goals', True):.2f}", steps]
    return "| " + " | ".join(cells) + " |"


def report(root: Path, plot: Path | None) -> str:
    from krazy_gym.evaluation.metrics import oracle_fractions, task_scores

    data = collect(root)
    lines = ["| preset | agent | runs | score [95% CI over runs] | oracle fraction [95% CI] "
             "| explore → exploit return | adaptation gap (training) | pre-update entropy (nats) "
             "| tile types visited (explore) | deaths / goals per explore episode "
             "| env steps per run |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    maze_lines = ["| agent | runs | score [95% CI over runs] | explore → exploit return "
                  "| adaptation gap (training) | pre-update entropy (nats) "
                  "| success rate, explore → exploit | path-length ratio (explore) "
                  "| env steps per run |",
                  "|---|---|---|---|---|---|---|---|---|"]
    summary: dict[tuple[str, str], dict[str, Any]] = {}
    for preset in PRESETS:
        name = benchmark_name(preset)
        for algo in ALGOS:
            runs = data.get((preset, algo), [])
            if not runs:
                continue
            returns = [np.asarray(r["results"]["returns"]) for r in runs]
            scores = np.stack([task_scores(x, name).mean(axis=0) for x in returns])
            score = _ci(scores)
            frac = None
            if preset != "Maze":
                frac = _ci(np.stack([oracle_fractions(x, name).mean(axis=0) for x in returns]))
            gaps = [_pre_post_gap(r["path"], algo) for r in runs]
            entropy = [h for h in (_pre_entropy(r["path"], algo) for r in runs) if h is not None]
            steps = [_read_curve(r["path"], algo)[0][-1] for r in runs]
            summary[(preset, algo)] = {"runs": len(runs), "score": score, "frac": frac}
            (maze_lines if preset == "Maze" else lines).append(_table_row(
                preset, LABELS[algo], [r["results"] for r in runs], runs=str(len(runs)),
                score=_fmt(score), frac=_fmt(frac) if frac else "–", gap=f"{np.mean(gaps):+.3f}",
                entropy=f"{np.mean(entropy):.2f}" if entropy else "–",
                steps=f"{np.mean(steps) / 1e6:.2f}M"))
        if any(data.get((preset, a)) for a in ALGOS):
            # the random agent's row: the same columns from its own harness results
            rand = random_results(root, preset)
            r_returns = np.asarray(rand["returns"])
            # its oracle fraction is 0 in expectation by construction (the oracle file's
            # per-task random figure is exact): the printed value is the 10 seeds' noise
            r_frac = ("–" if preset == "Maze"
                      else f"{float(oracle_fractions(r_returns, name).mean()):.3f} (0 expected)")
            (maze_lines if preset == "Maze" else lines).append(_table_row(
                preset, "random agent", [rand], runs="–",
                score=f"{float(task_scores(r_returns, name).mean()):.3f}", frac=r_frac, gap="–",
                entropy=f"{np.log(4):.2f}",  # uniform over Krazy World's and Maze's 4 moves
                steps="–"))
    if len(maze_lines) > 2:
        lines += ["", "Maze (score = mean exploit return; success = the episode reached the goal; "
                  "path-length ratio = episode length over the shortest path's, a failed "
                  "episode counting all its steps):", "", *maze_lines]
    lines += ["", "Explore episodes against the random agent's (same test tasks, paired by task; 95% "
              "bootstrap CI over tasks; below/above only when the whole interval is):"]
    for preset in PRESETS:
        present = [a for a in ALGOS if data.get((preset, a))]
        if not present:
            continue
        random = random_results(root, preset)
        base = float(_explore_per_task(random).mean())
        for algo in present:
            d = explore_vs_random(data[(preset, algo)], random)
            tag = ("below random" if d[2] < 0 else "above random" if d[1] > 0
                   else "indistinguishable from random (the interval contains 0)")
            lines.append(f"- {benchmark_name(preset)} {LABELS[algo]} ({len(data[(preset, algo)])} "
                         f"runs): {base + d[0]:.3f} vs random {base:.3f}: {d[0]:+.3f} "
                         f"[{d[1]:+.3f}, {d[2]:+.3f}]: {tag}")
    lines += ["", "Paper claims (decided only with >= 3 runs per side and disjoint 95% CIs):"]
    lines += claims(summary, data)
    if plot is not None:
        plot_curves(data, plot)
        lines.append(f"\nlearning curves: {plot}")
    return "\n".join(lines)


def _verdict(a: dict | None, b: dict | None, label: str) -> str:
    if a is None or b is None:
        return f"- {label}: undecided (not run)"
    if min(a["runs"], b["runs"]) < 3:
        return (f"- {label}: undecided ({a['runs']} vs {b['runs']} runs; scores "
                f"{a['score'][0]:.3f} vs {b['score'][0]:.3f})")
    (_, la, ha), (_, lb, hb) = a["score"], b["score"]
    if la > hb:
        return f"- {label}: reproduced ({_fmt(a['score'])} vs {_fmt(b['score'])})"
    if ha < lb:
        return f"- {label}: not reproduced, the reverse holds ({_fmt(a['score'])} vs {_fmt(b['score'])})"
    return f"- {label}: not reproduced at this many seeds (intervals overlap: {_fmt(a['score'])} vs {_fmt(b['score'])})"


def claims(summary: dict, data: dict) -> list[str]:
    out = []
    for preset in ("Easy", "Medium", "Hard"):
        out.append(_verdict(summary.get((preset, "emaml-trpo")), summary.get((preset, "maml-trpo")),
                            f"E-MAML > MAML on KrazyWorld-{preset}"))
        out.append(_verdict(summary.get((preset, "erl2")), summary.get((preset, "rl2")),
                            f"E-RL² > RL² on KrazyWorld-{preset}"))
    for a in ("rl2", "erl2"):
        for b in ("maml-trpo", "emaml-trpo"):
            out.append(_verdict(summary.get(("Maze", a)), summary.get(("Maze", b)),
                                f"{LABELS[a]} > {LABELS[b]} on mazes"))
    for preset in ("Easy", "Medium", "Hard"):
        visited = {algo: np.mean([np.asarray(r["results"]["exploration_metrics"]
                                             ["tile_types_visited_fraction"]).mean()
                                  for r in data.get((preset, algo), [])])
                   for algo in ALGOS if data.get((preset, algo))}
        if visited:
            best = max(visited, key=visited.get)
            runs = min(len(data[(preset, a)]) for a in visited)
            tag = "undecided" if runs < 3 else ("reproduced" if best == "emaml-trpo" else "not reproduced")
            out.append(f"- E-MAML visits the most tile types on KrazyWorld-{preset}: {tag} (most: "
                       f"{LABELS[best]} {visited[best]:.3f}; E-MAML "
                       f"{visited.get('emaml-trpo', float('nan')):.3f}; {runs} runs)")
    return out


def plot_curves(data: dict, path: Path) -> None:
    """One column per preset: Fig. 4-style training return against env steps (top) and Fig.
    6-style adaptation gap (:func:`_read_gap`, bottom), each the mean over runs, smoothed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from krazy_gym.atomic_io import atomic_output

    presets = [p for p in PRESETS if any((p, a) in data for a in ALGOS)]
    fig, axes = plt.subplots(2, len(presets), figsize=(4.5 * len(presets), 7.0), squeeze=False)
    rows = ((_read_curve, "training return (post-update / exploit)"),
            (_read_gap, "adaptation gap (post − pre / exploit − 1st episode)"))
    for (read, ylabel), ax_row in zip(rows, axes):
        for ax, preset in zip(ax_row, presets):
            for algo in ALGOS:
                runs = data.get((preset, algo), [])
                if not runs:
                    continue
                curves = [read(r["path"], algo) for r in runs]
                n = min(len(c[0]) for c in curves)
                x = np.mean([c[0][:n] for c in curves], axis=0)
                y = np.mean([c[1][:n] for c in curves], axis=0)
                k = max(1, n // 50)  # smooth: a moving mean over ~2% of the run
                ys = np.convolve(y, np.ones(k) / k, mode="valid")
                ax.plot(x[k - 1:] / 1e6, ys, label=f"{LABELS[algo]} ({len(runs)})")
            ax.set_title(benchmark_name(preset))
            ax.set_xlabel("env steps (M)")
            ax.set_ylabel(ylabel, fontsize=8)
            ax.legend(fontsize=7)
        if read is _read_gap:
            for ax in ax_row:
                ax.axhline(0.0, color="grey", lw=0.5)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--train", action="store_true", help="train and evaluate missing cells")
    what.add_argument("--report", action="store_true", help="print the study's table and claims")
    what.add_argument("--list", action="store_true", help="cells and their state")
    what.add_argument("--keep", type=Path, metavar="DIR",
                      help="copy the evaluated cells of --root into DIR, gzipped (reference/kw-study)")
    ap.add_argument("--preset", nargs="+", choices=PRESETS, default=list(PRESETS[:3]))
    ap.add_argument("--algo", nargs="+", choices=ALGOS, default=list(ALGOS))
    ap.add_argument("--seeds", nargs="+", type=int, default=None, help="only these seeds")
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--plot", type=Path, default=None, help="with --report: learning-curve PNG")
    args = ap.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if args.report:
        print(report(args.root, args.plot))
        return 0
    if args.keep is not None:
        print(f"kept {keep(args.root, args.keep)} cells in {args.keep}")
        return 0
    todo = cells(args.preset, args.algo, args.seeds)
    if args.list:
        for preset, algo, seed in todo:
            path = run_dir(args.root, preset, algo, seed)
            print(f"{preset:7s} {algo:11s} s{seed}  {state(path, BUDGETS[preset])}")
        return 0
    for preset, algo, seed in todo:
        train_cell(args.root, preset, algo, seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
