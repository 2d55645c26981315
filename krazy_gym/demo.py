"""``make demo``: the whole krazy_gym flow on one page, from tasks to the leaderboard.

1. Samples held-out Krazy World Hard tasks and writes a picture of each board (PNG) and an
   animation of a random agent's episode (GIF).
2. Plays a random agent on those tasks and prints what it found (returns, goals, deaths,
   fraction of tile types visited).
3. Evaluates the random agent, and every trained baseline checkpoint found under ``--runs``,
   on a Krazy World benchmark through the harness and prints the summary.
4. Submits the results files to a fresh leaderboard database and renders its web page.

Run ``python -m krazy_gym.demo --out demo_output`` (what ``make demo`` does).
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

    print(f"\n== 3. harness: {args.benchmark}, {args.seeds} seeds ==")
    from krazy_gym.evaluation import evaluate, summary_table
    from krazy_gym.evaluation.benchmarks import get_benchmark

    bench = get_benchmark(args.benchmark)
    agents = [("random", RANDOM_AGENT), *_trained_agents(args.runs, bench.env_id)]
    print("agents: " + ", ".join(label for label, _ in agents))
    results_paths, all_results = [], []
    for i, (label, factory) in enumerate(agents):
        path = out / f"results_{i}.json"
        try:
            results = evaluate(factory, bench, seeds=args.seeds, out=path, progress=None)
        except Exception as exc:  # a broken checkpoint must not stop the demo
            print(f"skipped {label}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        results_paths.append(path)
        all_results.append(results)
    print(summary_table(all_results))

    print("\n== 4. leaderboard ==")
    from leaderboard import api

    db = out / "leaderboard.db"
    db.unlink(missing_ok=True)  # the demo's own database starts empty each run
    for path in results_paths:
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
