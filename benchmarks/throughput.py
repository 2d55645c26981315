"""Environment throughput: env-steps per second on one core, in one run.

    python benchmarks/throughput.py            # or: make bench
    python benchmarks/throughput.py --seconds 5 --rows krazy_world

Prints the machine first, then the ``import krazy_gym`` time and whether the numba kernels
load from the cache, then one line per row: env-steps/s by wall clock and by process CPU time
(CPU time is what a single core delivers when the machine is shared; on an idle machine the
two agree). Rows (Hard preset, local one-hot observations, uniformly random actions drawn in
advance, episodes reset when they end):

* Krazy World single env made with ``gym.make`` (default wrappers: TimeLimit, OrderEnforcing,
  PassiveEnvChecker);
* Krazy World batched env (``gym.make_vec``, native) at 1, 64, 1024 and 4096 envs;
* Minigrid's ``MiniGrid-DoorKey-8x8-v0`` single env made with ``gym.make`` (the peer figure);

followed by the ratios. The process is pinned to one core (``os.sched_setaffinity``) and
numba to one thread (``NUMBA_NUM_THREADS=1``).

To add rows (e.g. the maze section): write a function returning a :class:`Row` and list it
in :data:`SECTIONS` under its section name.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before anything imports numba
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # no idle BLAS threads on the pinned core

import argparse  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402

KW_HARD = "KrazyGym/KrazyWorld-Hard-v0"
MINIGRID_ID = "MiniGrid-DoorKey-8x8-v0"


@dataclass
class Row:
    """One measured figure."""

    name: str
    steps: int
    wall_s: float
    cpu_s: float

    @property
    def wall_rate(self) -> float:
        return self.steps / self.wall_s

    @property
    def cpu_rate(self) -> float:
        return self.steps / self.cpu_s


def _timed(step_fn: Callable[[], int], seconds: float) -> tuple[int, float, float]:
    """Call ``step_fn`` (returns env-steps done) until ``seconds`` of CPU time have passed."""
    steps = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while time.process_time() - cpu0 < seconds:
        steps += step_fn()
    return steps, time.perf_counter() - wall0, time.process_time() - cpu0


def single_env_row(env_id: str, name: str, seconds: float, **kwargs) -> Row:
    """A single env through ``gym.make`` (default wrappers), random actions, reset on done."""
    import gymnasium as gym

    env = gym.make(env_id, **kwargs)
    env.reset(seed=0)
    n_actions = int(env.action_space.n)
    actions = np.random.default_rng(0).integers(0, n_actions, size=100_000).tolist()
    chunk = 10_000
    cursor = [0]

    def run() -> int:
        start = cursor[0]
        step, reset = env.step, env.reset
        for a in actions[start : start + chunk]:
            _, _, terminated, truncated, _ = step(a)
            if terminated or truncated:
                reset()
        cursor[0] = (start + chunk) % len(actions)
        return chunk

    run()  # warm up
    steps, wall, cpu = _timed(run, seconds)
    env.close()
    return Row(name, steps, wall, cpu)


def krazy_world_single(seconds: float) -> Row:
    import krazy_gym  # noqa: F401

    return single_env_row(KW_HARD, "krazy_world single env, gym.make (Hard, local onehot)", seconds)


def krazy_world_batched(num_envs: int, copy: bool = True) -> Callable[[float], Row]:
    """The native batched env; ``copy=False`` hands out the env's own buffers (fastest)."""

    def row(seconds: float) -> Row:
        import gymnasium as gym

        import krazy_gym  # noqa: F401

        envs = gym.make_vec(KW_HARD, num_envs=num_envs, copy=copy)
        tasks = envs.unwrapped.sample_tasks(num_envs, split="train", seed=0)
        envs.reset(seed=0, options={"task": tasks})
        actions = np.random.default_rng(0).integers(0, 4, size=(64, num_envs))
        reps = max(1, 20_000 // num_envs)
        k = [0]

        def run() -> int:
            step = envs.step
            for _ in range(reps):
                step(actions[k[0] % 64])
                k[0] += 1
            return reps * num_envs

        run()
        steps, wall, cpu = _timed(run, seconds)
        envs.close()
        suffix = "" if copy else ", copy=False"
        return Row(f"krazy_world batched, {num_envs:>4} envs (Hard, local onehot{suffix})", steps, wall, cpu)

    return row


def maze_batched(num_envs: int) -> Callable[[float], Row]:
    """Native batched ``KrazyGym/Maze-v0`` (10x10 cells, local view), one task per env."""

    def row(seconds: float) -> Row:
        import gymnasium as gym

        import krazy_gym  # noqa: F401

        envs = gym.make_vec("KrazyGym/Maze-v0", num_envs=num_envs)
        tasks = envs.unwrapped.sample_tasks(num_envs, split="train", seed=0)
        envs.reset(seed=0, options={"task": tasks})
        actions = np.random.default_rng(0).integers(0, 4, size=(64, num_envs))
        reps = max(1, 20_000 // num_envs)
        k = [0]

        def run() -> int:
            step = envs.step
            for _ in range(reps):
                step(actions[k[0] % 64])
                k[0] += 1
            return reps * num_envs

        run()
        steps, wall, cpu = _timed(run, seconds)
        envs.close()
        return Row(f"maze batched, {num_envs:>4} mazes (10x10 cells, local view)", steps, wall, cpu)

    return row


def minigrid_single(seconds: float) -> Row:
    import minigrid  # noqa: F401  (registers the MiniGrid ids)

    return single_env_row(MINIGRID_ID, f"minigrid {MINIGRID_ID} single env, gym.make", seconds)


#: section name -> row functions, run in this order
SECTIONS: dict[str, list[Callable[[float], Row]]] = {
    "krazy_world": [
        krazy_world_single,
        krazy_world_batched(1),
        krazy_world_batched(64),
        krazy_world_batched(1024),
        krazy_world_batched(4096),
        krazy_world_batched(4096, copy=False),
    ],
    "maze": [maze_batched(1), maze_batched(64), maze_batched(1024), maze_batched(4096)],
    "minigrid": [minigrid_single],
}


def machine_lines() -> list[str]:
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import gymnasium
    import numba

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return [
        f"machine: {model}; {os.cpu_count()} logical cores; load average {load}",
        f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
        f"gymnasium {gymnasium.__version__}; pinned to core {sorted(os.sched_getaffinity(0))}, "
        f"NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']}",
    ]


def _fresh_python(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def import_and_cache_lines() -> list[str]:
    imp = min(
        _fresh_python("import time; t = time.perf_counter(); import krazy_gym; print(time.perf_counter() - t)")
        for _ in range(3)
    )
    base = min(
        _fresh_python(
            "import time; t = time.perf_counter(); import numpy, gymnasium; print(time.perf_counter() - t)"
        )
        for _ in range(3)
    )
    make = _fresh_python(
        "import time, gymnasium as gym, krazy_gym; t = time.perf_counter();"
        f"env = gym.make('{KW_HARD}'); env.reset(seed=0); env.step(0);"
        f"v = gym.make_vec('{KW_HARD}', num_envs=2); v.reset(seed=0); v.step(v.action_space.sample());"
        "print(time.perf_counter() - t)"
    )
    from krazy_gym.krazy_world import engine

    cache_dir = os.path.join(os.path.dirname(engine.__file__), "__pycache__")
    index_files = [f for f in os.listdir(cache_dir) if f.startswith("engine.") and f.endswith(".nbi")]
    return [
        f"import krazy_gym: {imp:.3f} s (best of 3 fresh processes; numpy + gymnasium alone: {base:.3f} s)",
        f"numba cache: {len(index_files)} kernel index files in {cache_dir}; first single + vector env "
        f"made and stepped in a fresh process: {make:.2f} s",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per row (default 3)")
    parser.add_argument(
        "--rows", nargs="*", choices=sorted(SECTIONS), default=sorted(SECTIONS),
        help="sections to run (default: all)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be > 0")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    for line in machine_lines():
        print(line, flush=True)
    for line in import_and_cache_lines():
        print(line, flush=True)
    rows: dict[str, Row] = {}
    for section in SECTIONS:
        if section not in args.rows:
            continue
        for fn in SECTIONS[section]:
            row = fn(args.seconds)
            rows[row.name] = row
            print(f"{row.name:<72} {row.cpu_rate:>14,.0f} steps/s (CPU)  {row.wall_rate:>14,.0f} steps/s (wall)", flush=True)
    single = next((r for n, r in rows.items() if n.startswith("krazy_world single")), None)
    batched = next((r for n, r in rows.items() if "4096 envs" in n), None)  # the default (copy=True)
    peer = next((r for n, r in rows.items() if n.startswith("minigrid")), None)
    if single and peer:
        print(f"ratio krazy_world single / minigrid single: {single.cpu_rate / peer.cpu_rate:.1f}x (CPU), "
              f"{single.wall_rate / peer.wall_rate:.1f}x (wall)")  # fmt: skip
    if batched and peer:
        print(f"ratio krazy_world batched 4096 / minigrid single: {batched.cpu_rate / peer.cpu_rate:,.0f}x (CPU)")
    if batched and single:
        print(f"ratio krazy_world batched 4096 / krazy_world single: {batched.cpu_rate / single.cpu_rate:.1f}x (CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
