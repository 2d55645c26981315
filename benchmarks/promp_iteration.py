"""Time one ProMP iteration with paper defaults and the sampler's throughput.

Prints, after a header line (machine, load, torch threads):

* ``raw env, steps only``: the native batched env (``gym.make_vec``, ``num_tasks ×
  episodes_per_task`` sub-envs, the sampler's own env instance and tasks) stepped with
  pre-drawn random actions, no policy, no resets;
* ``raw env, sampler's env work``: the same env doing exactly the env work of one sampler
  batch: ``reset`` with one seed per sub-env, then as many steps as the sampler's batches take
  (they run until every episode has ended), random actions, no policy;
* ``raw env + policy, bare loop``: the sampler's env work again, but each step's actions come
  from the policy (pre-update θ, shared: ``policy(obs)``, then a softmax and one multinomial
  draw, or for Box actions mean + std · noise mapped onto the bounds by the sampler's
  ``ActionAdapter``) as a user's plain ``obs -> policy -> envs.step`` loop would get them: no
  storage, no masking, no per-task parameters. This is the ceiling any sampler with this
  policy can reach;
* ``sampler``: ``MetaSampler.sample`` (the same env + the torch policy + storing the
  trajectories) with the pre-update θ (shared by all tasks) and with adapted per-task θ'; its
  sub-env steps/s and the ratio to the raw figures (the env alone, and the env with the policy
  in a bare loop);
* seconds per ProMP iteration (40 tasks × 20 rollouts, pre- and post-update batches, 5 PPO
  steps), split into sampling (``collect``: tasks, both batches, advantages, inner step) and
  optimisation (``outer_update``), median of ``--iterations`` after a warm-up.

Every figure is given in process CPU time and in wall-clock time. On a shared machine the wall
time mostly measures the other jobs (the load average is in the header); the CPU time is what
the work costs (torch threads ``--threads``, single-threaded BLAS; the MuJoCo vector env's
physics runs on ``--num-threads`` threads, whose CPU time adds up). The throughput
measurements alternate (raw, sampler, raw, ...) so that both see the same load.

Usage::

    nice -n 10 python benchmarks/promp_iteration.py --env KrazyGym/KrazyWorld-Hard-v0
    nice -n 10 python benchmarks/promp_iteration.py --env KrazyGym/HalfCheetahDir-v0 --num-threads 2
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see baselines/train.py (before numpy)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class Clock:
    """CPU and wall seconds of a block: ``with clock: ...``; ``clock.cpu``, ``clock.wall``."""

    def __enter__(self) -> Clock:
        self._c, self._w = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self._c
        self.wall = time.perf_counter() - self._w


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
            check=False,
        )
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="KrazyGym/KrazyWorld-Hard-v0")
    p.add_argument("--iterations", type=int, default=3, help="timed iterations after warm-up")
    p.add_argument("--repeats", type=int, default=5, help="timed sampler/raw batches each")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--num-threads", type=int, default=0,
                   help="MuJoCo vector env physics threads (0: every usable core)")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from baselines.common.policies import expand_params
    from baselines.promp import Config, ProMP

    cfg = Config.paper(args.env)
    cfg = Config(**{**cfg.__dict__, "algo": "promp", "progress": False,
                    "torch_threads": args.threads, "num_threads": args.num_threads})
    n_envs = cfg.num_tasks * cfg.episodes_per_task
    learner = ProMP(cfg)
    sampler = learner.sampler
    envs = sampler.envs
    physics = getattr(envs.unwrapped, "num_threads", None)
    print(
        f"# {platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}, torch {torch.__version__}, "
        f"torch threads {args.threads}, env {type(envs.unwrapped).__name__}"
        + (f" with {physics} physics threads" if physics else "")
        + f", {n_envs} sub-envs, commit {_commit()}",
        flush=True,
    )

    tasks = learner.sample_tasks()
    theta = {k: v.detach() for k, v in learner.policy.parameters_dict().items()}
    shared = expand_params(theta, cfg.num_tasks)
    # per-task θ' as in the post-update batch: one inner step on a pre-update batch
    pre, _, _ = learner.collect()
    adapted = {k: v.detach() for k, v in learner._sampling_params[-1].items()}
    learner._sampling_params = None
    gen_rng, gen_torch = np.random.default_rng(1), torch.Generator().manual_seed(1)
    for params in (shared, adapted):  # warm-up (and tasks assigned once, as in training)
        sampler.sample(learner.policy, params, tasks, gen_rng, gen_torch)

    act_rng = np.random.default_rng(0)
    space = envs.single_action_space
    discrete = hasattr(space, "n")

    def random_actions(steps: int) -> np.ndarray:
        if discrete:
            return act_rng.integers(0, space.n, (steps, n_envs))
        shape = (steps, n_envs, *space.shape)
        return act_rng.uniform(space.low, space.high, size=shape).astype(space.dtype)

    def raw_batch(steps: int, reset: bool) -> int:
        seeds = [int(s) for s in act_rng.integers(0, 2**31 - 1, size=n_envs)]
        actions = random_actions(steps)
        with clock:
            if reset:
                envs.reset(seed=seeds)
            for a in actions:
                envs.step(a)
        return steps * n_envs

    policy = learner.policy
    loop_gen = torch.Generator().manual_seed(2)

    @torch.inference_mode()
    def policy_loop_batch(steps: int) -> int:
        seeds = [int(s) for s in act_rng.integers(0, 2**31 - 1, size=n_envs)]
        with clock:
            obs, _ = envs.reset(seed=seeds)
            for _ in range(steps):
                out = policy(torch.as_tensor(obs, dtype=torch.float32).reshape(n_envs, -1))
                if discrete:
                    probs = torch.softmax(out, dim=-1)
                    actions = torch.multinomial(probs, 1, generator=loop_gen).squeeze(-1).numpy()
                else:
                    mean, log_std = out
                    noise = torch.randn(mean.shape, generator=loop_gen)
                    actions = sampler.adapt_action((mean + log_std.exp() * noise).numpy())
                obs, *_ = envs.step(actions)
        return steps * n_envs

    def sampler_batch(params: dict) -> int:
        before = sampler.sub_env_steps
        with clock:
            sampler.sample(learner.policy, params, tasks, gen_rng, gen_torch)
        return sampler.sub_env_steps - before

    rates: dict[str, list[tuple[float, float]]] = {
        k: [] for k in ("steps_only", "env_work", "policy_loop", "pre", "post")
    }
    clock = Clock()
    batch_steps: list[int] = []
    for _ in range(args.repeats):
        for key, params in (("pre", shared), ("post", adapted)):
            n = sampler_batch(params)
            rates[key].append((n / clock.cpu, n / clock.wall))
            steps = n // n_envs
            batch_steps.append(steps)
            for raw_key, reset in (("env_work", True), ("steps_only", False)):
                m = raw_batch(steps, reset)
                rates[raw_key].append((m / clock.cpu, m / clock.wall))
            m = policy_loop_batch(steps)
            rates["policy_loop"].append((m / clock.cpu, m / clock.wall))
    med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v))
           for k, v in rates.items()}  # fmt: skip
    steps_per_batch = statistics.median(batch_steps)

    def fmt(rate: tuple[float, float]) -> str:
        return f"CPU {rate[0]:>12,.0f} | wall {rate[1]:>12,.0f}"

    print(
        f"raw env, steps only      ({n_envs} sub-envs, random actions, no resets): "
        f"{fmt(med['steps_only'])} steps/s",
        flush=True,
    )
    print(
        f"raw env, sampler's env work (reset with {n_envs} seeds + the sampler's steps, "
        f"~{steps_per_batch:.0f} a batch): {fmt(med['env_work'])} steps/s",
        flush=True,
    )
    print(
        f"raw env + policy, bare loop (the same env work, actions from policy(obs), shared θ): "
        f"{fmt(med['policy_loop'])} steps/s",
        flush=True,
    )
    for key, label in (("pre", "pre-update θ, shared"), ("post", "post-update θ', per task")):
        ratio = [100 * med[key][i] / med["env_work"][i] for i in (0, 1)]
        ratio_steps = [100 * med[key][i] / med["steps_only"][i] for i in (0, 1)]
        ratio_loop = [100 * med[key][i] / med["policy_loop"][i] for i in (0, 1)]
        print(
            f"sampler with policy ({label}): {fmt(med[key])} sub-env steps/s = "
            f"{ratio[0]:.0f}% (CPU) | {ratio[1]:.0f}% (wall) of the raw env's sampler work, "
            f"{ratio_steps[0]:.0f}% | {ratio_steps[1]:.0f}% of steps only, "
            f"{ratio_loop[0]:.0f}% | {ratio_loop[1]:.0f}% of the raw env + policy bare loop",
            flush=True,
        )

    def iteration() -> tuple[float, float, float, float, int]:
        before = sampler.env_steps
        c = Clock()
        with c:
            pre, post, _ = learner.collect()
        s_cpu, s_wall = c.cpu, c.wall
        with c:
            learner.outer_update(pre, post)
        return s_cpu, s_wall, c.cpu, c.wall, sampler.env_steps - before

    iteration()  # warm-up
    runs = [iteration() for _ in range(args.iterations)]
    s_cpu, s_wall, o_cpu, o_wall, steps = (statistics.median(r[i] for r in runs) for i in range(5))
    print(
        f"ProMP iteration ({args.env}, {cfg.num_tasks} tasks x {cfg.episodes_per_task} rollouts, "
        f"{cfg.ppo_steps} PPO steps): CPU {s_cpu + o_cpu:.2f} s = sampling {s_cpu:.2f} s + "
        f"optimisation {o_cpu:.2f} s | wall {s_wall + o_wall:.2f} s = sampling {s_wall:.2f} s + "
        f"optimisation {o_wall:.2f} s (median of {args.iterations}; {steps:,.0f} real env steps "
        f"per iteration, pre + post, early iterations from a fresh policy; "
        f"load avg {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    learner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
