"""``make demo``: the whole krazy_gym flow on one page, from tasks to the leaderboard.

1. Samples held-out Krazy World Hard tasks and writes a picture of each board (PNG) and an
   animation of a random agent's episode (GIF).
2. Plays a random agent on those tasks and prints what it found (returns, goals, deaths,
   fraction of tile types visited).
3. Meta-learning at work: the shipped RL² (or E-RL²) checkpoint of ``reference/`` plays a
   held-out KrazyWorld-Easy board through the harness protocol; a GIF shows its first explore
   episode next to its last exploit episode on the same board.
4. Evaluates the random agent, every shipped reference checkpoint of the benchmark and every
   trained baseline checkpoint found under ``--runs`` through the harness, prints the summary
   and plots the adaptation curves (mean return per episode, explore then exploit) against
   random's and the oracle bound.
5. Loads the reference rows (``reference/``, each verified by re-running it) into a fresh
   leaderboard database, adds the ``--runs`` agents, and renders the web page.

Run ``python -m krazy_gym.demo --out demo_output`` (what ``make demo`` does); about a minute
on 2 cores after set-up.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

RANDOM_AGENT = "krazy_gym.evaluation.agents:random_agent"


def _boards_and_gif(out: Path, num_tasks: int) -> list:
    import gymnasium as gym

    from krazy_gym.krazy_world.gallery import record_episode, save_board_png, save_episode_gif

    env = gym.make("KrazyGym/KrazyWorld-Hard-v0")
    tasks = env.unwrapped.sample_tasks(num_tasks, split="test")
    for task in tasks:
        save_board_png(task, out / "boards" / f"hard_test_{task.index:02d}.png")
    frames = record_episode(tasks[0], max_steps=60, seed=0)
    save_episode_gif(frames, out / "episode_hard_test_00.gif")
    print(f"wrote {len(tasks)} board pictures to {out / 'boards'} and an episode GIF "
          f"({len(frames)} frames) to {out / 'episode_hard_test_00.gif'}")
    env.close()
    return tasks


def _random_play_table(tasks: list, episodes: int = 5) -> str:
    """Random agent on each task: mean return, goals, deaths, fraction of tile types seen."""
    import gymnasium as gym

    env = gym.make("KrazyGym/KrazyWorld-Hard-v0")
    rows = [("task", "return", "goals", "deaths", "tile types visited")]
    rng = np.random.default_rng(0)
    for task in tasks:
        returns, goals, deaths, visited = [], [], [], []
        for ep in range(episodes):
            env.reset(seed=ep, options={"task": task})
            total, done, info = 0.0, False, {}
            while not done:
                _, reward, terminated, truncated, info = env.step(int(rng.integers(4)))
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
            goals.append(info["goals"])
            deaths.append(info["deaths"])
            visited.append(info["tile_types_visited"])
        rows.append((
            f"test #{task.index}",
            f"{np.mean(returns):.2f}",
            f"{np.mean(goals):.2f}",
            f"{np.mean(deaths):.2f}",
            f"{np.mean(visited):.2f}",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    env.close()
    return "\n".join(lines)


def _trained_agents(runs: Path, env_id: str) -> list[tuple[str, object]]:
    """(label, factory) for each baseline checkpoint under ``runs`` trained on ``env_id``."""
    if not runs.is_dir():
        return []
    try:
        from baselines.agents import make
        from baselines.common.checkpoint import load_checkpoint
    except ImportError:  # the baselines extra (torch) is not installed
        return []
    from functools import partial

    found = []
    for ckpt_path in sorted(runs.glob("*/checkpoint.pt")):
        try:
            ckpt = load_checkpoint(ckpt_path)
        except Exception as exc:  # a broken checkpoint must not stop the demo
            print(f"skipped {ckpt_path}: {exc}", file=sys.stderr)
            continue
        if ckpt.env_id == env_id:
            found.append((f"{ckpt.algo} ({ckpt_path.parent.name})", partial(make, ckpt_path)))
    return found


#: the recurrent reference agents the demo shows adapting, in order of preference
ADAPTING_AGENTS = ("erl2", "rl2")


def _reference_checkpoints(bench_full_name: str) -> dict[str, Path]:
    """agent -> shipped checkpoint of ``reference/checkpoints/<benchmark>/`` (baselines only)."""
    from leaderboard.reference import default_reference_dir

    root = default_reference_dir() / "checkpoints" / bench_full_name
    return {d.name: d / "checkpoint.pt" for d in sorted(root.glob("*"))
            if (d / "checkpoint.pt").is_file()} if root.is_dir() else {}


def _adaptation_gif(out: Path, bench, checkpoints: dict[str, Path]) -> None:
    """The shipped RL²/E-RL² agent on a held-out board: explore episode 1 next to the last
    exploit episode of the same board (the first test task where the latter returns more)."""
    from baselines.agents import load
    from krazy_gym.krazy_world.gallery import record_adaptation, save_episode_gif, side_by_side

    name = next((a for a in ADAPTING_AGENTS if a in checkpoints), None)
    if name is None:
        print(f"no shipped RL²/E-RL² checkpoint for {bench.full_name} in reference/: skipped")
        return
    tasks = bench.tasks()
    chosen = None
    for task in tasks[:16]:
        agent = load(checkpoints[name], seed=0)
        episodes = record_adaptation(agent, task, bench.explore_episodes, bench.exploit_episodes,
                                     bench.env_id, bench.env_kwargs, seed=0)
        if chosen is None:
            chosen = (task, episodes)
        if episodes[-1]["return"] > episodes[0]["return"]:
            chosen = (task, episodes)
            break
    task, episodes = chosen
    path = out / f"adaptation_{bench.name}_{name}.gif"
    frames = side_by_side(episodes[0]["frames"], episodes[-1]["frames"])
    save_episode_gif([f.repeat(2, axis=0).repeat(2, axis=1) for f in frames], path)  # 2x
    print(f"{name} (reference/checkpoints/{bench.full_name}/{name}) on held-out test task "
          f"#{task.index}, the first test task on which its last exploit episode returns more "
          "than its first explore episode:")
    for k, e in enumerate(episodes):
        print(f"  episode {k + 1} ({e['phase']}): return {e['return']:.0f}, goals {e['goals']}, "
              f"deaths {e['deaths']}, {len(e['frames']) - 1} steps")
    print(f"wrote {path} (left: explore episode 1, right: exploit episode "
          f"{bench.exploit_episodes}, same board)")


def _plot_adaptation(all_results: list, labels: list[str], bench, path: Path) -> None:
    """Mean return per episode (explore, then exploit) of each agent, with the oracle bound."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from krazy_gym.atomic_io import atomic_output

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, res in zip(labels, all_results):
        curve = np.asarray(res["aggregates"]["adaptation_curve"], dtype=float)
        style = {"color": "grey", "linestyle": "--"} if label == "random" else {}
        ax.plot(np.arange(1, len(curve) + 1), curve, marker="o", label=label, **style)
    try:
        from krazy_gym.evaluation.oracle import load_oracle

        ax.axhline(float(load_oracle(bench).oracle.mean()), color="black", linestyle=":",
                   label="oracle bound")
    except Exception:  # no oracle file for this benchmark
        pass
    ax.axvline(bench.explore_episodes + 0.5, color="lightgrey")
    ax.set_xticks(range(1, bench.explore_episodes + bench.exploit_episodes + 1))
    ax.set_xlabel(f"episode (1-{bench.explore_episodes} explore, then exploit)")
    ax.set_ylabel("mean return")
    ax.set_title(f"{bench.full_name}: adaptation curves (harness, held-out tasks)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


#: reference rows whose evaluation the manifest estimates at most this long are verified by the demo
CHEAP_VERIFY_SECONDS = 10.0


def _rows_to_verify(reruns: dict[str, dict]) -> set[str]:
    """The reference rows the demo verifies: those step 4 re-ran (free: their results are
    compared, nothing runs again) and those whose evaluation the manifest estimates at
    <= 10 s (random, oracle and Bandit rows). Re-running every baseline checkpoint of every
    benchmark takes minutes; ``python -m leaderboard seed-reference`` does it."""
    from leaderboard.reference import load_manifest

    cheap = {r.name for r in load_manifest().rows
             if float((r.evaluate or {}).get("estimate_seconds", float("inf"))) <= CHEAP_VERIFY_SECONDS}
    return set(reruns) | cheap


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m krazy_gym.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("demo_output"),
                        help="directory for pictures, results, database and page")
    parser.add_argument("--benchmark", default="KrazyWorld-Easy",
                        help="harness benchmark to evaluate on (default: KrazyWorld-Easy)")
    parser.add_argument("--seeds", type=int, default=5,
                        help="evaluation seeds 0..K-1 (default 5: the leaderboard ranks runs "
                             "with at least 5 and lists 3-4 unranked)")
    parser.add_argument("--tasks", type=int, default=4, help="boards to draw (default 4)")
    parser.add_argument("--runs", type=Path, default=Path("runs"),
                        help="directory of trained baseline runs to evaluate too")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.tasks < 1:
        parser.error("--seeds and --tasks must be >= 1")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    print("== 1. Krazy World Hard: held-out tasks ==")
    tasks = _boards_and_gif(out, args.tasks)
    print("\n== 2. a random agent on them (5 episodes each) ==")
    print(_random_play_table(tasks))

    from krazy_gym.evaluation import evaluate, summary_table
    from krazy_gym.evaluation.benchmarks import get_benchmark

    bench = get_benchmark(args.benchmark)
    try:
        import baselines.agents  # noqa: F401  (the baselines extra: torch)

        shipped = _reference_checkpoints(bench.full_name)
    except ImportError:
        shipped = {}
    print(f"\n== 3. a trained agent adapts on a held-out {bench.name} board ==")
    if bench.metric_kind == "krazy_world":
        _adaptation_gif(out, bench, shipped)
    else:
        print(f"{bench.name} is not a Krazy World benchmark: no board to animate")

    print(f"\n== 4. harness: {args.benchmark}, {args.seeds} seeds ==")
    from functools import partial

    # (label, factory, own run?, the reference row this evaluation re-runs or None)
    agents = [("random", RANDOM_AGENT, False, f"{bench.full_name}/random")]
    if shipped:
        from baselines.agents import make

        agents += [(f"{a} (reference)", partial(make, p), False, f"{bench.full_name}/{a}")
                   for a, p in shipped.items()]
    agents += [(label, factory, True, None)
               for label, factory in _trained_agents(args.runs, bench.env_id)]
    print("agents: " + ", ".join(label for label, *_ in agents))
    own_paths, all_results, labels = [], [], []
    reruns: dict[str, dict] = {}  # reference row -> this demo's re-run of it (step 5 checks it)
    for i, (label, factory, own, row) in enumerate(agents):
        path = out / f"results_{i}.json"
        try:
            results = evaluate(factory, bench, seeds=args.seeds, out=path, progress=None)
        except Exception as exc:  # a broken checkpoint must not stop the demo
            print(f"skipped {label}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        if own:
            own_paths.append(path)
        if row is not None:
            reruns[row] = results
        all_results.append(results)
        labels.append(label)
    print(summary_table(all_results))
    _plot_adaptation(all_results, labels, bench, out / f"adaptation_curves_{bench.name}.png")

    print("\n== 5. leaderboard: the reference rows and your runs ==")
    from leaderboard import api

    db = out / "leaderboard.db"
    db.unlink(missing_ok=True)  # the demo's own database starts empty each run
    try:
        report = api.seed_reference(db=db, create=True, only_verify=_rows_to_verify(reruns),
                                    reruns=reruns)
        print(report.summary().splitlines()[0])
        print(f"verified here: the {bench.name} rows (against step 4's re-runs of their shipped "
              f"checkpoints) and the quick ones (random, oracle, Bandit); the others are stored unverified "
              f"(verify them, a few CPU-minutes: python -m leaderboard seed-reference --db {db})")
    except Exception as exc:  # no reference/ (an installed package, not a checkout)
        print(f"reference rows not loaded: {exc}", file=sys.stderr)
    for path in own_paths:
        try:
            res = api.submit(path, db=db, create=True)
        except api.SubmissionError as exc:  # e.g. --seeds below the benchmark's minimum
            print(f"not submitted {path.name}: {exc}", file=sys.stderr)
            continue
        print(f"submitted {path.name}: id {res.id}, {res.benchmark} · {res.agent}, "
              f"IQM {res.iqm:.3f} [{res.iqm_low:.3f}, {res.iqm_high:.3f}]")
    if not db.exists():
        return 0
    print(api.show(db))
    index = api.render(db, out / "site", force=True)  # the demo's own output directory
    print(f"\nleaderboard page: {index}  (serve it with: python -m leaderboard serve "
          f"--dir {out / 'site'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
