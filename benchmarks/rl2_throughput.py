"""RL² training throughput on the Bernoulli bandit (5 arms, 10 pulls per trial), and where the
time goes.

Prints, for a GRU of ``--hidden`` units and ``--trials`` lockstep trials per iteration:

* ``train``: env-steps per second of whole training iterations (sampling + PPO update), the
  figure the RL² issue asks for (target ≥ 50,000 with a 256-unit GRU on 2 cores), and per
  CPU-second of the process (less sensitive to the machine's other jobs);
* ``sample``/``update``: the split of an iteration between rollout and PPO update;
* ``gru step`` / ``env step``: time of one batched GRU step vs one native vectorised bandit
  step (the rollout's two parts);
* ``TrialVectorWrapper``: env-steps per second of the generic path (gymnasium sync vector env
  of single bandit envs + :class:`krazy_gym.wrappers.TrialVectorWrapper`, random actions, no
  network), to show why the native sampler exists.

Example::

    python benchmarks/rl2_throughput.py --workers 2 --threads 1 --hidden 256 --trials 1024
    python benchmarks/rl2_throughput.py --workers 1 --threads 2 ...   # OpenMP instead of workers
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baselines import rl2  # noqa: E402


def _best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--trials", type=int, default=1024, help="lockstep trials per iteration")
    ap.add_argument("--pulls", type=int, default=10, help="episodes (pulls) per trial")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--workers", type=int, default=2,
                    help="worker threads sharing the trials (Config.workers; needs --threads 1)")
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--ppo-epochs", type=int, default=1)
    ap.add_argument("--minibatches", type=int, default=1)
    ap.add_argument("--wrapper-envs", type=int, default=256, help="0 skips the generic-path line")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# {platform.machine()} {os.cpu_count()} cpus, load avg {load:.1f}, torch "
          f"{torch.__version__}, {args.threads} threads x {args.workers} workers; GRU "
          f"{args.hidden}, {args.trials} trials "
          f"x {args.pulls} pulls, ppo_epochs {args.ppo_epochs}, minibatches {args.minibatches}")
    config = rl2.Config(
        env_id="KrazyGym/Bandit-v0", hidden_size=args.hidden, trials_per_iteration=args.trials,
        episodes_per_trial=args.pulls, ppo_epochs=args.ppo_epochs, minibatches=args.minibatches,
        task_pool_size=5000, num_threads=args.threads, workers=args.workers,
    )
    run = rl2.Run(config)
    run.iteration()  # warm-up
    steps = sample = update = 0.0
    c0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(args.iterations):
        m = run.iteration()
        steps += args.trials * args.pulls
        sample += m["sample_seconds"]
        update += m["update_seconds"]
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"train: {steps / wall:,.0f} env-steps/s over {args.iterations} iterations "
          f"({steps:,.0f} steps in {wall:.2f}s; {steps / cpu:,.0f} env-steps per CPU-second, "
          f"load avg after {load_after:.1f})")
    print(f"sample: {sample / wall:.0%} of the time ({steps / sample:,.0f} env-steps/s rollout "
          f"only); update: {update / wall:.0%}")

    # the rollout's two parts, measured separately
    model, sampler = run.model, run.sampler
    x = torch.from_numpy(sampler.reset(args.trials))
    h = model.initial_state(args.trials)
    with torch.inference_mode():
        gru = _best_of(lambda: model.step(x, h), 20)
    acts = np.zeros(args.trials, dtype=np.int64)
    env = _best_of(lambda: sampler.step(acts), 20)
    print(f"gru step: {gru * 1e3:.2f} ms per batched step ({args.trials / gru:,.0f} env-steps/s "
          f"bound); env step (native bandit): {env * 1e3:.3f} ms ({args.trials / env:,.0f} env-steps/s)")

    run.close()
    if args.wrapper_envs > 0:
        from krazy_gym.wrappers import make_trial_vec

        n = args.wrapper_envs
        venv = make_trial_vec("KrazyGym/Bandit-v0", n, args.pulls, vectorization_mode="sync")
        venv.reset(seed=0)
        rng = np.random.default_rng(0)
        actions = rng.integers(0, 5, size=(50, n))
        t = time.perf_counter()
        for a in actions:
            venv.step(a)
        dt = time.perf_counter() - t
        print(f"TrialVectorWrapper (sync, {n} envs, no network): {50 * n / dt:,.0f} env-steps/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
