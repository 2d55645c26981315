"""Throughput of the native MuJoCo vector env against a bare ``mj_step`` loop, and of the sampler.

For each family (default HalfCheetahDir and AntDir), in one process:

* ``bare``: one ``MjData`` of the family's model stepped by
  ``data.ctrl[:] = a; mujoco.mj_step(model, data, nstep=frame_skip)`` on one core, reset
  (gymnasium's reset) every ``horizon`` steps, pre-drawn random actions: the physics alone;
* ``vector, T threads``: ``gym.make_vec(id, num_envs=N, num_threads=T)`` (default N = 800,
  ProMP's 40 tasks x 20 rollouts) stepped with pre-drawn random actions, automatic resets
  included, for T = 1 and 2.

The configurations run in interleaved rounds (bare, 1 thread, 2 threads, bare, ...) of
``--seconds`` each, so that load from other processes hits all of them alike; the ratio
lines give the median over rounds of (vector rate / bare rate of the same round), against
the targets (>= 0.8x with one thread, >= 1.5x with two).

Then the meta-sampler (``MetaSampler.sample``: the policy in the loop, one batched forward
per step for all N envs, trajectories stored) on ``--sampler-families``: 40 tasks x 20
rollouts x 100 steps with a fresh (64, 64) Gaussian policy, as a fraction of its own vector
env's raw rate (a seeded reset + 100 steps, measured just before: with uniform random actions,
and with the sampler's own env actions replayed open loop, whose physics costs more) and of
the bare loop.

    nice python benchmarks/mujoco_vector.py
    nice python benchmarks/mujoco_vector.py --families HalfCheetahDir --rounds 3 --seconds 1

The whole ProMP iteration on HalfCheetahDir is ``benchmarks/promp_iteration.py --env
KrazyGym/HalfCheetahDir-v0 --num-threads 2``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # single-threaded BLAS (before numpy)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages

import gymnasium as gym  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402

import krazy_gym  # noqa: E402,F401
from benchmarks.mujoco_overhead import machine_info  # noqa: E402

THREADS = (1, 2)
TARGETS = {1: 0.8, 2: 1.5}


def _rate(run, seconds: float) -> tuple[float, float]:
    """(wall, CPU) env-steps/s of ``run()`` (returns env steps) repeated for ``seconds``."""
    steps = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall0 < seconds:
        steps += run()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return steps / wall, steps / max(cpu, 1e-9)


class Bare:
    """One ``MjData`` of ``env_id``'s model stepped with ``mj_step``; reset every ``horizon``."""

    def __init__(self, env_id: str, horizon: int, actions: np.ndarray) -> None:
        self.env = gym.make(env_id).unwrapped
        self.env.reset(seed=0)
        self.model, self.data = self.env.model, self.env.data
        self.nstep, self.horizon = int(self.env.frame_skip), horizon
        self.actions = actions.astype(np.float64)
        self.k = 0

    def run(self, steps: int = 200) -> int:
        model, data, nstep, actions = self.model, self.data, self.nstep, self.actions
        for _ in range(steps):
            data.ctrl[:] = actions[self.k % len(actions)]
            mujoco.mj_step(model, data, nstep=nstep)
            self.k += 1
            if self.k % self.horizon == 0:
                self.env.reset()
        return steps


class Vector:
    """``gym.make_vec(env_id, num_envs=n, num_threads=threads)`` stepped with random actions."""

    def __init__(self, env_id: str, n: int, threads: int, actions: np.ndarray) -> None:
        self.envs = gym.make_vec(env_id, num_envs=n, num_threads=threads)
        self.envs.reset(seed=0)
        self.actions = actions.astype(np.float32)  # (T, n, nu)
        self.n, self.k = n, 0

    def run(self) -> int:
        self.envs.step(self.actions[self.k % len(self.actions)])
        self.k += 1
        return self.n


def physics_rows(env_id: str, n: int, rounds: int, seconds: float) -> dict[str, float]:
    horizon = gym.spec(env_id).max_episode_steps
    probe = gym.make(env_id)
    space = probe.action_space
    probe.close()
    rng = np.random.default_rng(0)
    actions = rng.uniform(space.low, space.high, size=(50, n, *space.shape))
    configs = {"bare": Bare(env_id, horizon, actions.reshape(-1, *space.shape))}
    for t in THREADS:
        configs[f"vector{t}"] = Vector(env_id, n, t, actions)
    for config in configs.values():  # warm-up
        _rate(config.run, 0.2)
    rates: dict[str, list[tuple[float, float]]] = {k: [] for k in configs}
    for _ in range(rounds):
        for key, config in configs.items():
            rates[key].append(_rate(config.run, seconds))
    labels = {"bare": "bare mj_step loop, 1 MjData, 1 core"}
    labels.update({f"vector{t}": f"vector env, {n} envs, {t} thread{'s' * (t > 1)}" for t in THREADS})
    for key, values in rates.items():
        walls = [w for w, _ in values]
        cpu = statistics.median(c for _, c in values)
        print(f"{env_id:28s} {labels[key]:38s} best {max(walls):>9,.0f}  median "
              f"{statistics.median(walls):>9,.0f} env-steps/s (wall) | {cpu:>9,.0f} per CPU-s",
              flush=True)
    medians = {}
    for t in THREADS:
        ratios = [v[0] / b[0] for v, b in zip(rates[f"vector{t}"], rates["bare"])]
        ratio = statistics.median(ratios)
        medians[f"vector{t}"] = statistics.median(w for w, _ in rates[f"vector{t}"])
        verdict = "met" if ratio >= TARGETS[t] else "NOT met"
        print(f"ratio {env_id} {t} thread{'s' * (t > 1)}: {ratio:.2f}x the bare single-core "
              f"mj_step loop (median of {rounds} rounds, range {min(ratios):.2f}-{max(ratios):.2f};"
              f" target >= {TARGETS[t]}x: {verdict})", flush=True)
    medians["bare"] = statistics.median(w for w, _ in rates["bare"])
    for config in configs.values():
        if isinstance(config, Vector):
            config.envs.close()
        else:
            config.env.close()
    return medians


