"""Evaluation-harness figures (not part of the test run).

    .venv/bin/python benchmarks/harness.py [--repeats 5] [--mujoco] [--table NAME ...]

1. Random agent on KrazyWorld-Hard (64 test tasks × 5 episodes × 5 seeds), end to end:
   the ``krazy-gym evaluate`` command in a fresh process (imports, task generation, numba
   cache load, run, results file), and ``evaluate()`` in-process, cold and warm. Target ≤ 2 s.
2. Harness overhead over raw batched env stepping with a trivial agent: ``evaluate()`` (warm)
   of an agent that returns a fixed action array, against a bare loop calling ``envs.step``
   on the same native vector env the same number of times. Target ≤ 25%.
3. The same overhead on every registered benchmark (5 seeds; ``--mujoco`` adds the MuJoCo
   ones at 1 seed, timed by wall clock since their sub-envs step in other processes), with the
   raw cost per env step and the harness's own cost per vector step. The ratio depends mostly
   on how fast the env is: the same harness cost is a large fraction of a compiled Krazy
   World step and a small one of a Python env's.

Timings are the best of ``--repeats`` runs (the machine is shared; the best is the least
disturbed), as wall time and as CPU time (which other processes disturb much less); the
harness and raw runs of an overhead figure alternate, so a change of load hits both. Every
line printed is one measurement. The last lines break the trivial-agent run down: the
lockstep loop (``run_unit``) against the per-run fixed costs, what raw consists of, and
each fixed cost on its own.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BENCH = "KrazyWorld-Hard"
SEEDS = 5


class ConstantAgent:
    """The trivial agent: the same action for every row, every step."""

    name = "constant"

    def reset(self, num_tasks, observation_space, action_space):
        self.action = constant_actions(action_space, num_tasks)

    def act(self, obs):
        return self.action

    def observe(self, obs, action, reward, next_obs, terminated, truncated):
        pass

    def adapt(self):
        pass


def constant_agent():
    return ConstantAgent()


def constant_actions(action_space, n: int) -> np.ndarray:
    """``n`` copies of one valid action: 0 (Discrete) or the zero vector clipped into the Box."""
    from gymnasium import spaces

    if isinstance(action_space, spaces.Discrete):
        return np.full(n, action_space.start, dtype=np.int64)
    one = np.clip(np.zeros(action_space.shape, action_space.dtype), action_space.low, action_space.high)
    return np.repeat(one[None], n, axis=0)


def best(fn, repeats: int, clock=time.perf_counter) -> float:
    times = []
    for _ in range(repeats):
        t = clock()
        fn()
        times.append(clock() - t)
    return min(times)


@dataclass
class Overhead:
    """One trivial-agent overhead measurement (times are the best of the repeats)."""

    vector_steps: int
    env_steps: int
    harness_wall: float
    raw_wall: float
    harness_cpu: float
    raw_cpu: float
    units: list
    loops: list


def overhead(bench, seeds: int, repeats: int, cpu_times: bool = True) -> Overhead:
    """``evaluate()`` of the constant agent against a bare loop over the same vector env(s):
    per unit, the two seeded resets (explore, exploit) and as many ``envs.step`` calls as the
    harness made for that unit, with the same constant actions."""
    from krazy_gym.evaluation import evaluate
    from krazy_gym.evaluation.runner import make_units, make_vector_env, run_unit

    seed_list = list(range(seeds))
    units = make_units(bench, seed_list, bench.batch_size)
    per_unit = [run_unit(bench, constant_agent, u).vector_steps for u in units]
    res = evaluate("harness:constant_agent", bench, seeds=seeds, progress=False, aggregates=False)
    all_tasks = bench.tasks()
    loops = []
    for unit, steps in zip(units, per_unit):
        envs = make_vector_env(bench, len(unit.rows))
        tasks = [all_tasks[t] for t in unit.task_indices]
        if bench.vectorization == "vector_entry_point":
            envs.reset(seed=0, options={"task": tasks})
        else:  # as the runner: gymnasium's vector envs take one task per sub-env this way
            envs.set_attr("task", tasks)
            envs.reset(seed=0)
        action = constant_actions(envs.single_action_space, len(unit.rows))
        # one seeded reset per phase that has episodes (Bandit and TabularMDP have no explore
        # phase), the unit's vector steps split between them
        phases = [k for k, eps in enumerate((bench.explore_episodes, bench.exploit_episodes)) if eps]
        split = [steps // len(phases) + (j < steps % len(phases)) for j in range(len(phases))]
        loops.append((envs, action, len(unit.rows), list(zip(phases, split))))

    def raw_loop():
        for envs, action, n, phase_steps in loops:
            for phase, k in phase_steps:
                envs.reset(seed=[2 * i + phase for i in range(n)])
                for _ in range(k):
                    envs.step(action)

    def harness():
        evaluate("harness:constant_agent", bench, seeds=seeds, progress=False, aggregates=False)

    # interleaved (harness, raw, harness, raw, ...) so that a change in the machine's load
    # during the measurement hits both sides alike; the best of each side is kept
    times = {"harness_wall": [], "raw_wall": [], "harness_cpu": [], "raw_cpu": []}
    for _ in range(repeats):
        for name, fn in (("harness", harness), ("raw", raw_loop)):
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            times[f"{name}_wall"].append(time.perf_counter() - wall)
            times[f"{name}_cpu"].append(time.process_time() - cpu)
    best_of = {k: min(v) for k, v in times.items()}
    if not cpu_times:  # the async envs step in other processes: this process's CPU says little
        best_of["harness_cpu"] = best_of["raw_cpu"] = float("nan")
    return Overhead(
        vector_steps=sum(per_unit), env_steps=int(res["timing"]["env_steps"]), **best_of,
        units=units, loops=loops,
    )


def cli_seconds(repeats: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "krazy_gym.evaluation", "evaluate", "--agent",
               "krazy_gym.evaluation.agents:random_agent", "--benchmark", BENCH, "--seeds",
               str(SEEDS), "--out", str(Path(tmp) / "r.json"), "--no-progress"]
        walls, cpus = [], []
        for _ in range(repeats):
            before = os.times()
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
            walls.append(time.perf_counter() - t)
            after = os.times()
            cpus.append(after.children_user + after.children_system
                        - before.children_user - before.children_system)
        return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mujoco", action="store_true",
                        help="add the MuJoCo benchmarks (1 seed, 1 repeat, wall time) to the table")
    parser.add_argument("--table", nargs="*", metavar="NAME", default=None,
                        help="benchmarks of the per-benchmark table (default: every one; the "
                             "MuJoCo ones only with --mujoco)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from krazy_gym.evaluation import evaluate, get_benchmark, list_benchmarks

    names = [b.name for b in list_benchmarks()]
    unknown = sorted(set(args.table or ()) - set(names))
    if unknown:
        parser.error(f"--table: unknown benchmarks {unknown}; known: {names}")

    bench = get_benchmark(BENCH)
    random_agent = "krazy_gym.evaluation.agents:random_agent"

    t = time.perf_counter()
    res = evaluate(random_agent, bench, seeds=SEEDS, progress=False)
    cold = time.perf_counter() - t
    warm = best(lambda: evaluate(random_agent, bench, seeds=SEEDS, progress=False), args.repeats)
    eps = SEEDS * bench.num_test_tasks * bench.episodes
    print(f"random agent, {BENCH}, {bench.num_test_tasks} tasks x {bench.episodes} episodes x "
          f"{SEEDS} seeds ({eps} episodes, {res['timing']['env_steps']} env steps): "
          f"evaluate() cold {cold:.3f} s, warm {warm:.3f} s")
    cli, cli_cpu = cli_seconds(max(1, args.repeats // 2))
    print(f"random agent, {BENCH}, end to end `python -m krazy_gym.evaluation evaluate ...` "
          f"(fresh process, writes results.json): {cli:.3f} s wall, {cli_cpu:.3f} s CPU "
          f"[target <= 2 s]")

    # overhead: same vector env(s), same number of vector steps and resets, constant actions
    ov = overhead(bench, SEEDS, args.repeats)
    n_vec, units, r_cpu, loops = ov.vector_steps, ov.units, ov.raw_cpu, ov.loops
    print(f"trivial agent, {BENCH}, wall: harness {ov.harness_wall:.3f} s vs raw batched stepping "
          f"{ov.raw_wall:.3f} s for {n_vec} vector steps of {bench.batch_size} envs: overhead "
          f"{100 * (ov.harness_wall / ov.raw_wall - 1):.1f}%  [target <= 25%]")
    # CPU time of this process: far less sensitive to other processes on a shared machine
    cpu = time.process_time
    h_cpu = ov.harness_cpu
    print(f"trivial agent, {BENCH}, CPU time: harness {h_cpu:.3f} s vs raw {r_cpu:.3f} s: "
          f"overhead {100 * (h_cpu / r_cpu - 1):.1f}%  [target <= 25%]")
    # breakdown: the lockstep loop alone (run_unit: agent calls, checks, bookkeeping, metrics)
    # versus the per-run fixed part of evaluate() (results assembly, hashing, validation,
    # provenance), which does not grow with the number of steps
    from krazy_gym.evaluation.runner import run_unit

    u_cpu = best(lambda: [run_unit(bench, constant_agent, u) for u in units], args.repeats, cpu)
    print(f"trivial agent, {BENCH}, CPU time breakdown: lockstep loop {u_cpu:.3f} s "
          f"(+{100 * (u_cpu / r_cpu - 1):.1f}% over raw), per-run fixed costs "
          f"{h_cpu - u_cpu:.3f} s")
    # what raw consists of (the seeded resets of every sub-env are a large part of it), and the
    # fixed costs one by one (each the best of the repeats, so they need not add up exactly)
    def raw_resets():
        for envs, _, n, phase_steps in loops:
            for phase, _ in phase_steps:
                envs.reset(seed=[2 * i + phase for i in range(n)])

    rr_cpu = best(raw_resets, args.repeats, cpu)
    print(f"trivial agent, {BENCH}, CPU time of raw: {sum(len(p) for *_, p in loops)} seeded resets "
          f"{1e3 * rr_cpu:.2f} ms + {n_vec} vector steps {1e3 * (r_cpu - rr_cpu):.2f} ms")
    try:
        from krazy_gym.evaluation.results import as_lists, seal_results, validate_results
        from krazy_gym.evaluation.runner import assemble_results
    except ImportError:  # an older harness without these
        return
    done = {u.index: run_unit(bench, constant_agent, u) for u in units}
    seeds = list(range(SEEDS))

    def assemble():
        return assemble_results(bench, seeds, done, "constant", "harness:constant_agent", 1.0,
                                aggregates=False, arrays=True)

    data = assemble()
    sealed = seal_results(data)
    parts = {
        "results assembly": best(assemble, args.repeats, cpu),
        "canonical JSON + sha256": best(lambda: seal_results(data), args.repeats, cpu),
        "validation": best(lambda: validate_results(sealed, check_sha256=False), args.repeats, cpu),
        "arrays to lists": best(lambda: as_lists(sealed), args.repeats, cpu),
    }
    print(f"trivial agent, {BENCH}, CPU time of the fixed costs: "
          + ", ".join(f"{k} {1e3 * v:.2f} ms" for k, v in parts.items()))

    # the same measurement on every benchmark: the ratio depends on how fast the env steps
    # (Krazy World's compiled kernel steps a sub-env in well under a microsecond), the harness's
    # own cost per vector step much less
    print("trivial agent, every benchmark (CPU time; wall for the async MuJoCo ones): "
          "harness cost per vector step = (harness - raw) / vector steps")
    for b in list_benchmarks():
        mujoco = b.vectorization == "async"
        if (args.table is not None and b.name not in args.table) or (mujoco and not args.mujoco):
            continue
        o = overhead(b, 1 if mujoco else SEEDS, 1 if mujoco else args.repeats, cpu_times=not mujoco)
        h, r = (o.harness_wall, o.raw_wall) if mujoco else (o.harness_cpu, o.raw_cpu)
        print(f"  {b.name:<18} {b.vectorization:<18} {o.vector_steps:>6} vector steps x "
              f"{b.batch_size:>3} envs: harness {h:8.3f} s, raw {r:8.3f} s ({1e9 * r / o.env_steps:7.0f} "
              f"ns per env step), overhead {100 * (h / r - 1):6.1f}%, "
              f"harness cost {1e6 * (h - r) / o.vector_steps:6.1f} us per vector step", flush=True)


if __name__ == "__main__":
    main()
