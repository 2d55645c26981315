"""Time one ProMP iteration with paper defaults and the sampler's throughput.

Prints three lines:

* raw batched env steps/s (``gym.make_vec`` native env, ``num_tasks × episodes_per_task``
  sub-envs, pre-drawn random actions, no policy);
* sampler steps/s with the policy in the loop (one batched forward + action draw per step)
  and its ratio to the raw figure;
* seconds per ProMP iteration (40 tasks × 20 rollouts, pre- and post-update batches, 5 PPO
  steps), split into sampling and optimisation (median of ``--iterations`` after a warm-up).

Usage::

    nice -n 10 python benchmarks/promp_iteration.py --env KrazyGym/KrazyWorld-Hard-v0
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see baselines/train.py (before numpy)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def raw_env_rate(env_id: str, num_envs: int, steps: int) -> float:
    import gymnasium as gym

    import krazy_gym  # noqa: F401
    from baselines.common.sampler import make_vector_env

    envs = make_vector_env(env_id, num_envs)
    tasks = gym.make(env_id).unwrapped.sample_tasks(num_envs // 20 or 1, seed=0)
    envs.set_attr("task", [tasks[i % len(tasks)] for i in range(num_envs)])
    envs.reset(seed=list(range(num_envs)))
    rng = np.random.default_rng(0)
    actions = [rng.integers(0, envs.single_action_space.n, num_envs) for _ in range(steps)]
    t0 = time.perf_counter()
    for a in actions:
        envs.step(a)
    dt = time.perf_counter() - t0
    envs.close()
    return steps * num_envs / dt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="KrazyGym/KrazyWorld-Hard-v0")
    p.add_argument("--iterations", type=int, default=3, help="timed iterations after warm-up")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from baselines.common.policies import expand_params
    from baselines.promp import Config, ProMP

    cfg = Config.paper(args.env)
    cfg = Config(**{**cfg.__dict__, "algo": "promp", "progress": False})
    n_envs = cfg.num_tasks * cfg.episodes_per_task
    print(
        f"# {platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}, torch threads {args.threads}",
        flush=True,
    )
    raw = raw_env_rate(args.env, n_envs, 200)
    print(f"raw batched env: {raw:,.0f} steps/s ({n_envs} sub-envs, random actions)", flush=True)

    learner = ProMP(cfg)
    tasks = learner.sample_tasks()
    theta = {k: v.detach() for k, v in learner.policy.parameters_dict().items()}
    params = expand_params(theta, cfg.num_tasks)
    learner.sampler.sample(learner.policy, params, tasks, learner.rng, learner.torch_gen)  # warm-up
    rates, sub_rates = [], []
    for _ in range(3):
        before, sub_before = learner.sampler.env_steps, learner.sampler.sub_env_steps
        t0 = time.perf_counter()
        learner.sampler.sample(learner.policy, params, tasks, learner.rng, learner.torch_gen)
        dt = time.perf_counter() - t0
        rates.append((learner.sampler.env_steps - before) / dt)
        sub_rates.append((learner.sampler.sub_env_steps - sub_before) / dt)
    rate, sub_rate = statistics.median(rates), statistics.median(sub_rates)
    print(
        f"sampler with policy: {sub_rate:,.0f} sub-env steps/s = {100 * sub_rate / raw:.0f}% of raw "
        f"({rate:,.0f} steps/s counting only steps of unfinished episodes; incl. resets)",
        flush=True,
    )

    learner.iteration()  # warm-up
    samp, opt, steps = [], [], []
    for _ in range(args.iterations):
        before = learner.sampler.env_steps
        stats = learner.iteration()
        samp.append(stats["time_sampling"])
        opt.append(stats["time_optimization"])
        steps.append(learner.sampler.env_steps - before)
    s, o = statistics.median(samp), statistics.median(opt)
    print(
        f"ProMP iteration ({args.env}, {cfg.num_tasks} tasks x {cfg.episodes_per_task} rollouts, "
        f"{cfg.ppo_steps} PPO steps): {s + o:.2f} s = sampling {s:.2f} s + optimisation {o:.2f} s "
        f"(median of {args.iterations}; {statistics.median(steps):,.0f} real env steps per "
        f"iteration, pre + post, early iterations from a fresh policy)",
        flush=True,
    )
    learner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
