"""Reference points for the Krazy World benchmarks: the oracle bound and per-task tabular Q-learning.

Per preset (KrazyWorld-Easy/-Medium/-Hard, their 64 test tasks) it prints

* the benchmark's random score (the harness's Monte-Carlo constant) and the exact expected
  return of uniform random actions (mean over tasks, from the stored oracle file);
* the **oracle bound** (mean over tasks of the best return one episode can reach,
  ``krazy_gym/evaluation/oracle-*.json``) and how many tasks cannot collect every goal;
* **per-task tabular Q-learning** (the paper's other reference, Stadie et al. 2018, App. A:
  "tabular Q-learning with 5M steps per env" 1.2, human 2.7, random 0.05 in its configuration):
  a fresh table per test task, trained for ``--steps`` env-steps on that task alone, then
  scored greedily on the benchmark's exploit protocol (``exploit_episodes`` episodes from the
  task's start; score = their mean return; the explore episodes are replaced by the
  training). Its oracle fraction ``(score - random) / (oracle - random)`` comes from
  :func:`krazy_gym.evaluation.metrics.oracle_fraction`.

Q-learning, as run here:

* on the batched engine: one ``gym.make_vec(..., view="global", obs_mode="index")`` env per
  chunk of tasks, ``--envs-per-task`` sub-envs per task sharing that task's table;
* the table's state (``--state``): ``local`` = the env's own observation (the 3x3 window's
  colour channels, energy, key flag: what the agent sees by default); ``local+pos`` = that
  plus the agent's cell; ``global`` = the whole current board, agent cell, energy and key,
  i.e. the true state of the MDP (collected goals and used tiles show on the board). All
  three are computed from the global index observation; ``local`` equals the local-view
  observation (a test checks it). ``local``/``local+pos`` keys are exact; ``global`` rows are
  hashed to 63 bits (FNV-1a; a collision among the states one run visits has probability
  below 1e-6);
* one-step Q-learning, ``Q <- Q + alpha (r + gamma max Q' - Q)`` with ``max Q' = 0`` after a
  termination and bootstrapping through truncation; Q starts at 0; epsilon-greedy with
  epsilon decaying linearly from ``--eps-start`` to ``--eps-end`` over ``--eps-decay`` of the
  steps; greedy ties broken uniformly at random (also in evaluation);
* defaults: alpha 0.1, gamma 0.99, epsilon 1 -> 0.05 over the first 80% of 5M steps per task;
* evaluation: ``--eval-seeds`` independent greedy runs of the exploit protocol per task (the
  harness's 10-seed convention); a state never visited in training is valued 0.

Per-task results are written after every chunk of tasks to ``--out`` (one JSON per preset
and configuration); a rerun with the same configuration skips the finished tasks. Every
random draw comes from ``np.random.default_rng([seed, first task of the chunk])``, so a rerun
with the same ``--chunk`` gives the same numbers.

Usage::

    python benchmarks/kw_references.py --oracle-only                       # the oracle table
    python benchmarks/kw_references.py --presets Easy --tasks 16 --steps 500000
    python benchmarks/kw_references.py                                     # full: 5M steps x 64 tasks x 3 presets
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PRESETS = ("Easy", "Medium", "Hard")
STATES = ("local", "local+pos", "global")
LOCAL, LOCAL_POS, GLOBAL = range(3)
OUTSIDE_CHANNEL = 9  # krazy_gym.krazy_world.task.EXTRA_CHANNEL: off-board cells in the local view
EMPTY = -1
# The kernels below are compiled per process (no ``cache=True``): this file runs as __main__ and
# is also imported by the tests under another name, and numba's on-disk cache records the
# defining module, so a cache written in one context fails to load in the other
# ("No module named '<dynamic>'").


# -- table keys ------------------------------------------------------------------------------------
@njit
def feature_key(obs, i, size, mode, task):  # pragma: no cover - compiled
    """The table key (an int64 >= 0) of row ``i`` of global index observations ``obs``.

    ``obs[i]`` = the board's colour channels (row-major), the agent's cell, energy, key flag.
    """
    cells = size * size
    agent = np.int64(obs[i, cells])
    energy = np.int64(obs[i, cells + 1])
    held = np.int64(obs[i, cells + 2])
    if mode == GLOBAL:
        h = np.uint64(14695981039346656037) ^ np.uint64(task)
        for k in range(cells + 3):
            h = (h ^ np.uint64(obs[i, k])) * np.uint64(1099511628211)
        return np.int64(h >> np.uint64(1))
    r = agent // size
    c = agent - r * size
    f = np.int64(0)
    for dr in range(-1, 2):
        for dc in range(-1, 2):
            rr = r + dr
            cc = c + dc
            ch = OUTSIDE_CHANNEL
            if 0 <= rr < size and 0 <= cc < size:
                ch = np.int64(obs[i, rr * size + cc])
            f = f * 16 + ch
    f = (f << 8) | energy
    f = (f << 1) | held
    if mode == LOCAL_POS:
        f = (f << 8) | agent
    return f | (np.int64(task) << 53)


def local_window(obs: np.ndarray, size: int) -> np.ndarray:
    """The local-view index observation (9 channels, energy, key) of each row of global index
    observations (numpy; what ``feature_key`` packs for ``local``, used by the tests)."""
    cells = size * size
    agent = obs[:, cells].astype(np.int64)
    r, c = np.divmod(agent, size)
    out = np.empty((len(obs), 11), dtype=np.int64)
    k = 0
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            rr, cc = r + dr, c + dc
            inside = (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)
            idx = np.where(inside, rr * size + cc, 0)
            out[:, k] = np.where(inside, obs[np.arange(len(obs)), idx], OUTSIDE_CHANNEL)
            k += 1
    out[:, 9] = obs[:, cells + 1]
    out[:, 10] = obs[:, cells + 2]
    return out


@njit
def _find(tkeys, trows, counter, key, insert):  # pragma: no cover - compiled
    """Row of ``key`` in the open-addressing table (linear probing); a new row if absent and
    ``insert`` (``counter[0]`` counts rows), else -1."""
    mask = tkeys.shape[0] - 1
    h = (np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(20)
    j = np.int64(h & np.uint64(mask))
    while True:
        k = tkeys[j]
        if k == key:
            return trows[j]
        if k == EMPTY:
            if not insert:
                return -1
            row = counter[0]
            counter[0] += 1
            tkeys[j] = key
            trows[j] = row
            return row
        j = (j + 1) & mask


@njit
def _rehash(tkeys, trows, new_keys, new_rows):  # pragma: no cover - compiled
    mask = new_keys.shape[0] - 1
    for j in range(tkeys.shape[0]):
        key = tkeys[j]
        if key == EMPTY:
            continue
        h = (np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(20)
        t = np.int64(h & np.uint64(mask))
        while new_keys[t] != EMPTY:
            t = (t + 1) & mask
        new_keys[t] = key
        new_rows[t] = trows[j]


class Table:
    """Q-values of many tasks' states: an open-addressing hash table (key -> row) and ``q[rows, 4]``."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        self.keys = np.full(capacity, EMPTY, dtype=np.int64)
        self.rows = np.zeros(capacity, dtype=np.int64)
        self.counter = np.zeros(1, dtype=np.int64)
        self.q = np.zeros((capacity // 2, 4), dtype=np.float64)

    @property
    def size(self) -> int:
        return int(self.counter[0])

    def reserve(self, extra: int) -> None:
        """Grow so that ``extra`` more rows keep the load factor at most 1/2."""
        need = self.size + extra
        cap = self.keys.shape[0]
        if 2 * need <= cap:
            return
        while 2 * need > cap:
            cap *= 2
        keys = np.full(cap, EMPTY, dtype=np.int64)
        rows = np.zeros(cap, dtype=np.int64)
        _rehash(self.keys, self.rows, keys, rows)
        q = np.zeros((cap // 2, 4), dtype=np.float64)
        q[: self.q.shape[0]] = self.q
        self.keys, self.rows, self.q = keys, rows, q

    def row(self, key: int, insert: bool = True) -> int:
        return int(_find(self.keys, self.rows, self.counter, np.int64(key), insert))


# -- learning ------------------------------------------------------------------------------------
@njit
def rows_of(tkeys, trows, counter, obs, task_of, size, mode, insert, out):  # pragma: no cover
    for i in range(obs.shape[0]):
        out[i] = _find(tkeys, trows, counter, feature_key(obs, i, size, mode, task_of[i]), insert)


@njit
def _greedy(q, row, tie):  # pragma: no cover - compiled
    """argmax_a q[row, a], ties broken by scanning from action ``tie`` (row -1: all zeros)."""
    if row < 0:
        return tie
    best = tie
    value = q[row, tie]
    for k in range(1, 4):
        a = (tie + k) & 3
        if q[row, a] > value:
            value = q[row, a]
            best = a
    return best


@njit
def learn_and_act(tkeys, trows, counter, q, rows, actions, rewards, terminated, done, next_obs, final_obs,
                  task_of, size, mode, alpha, gamma, learn, eps, u, rand_a, tie, out_actions):  # pragma: no cover
    """One Q-learning update per env for ``(rows, actions) -> next_obs`` (``final_obs`` where
    an episode ended), then ``rows`` <- the rows of ``next_obs`` and epsilon-greedy actions
    into ``out_actions``. Without ``learn``: no update, unseen states get no row (-1)."""
    for i in range(rows.shape[0]):
        nrow = _find(tkeys, trows, counter, feature_key(next_obs, i, size, mode, task_of[i]), learn)
        if learn:
            target = rewards[i]
            if not terminated[i]:
                trow = nrow
                if done[i]:  # truncated: bootstrap from the episode's last observation
                    trow = _find(tkeys, trows, counter, feature_key(final_obs, i, size, mode, task_of[i]), True)
                m = q[trow, 0]
                for a in range(1, 4):
                    if q[trow, a] > m:
                        m = q[trow, a]
                target += gamma * m
            r = rows[i]
            a = actions[i]
            q[r, a] += alpha * (target - q[r, a])
        rows[i] = nrow
        if u[i] < eps:
            out_actions[i] = rand_a[i]
        else:
            out_actions[i] = _greedy(q, nrow, tie[i])


def make_envs(preset: str, tasks: list, per_task: int):
    import gymnasium as gym

    import krazy_gym  # noqa: F401

    envs = gym.make_vec(
        f"KrazyGym/KrazyWorld-{preset}-v0", num_envs=len(tasks) * per_task, view="global",
        obs_mode="index", copy=False,
    )  # fmt: skip
    return envs, [t for t in tasks for _ in range(per_task)]


def train(preset: str, tasks: list, steps: int, per_task: int, mode: int, rng: np.random.Generator,
          alpha: float, gamma: float, eps_start: float, eps_end: float, eps_decay: float) -> tuple[Table, float]:
    """Q-learning on every task of ``tasks`` (its own table rows), ``steps`` env-steps each.
    Returns the table and the CPU seconds spent."""
    envs, env_tasks = make_envs(preset, tasks, per_task)
    n = len(env_tasks)
    size = env_tasks[0].size
    task_of = np.repeat(np.arange(len(tasks), dtype=np.int64), per_task)
    table = Table()
    table.reserve(2 * n)
    obs, _ = envs.reset(seed=[int(s) for s in rng.integers(0, 2**31, n)], options={"task": env_tasks})
    rows = np.zeros(n, dtype=np.int64)
    rows_of(table.keys, table.rows, table.counter, obs, task_of, size, mode, True, rows)
    actions = rng.integers(0, 4, n).astype(np.int64)
    next_actions = np.empty(n, dtype=np.int64)
    vector_steps = -(-steps // per_task)
    decay = max(1, int(eps_decay * vector_steps))
    start = time.process_time()
    for t in range(vector_steps):
        eps = eps_end + (eps_start - eps_end) * max(0.0, 1.0 - t / decay)
        next_obs, rewards, terminated, truncated, infos = envs.step(actions)
        done = terminated | truncated
        final_obs = infos["final_obs"] if done.any() else next_obs
        table.reserve(2 * n)
        learn_and_act(
            table.keys, table.rows, table.counter, table.q, rows, actions, rewards, terminated, done,
            next_obs, final_obs, task_of, size, mode, alpha, gamma, True, eps, rng.random(n),
            rng.integers(0, 4, n), rng.integers(0, 4, n), next_actions,
        )  # fmt: skip
        actions, next_actions = next_actions, actions
    seconds = time.process_time() - start
    envs.close()
    return table, seconds


def evaluate_greedy(preset: str, tasks: list, table: Table, mode: int, episodes: int, seeds: int,
                    rng: np.random.Generator) -> np.ndarray:
    """``seeds x tasks x episodes`` returns of greedy play (random tie-breaks) from each task's
    start; no learning, unseen states valued 0."""
    envs, env_tasks = make_envs(preset, tasks, seeds)
    n = len(env_tasks)
    size = env_tasks[0].size
    task_of = np.repeat(np.arange(len(tasks), dtype=np.int64), seeds)
    obs, _ = envs.reset(seed=[int(s) for s in rng.integers(0, 2**31, n)], options={"task": env_tasks})
    rows = np.zeros(n, dtype=np.int64)
    rows_of(table.keys, table.rows, table.counter, obs, task_of, size, mode, False, rows)
    actions = np.array([_greedy(table.q, r, t) for r, t in zip(rows, rng.integers(0, 4, n))], dtype=np.int64)
    next_actions = np.empty(n, dtype=np.int64)
    returns = np.zeros((n, episodes))
    current = np.zeros(n)
    finished = np.zeros(n, dtype=np.int64)
    dummy = np.zeros(n)
    while (finished < episodes).any():
        next_obs, rewards, terminated, truncated, _ = envs.step(actions)
        done = terminated | truncated
        current += rewards
        for i in np.flatnonzero(done):
            if finished[i] < episodes:
                returns[i, finished[i]] = current[i]
            finished[i] += 1
        current[done] = 0.0
        learn_and_act(
            table.keys, table.rows, table.counter, table.q, rows, actions, dummy, terminated, done,
            next_obs, next_obs, task_of, size, mode, 0.0, 0.0, False, 0.0, np.ones(n),
            np.zeros(n, dtype=np.int64), rng.integers(0, 4, n), next_actions,
        )  # fmt: skip
        actions, next_actions = next_actions, actions
    envs.close()
    # rows are task-major (seeds envs per task): -> seeds x tasks x episodes
    return returns.reshape(len(tasks), seeds, episodes).transpose(1, 0, 2)


# -- the run -------------------------------------------------------------------------------------
def config_of(args: argparse.Namespace, preset: str) -> dict:
    return {
        "preset": preset, "state": args.state, "steps_per_task": args.steps, "envs_per_task": args.envs_per_task,
        "alpha": args.alpha, "gamma": args.gamma, "eps_start": args.eps_start, "eps_end": args.eps_end,
        "eps_decay": args.eps_decay, "eval_seeds": args.eval_seeds, "seed": args.seed, "chunk": args.chunk,
    }  # fmt: skip


def run_preset(args: argparse.Namespace, preset: str) -> dict:
    """Train and evaluate Q-learning on the preset's first ``--tasks`` test tasks (resuming)."""
    from krazy_gym.atomic_io import write_text_atomic
    from krazy_gym.evaluation import get_benchmark

    bench = get_benchmark(f"KrazyWorld-{preset}")
    tasks = bench.tasks()[: args.tasks]
    config = config_of(args, preset)
    name = f"{preset}-{args.state}-{args.steps}-s{args.seed}.json"
    path = Path(args.out) / name
    saved = {"config": config, "tasks": {}}
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old.get("config") == config:
            saved = old
    mode = STATES.index(args.state)
    todo = [i for i in range(len(tasks)) if str(i) not in saved["tasks"]]
    for first in range(0, len(todo), args.chunk):
        chunk = todo[first : first + args.chunk]
        rng = np.random.default_rng([args.seed, chunk[0]])
        table, seconds = train(
            preset, [tasks[i] for i in chunk], args.steps, args.envs_per_task, mode, rng,
            args.alpha, args.gamma, args.eps_start, args.eps_end, args.eps_decay,
        )  # fmt: skip
        rets = evaluate_greedy(preset, [tasks[i] for i in chunk], table, mode, bench.exploit_episodes,
                               args.eval_seeds, rng)
        steps_done = -(-args.steps // args.envs_per_task) * args.envs_per_task * len(chunk)
        for j, i in enumerate(chunk):
            saved["tasks"][str(i)] = {"returns": rets[:, j].tolist(), "score": float(rets[:, j].mean())}
        saved.setdefault("throughput", []).append({"tasks": chunk, "env_steps": steps_done, "cpu_seconds": seconds,
                                                    "table_rows": table.size})
        write_text_atomic(path, json.dumps(saved, indent=1, sort_keys=True) + "\n")
        print(f"  {preset} tasks {chunk[0]}-{chunk[-1]}: {steps_done / seconds / 1e6:.2f}M env-steps/s (CPU), "
              f"{table.size} table rows, mean score {rets.mean():.3f}", flush=True)
    return saved


def summarise(preset: str, saved: dict | None, n_tasks: int) -> list[str]:
    from krazy_gym.evaluation import get_benchmark
    from krazy_gym.evaluation.metrics import oracle_fraction
    from krazy_gym.evaluation.oracle import load_oracle

    bench = get_benchmark(f"KrazyWorld-{preset}")
    table = load_oracle(bench)
    o, r = table.oracle[:n_tasks], table.random[:n_tasks]
    short = int((table.oracle_goals < table.goals_on_board)[:n_tasks].sum())
    lines = [
        f"{bench.full_name}: {n_tasks} test tasks, horizon {table.horizon}; random {bench.random_score:.3f} "
        f"(harness constant, all 64 tasks) / {r.mean():.3f} (exact); oracle {o.mean():.3f} "
        f"(max {bench.max_score:g}; {short}/{n_tasks} tasks cannot collect every goal)"
    ]
    if saved is not None and saved["tasks"]:
        idx = sorted(int(k) for k in saved["tasks"])
        if idx == list(range(n_tasks)):
            rets = np.stack([np.asarray(saved["tasks"][str(i)]["returns"]) for i in idx], axis=1)
            full = np.zeros((rets.shape[0], bench.num_test_tasks, bench.episodes))
            # oracle_fraction takes the whole benchmark: score the untrained tasks at their
            # random value and report the trained ones only
            full[:, :, bench.explore_episodes :] = table.random[None, :, None]
            full[:, :n_tasks, bench.explore_episodes :] = rets
            per_task = np.asarray(oracle_fraction(full, bench)["per_task"])[:n_tasks]
            scores = rets.mean(axis=(0, 2))
            c = saved["config"]
            tp = saved.get("throughput", [])
            rate = sum(x["env_steps"] for x in tp) / max(1e-9, sum(x["cpu_seconds"] for x in tp))
            lines.append(
                f"  Q-learning ({c['state']}, {c['steps_per_task']:,} steps/task, alpha {c['alpha']}, gamma "
                f"{c['gamma']}, eps {c['eps_start']}->{c['eps_end']} over {c['eps_decay']:.0%}, "
                f"{c['eval_seeds']} greedy eval seeds): score {scores.mean():.3f} "
                f"(tasks: min {scores.min():.2f}, max {scores.max():.2f}), oracle fraction mean "
                f"{per_task.mean():.3f}, ratio of means {(scores.mean() - r.mean()) / (o - r).mean():.3f}; "
                f"training {rate / 1e6:.2f}M env-steps/s CPU"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", nargs="+", choices=PRESETS, default=list(PRESETS))
    p.add_argument("--oracle-only", action="store_true", help="print the oracle table, train nothing")
    p.add_argument("--state", choices=STATES, default="local")
    p.add_argument("--steps", type=int, default=5_000_000, help="env-steps per task")
    p.add_argument("--tasks", type=int, default=64, help="the first N test tasks")
    p.add_argument("--envs-per-task", type=int, default=64, help="sub-envs per task sharing its table")
    p.add_argument("--chunk", type=int, default=16, help="tasks per vector env (and per save)")
    p.add_argument("--alpha", type=float, default=0.1)
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--eps-start", type=float, default=1.0)
    p.add_argument("--eps-end", type=float, default=0.05)
    p.add_argument("--eps-decay", type=float, default=0.8, help="fraction of the steps epsilon decays over")
    p.add_argument("--eval-seeds", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/kw-references")
    args = p.parse_args(argv)
    for name, low in (("steps", 1), ("tasks", 1), ("envs_per_task", 1), ("chunk", 1), ("eval_seeds", 1)):
        if getattr(args, name) < low:
            p.error(f"--{name.replace('_', '-')} must be >= {low}, got {getattr(args, name)}")
    if not 1 <= args.tasks <= 64:
        p.error(f"--tasks must be in [1, 64] (the benchmarks' test tasks), got {args.tasks}")
    if not (0 <= args.eps_end <= 1 and 0 <= args.eps_start <= 1 and 0 < args.eps_decay <= 1):
        p.error("--eps-start/--eps-end must be in [0, 1] and --eps-decay in (0, 1]")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, load avg {load}, numpy {np.__version__}")
    for preset in args.presets:
        saved = None if args.oracle_only else run_preset(args, preset)
        for line in summarise(preset, saved, args.tasks):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
