"""Overhead of krazy_gym's MuJoCo meta-task layer over the raw gymnasium v5 env it wraps.

For every MuJoCo id: steps/s of ``gym.make("KrazyGym/...")`` against ``gym.make("<Robot>-v5")``
in the same process, with the same pre-drawn actions and the same wrappers (gym.make's
TimeLimit, OrderEnforcing, PassiveEnvChecker), episodes reset when they end. The two envs
are stepped alternately, each step timed, so that load from other processes hits both
alike; overhead = (our median step time − raw median step time) / raw median step time.
Then ``AsyncVectorEnv`` throughput (wall clock) over 1 and 2 worker processes.

    python benchmarks/mujoco_overhead.py                 # every id, defaults
    python benchmarks/mujoco_overhead.py --ids HalfCheetahDir AntGoal --rounds 7

Target (issue #4): overhead <= 5% of the raw env's step time for every id.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import time

import gymnasium as gym
import mujoco
import numpy as np

import krazy_gym
from krazy_gym.mujoco.base import mujoco_warnings_to_python
from krazy_gym.registration import MUJOCO_IDS

#: krazy_gym family -> the gymnasium env it subclasses
RAW_ID = {
    "HalfCheetahDir": "HalfCheetah-v5",
    "HalfCheetahVel": "HalfCheetah-v5",
    "AntDir": "Ant-v5",
    "AntDir2D": "Ant-v5",
    "AntGoal": "Ant-v5",
    "HumanoidDir": "Humanoid-v5",
    "HumanoidDir2D": "Humanoid-v5",
    "Walker2dDir": "Walker2d-v5",
    "Walker2dVel": "Walker2d-v5",
    "HopperParams": "Hopper-v5",
    "Walker2dParams": "Walker2d-v5",
}
VECTOR_NAMES = ("HalfCheetahDir", "AntDir", "HumanoidDir", "Walker2dParams")


def machine_info() -> list[str]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return [
        f"machine: {platform.platform()} | CPU: {cpu} | cores: {os.cpu_count()} | "
        f"load average (1/5/15 min): {load}",
        f"python {platform.python_version()} | numpy {np.__version__} | gymnasium "
        f"{gym.__version__} | mujoco {mujoco.__version__} | krazy_gym {krazy_gym.__version__}",
    ]


def make_env(env_id: str) -> gym.Env:
    """``gym.make`` without MuJoCo writing MUJOCO_LOG.TXT (gymnasium's half_cheetah.xml warns)."""
    with mujoco_warnings_to_python():
        return gym.make(env_id)


def paired_step_times(
    ours: gym.Env, raw: gym.Env, actions: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-step wall times (ns) of both envs, stepped alternately with the same actions.

    Pairing at the step level means load from other processes, which changes on the scale
    of milliseconds to seconds, hits both envs alike; the order alternates every step. A
    step that ends an episode includes the env's reset (task application included)."""
    times = {"ours": np.empty(len(actions)), "raw": np.empty(len(actions))}
    envs = {"ours": ours, "raw": raw}
    episodes = {"ours": 0, "raw": 0}
    for env in envs.values():
        env.reset(seed=seed)
    clock = time.perf_counter_ns
    for i, action in enumerate(actions):
        for which in ("ours", "raw") if i % 2 else ("raw", "ours"):
            env = envs[which]
            start = clock()
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                episodes[which] += 1
                env.reset(seed=seed + episodes[which])
            times[which][i] = clock() - start
    return times["ours"], times["raw"]


def overhead_row(name: str, steps: int, rounds: int) -> tuple[str, float]:
    ours, raw = make_env(f"KrazyGym/{name}-v0"), make_env(RAW_ID[name])
    space = ours.action_space
    rng = np.random.default_rng(0)
    actions = rng.uniform(space.low, space.high, size=(steps, *space.shape)).astype(np.float32)
    paired_step_times(ours, raw, actions[:50], seed=0)  # warm-up (first reset, caches)
    medians = []
    for r in range(rounds):
        t_ours, t_raw = paired_step_times(ours, raw, actions, seed=1000 * (r + 1))
        medians.append((float(np.median(t_ours)), float(np.median(t_raw))))
    ours.close()
    raw.close()
    # the round least disturbed by other processes: the smallest raw median
    med_ours, med_raw = min(medians, key=lambda m: m[1])
    overhead = 100.0 * (med_ours - med_raw) / med_raw
    line = (
        f"{'KrazyGym/' + name + '-v0':28s} {RAW_ID[name]:15s} {1e9 / med_raw:10.0f} "
        f"{1e9 / med_ours:10.0f} {med_raw / 1e3:9.1f} {med_ours / 1e3:9.1f} {overhead:+8.1f}%"
    )
    return line, overhead


def vector_row(name: str, workers: int, steps: int) -> str:
    env_id = f"KrazyGym/{name}-v0"
    envs = gym.vector.AsyncVectorEnv([functools.partial(make_env, env_id)] * workers)
    envs.reset(seed=0)
    envs.action_space.seed(0)
    actions = [envs.action_space.sample() for _ in range(steps)]
    for action in actions[:20]:  # warm-up
        envs.step(action)
    start = time.perf_counter()
    for action in actions:
        envs.step(action)
    elapsed = time.perf_counter() - start
    envs.close()
    return f"{env_id:28s} workers={workers}  {workers * steps / elapsed:10.0f} env-steps/s"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [i.split("/")[1].removesuffix("-v0") for i in MUJOCO_IDS]
    parser.add_argument("--ids", nargs="+", choices=names, default=names, metavar="FAMILY")
    parser.add_argument("--steps", type=int, default=1000, help="steps per round (default 1000)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--vector-steps", type=int, default=300, help="vector steps per run")
    parser.add_argument("--no-vector", action="store_true", help="skip the AsyncVectorEnv part")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.rounds < 1 or args.vector_steps < 1:
        parser.error("--steps, --rounds and --vector-steps must be >= 1")

    for line in machine_info():
        print(line)
    print(
        f"steps per round: {args.steps}, rounds: {args.rounds}; median step time of each env, "
        "stepped alternately; the round with the fastest raw median is kept"
    )
    print(
        f"{'id':28s} {'raw env':15s} {'raw st/s':>10s} {'ours st/s':>10s} "
        f"{'raw us':>9s} {'ours us':>9s} {'overhead':>9s}"
    )
    worst = -float("inf")
    for name in args.ids:
        line, overhead = overhead_row(name, args.steps, args.rounds)
        worst = max(worst, overhead)
        print(line, flush=True)
    print(f"worst overhead: {worst:+.1f}% (target <= +5.0%)")
    if not args.no_vector:
        print("AsyncVectorEnv throughput:")
        for name in VECTOR_NAMES:
            if name in args.ids:
                for workers in (1, 2):
                    print(vector_row(name, workers, args.vector_steps), flush=True)


if __name__ == "__main__":
    main()