def _raw_rate(envs, rng: np.random.Generator, actions: np.ndarray) -> float:
    """env-steps/s of a seeded reset of every env followed by ``actions`` (T, N, nu)."""
    n = envs.num_envs
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=n)]
    start = time.perf_counter()
    envs.reset(seed=seeds)
    for a in actions:
        envs.step(a)
    return len(actions) * n / (time.perf_counter() - start)


def sampler_rows(env_id: str, rounds: int, bare_rate: float) -> None:
    import torch

    from baselines.common.policies import expand_params, make_policy
    from baselines.common.sampler import MetaSampler

    torch.set_num_threads(1)
    k, e, horizon = 40, 20, 100
    for t in THREADS:
        sampler = MetaSampler(env_id, k, e, 0, "auto", horizon, num_threads=t)
        torch.manual_seed(0)
        policy = make_policy(sampler.obs_space, sampler.action_space, (64, 64), "tanh", 1.0)
        theta = expand_params({n: p.detach() for n, p in policy.parameters_dict().items()}, k)
        tasks = sampler.envs.unwrapped.sample_tasks(k, "train", seed=0)
        rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
        batch = sampler.sample(policy, theta, tasks, rng, gen)  # warm-up, tasks assigned
        envs, space = sampler.envs, sampler.action_space
        # the policy's own env actions (K, E, T, nu) -> (T, N, nu), replayed open loop: the
        # physics of small policy actions costs more than that of uniform random ones
        replay = np.moveaxis(sampler.adapt_action(batch.actions).reshape(k * e, horizon, -1), 1, 0)
        act_rng = np.random.default_rng(1)
        samp, raw, raw_policy, times = [], [], [], []

        for _ in range(rounds):
            actions = act_rng.uniform(space.low, space.high, size=(horizon, k * e, *space.shape))
            raw.append(_raw_rate(envs, act_rng, actions.astype(np.float32)))
            raw_policy.append(_raw_rate(envs, act_rng, replay))
            before = sampler.env_steps
            start = time.perf_counter()
            sampler.sample(policy, theta, tasks, rng, gen)
            elapsed = time.perf_counter() - start
            times.append(elapsed)
            samp.append((sampler.env_steps - before) / elapsed)
        s, r, rp = statistics.median(samp), statistics.median(raw), statistics.median(raw_policy)
        print(f"sampler {env_id} {t} thread{'s' * (t > 1)}: {k} tasks x {e} rollouts x {horizon} "
              f"steps in {statistics.median(times):.2f} s = {s:,.0f} env-steps/s (median of "
              f"{rounds}) = {s / r:.2f} of its vector env's raw rate with random actions "
              f"({r:,.0f}/s: reset + {horizon} steps), {s / rp:.2f} of it with the policy's "
              f"actions replayed ({rp:,.0f}/s), {s / bare_rate:.2f}x the bare single-core loop",
              flush=True)
        sampler.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", nargs="*", default=["HalfCheetahDir", "AntDir"])
    p.add_argument("--sampler-families", nargs="*", default=["HalfCheetahDir"])
    p.add_argument("--envs", type=int, default=800, help="vector env size (default 800)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--seconds", type=float, default=2.0, help="seconds per config per round")
    p.add_argument("--sampler-rounds", type=int, default=3)
    args = p.parse_args(argv)
    if args.envs < 1 or args.rounds < 1 or args.seconds <= 0 or args.sampler_rounds < 1:
        p.error("--envs, --rounds and --sampler-rounds must be >= 1, --seconds > 0")
    for line in machine_info():
        print(line)
    print(f"usable cores: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}"
          f" | batch: {args.envs} envs | {args.rounds} interleaved rounds x {args.seconds} s per "
          f"config | rates: wall-clock env-steps/s", flush=True)
    bare = {}
    for family in args.families:
        bare[family] = physics_rows(f"KrazyGym/{family}-v0", args.envs, args.rounds, args.seconds)["bare"]
    for family in args.sampler_families:
        env_id = f"KrazyGym/{family}-v0"
        if family not in bare:
            bare[family] = physics_rows(env_id, args.envs, 1, args.seconds)["bare"]
        sampler_rows(env_id, args.sampler_rounds, bare[family])
    return 0


if __name__ == "__main__":
    sys.exit(main())
