"""RL² / E-RL² learning benchmarks against the RL² paper's anchors (Duan et al. 2016).

Trains with the real training code (:class:`baselines.rl2.Run`, the same loop as
``python -m baselines.train --algo rl2``) and, every ``--eval-every`` iterations, scores the
policy on **held-out test tasks** (``split="test"``) with fresh trials. Prints one line per
evaluation and a final summary line with the best score, the training time (evaluation
excluded) and when the anchor was first reached.

Problems (``--problem``):

* ``bandit5x10``: Bernoulli bandit, 5 arms, 10 pulls per trial; anchor ≥ 6.5 (paper RL² 6.7,
  Gittins 6.6, random 5.0).
* ``bandit5x100``: 5 arms, 100 pulls; anchor ≥ 78 (paper 78.7, Gittins 78.3, random 49.9).
* ``tabular10``: tabular MDP (10 states, 5 actions, 10 steps/episode), 10 episodes per trial;
  anchor ≥ 150 (paper 156.2, random 100.1).
* ``maze``: held-out mazes, 2 episodes per trial: the fraction of trials whose second episode
  is shorter than the first.
* ``krazy-medium``: ``KrazyWorld-Medium``, RL² (``--explore-episodes 0``) or E-RL² (``p > 0``):
  the exploit-episode return on held-out tasks.

Examples (the figures in docs/results.md, section rl2)::

    nice -n 19 python benchmarks/learn_rl2.py --problem bandit5x10 --budget-minutes 15
    python benchmarks/learn_rl2.py --problem tabular10 --workers 1 --budget-minutes 40 \
        --eval-every 10 --eval-trials 1000 --save runs/tab
    python benchmarks/learn_rl2.py --problem tabular10 --workers 1 --budget-minutes 110 \
        --eval-every 10 --eval-trials 1000 --save runs/tab --resume

``--resume`` continues the run saved in ``--save`` bit for bit (weights, optimiser, random
streams, step and time counters; the config must be the same), so a long run can be split into
sessions; its budgets count from the run's start. Evaluation trials after the resume point are
fresh draws, so those lines differ from an uninterrupted run's while the training does not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baselines import rl2  # noqa: E402
from baselines.common.config import apply_overrides, describe_differences  # noqa: E402

PROBLEMS = {
    # name: (env id, config overrides, anchor or None, paper figure text)
    "bandit5x10": ("KrazyGym/Bandit-v0", {}, 6.5, "paper RL² 6.7, Gittins 6.6, random 5.0"),
    # 100-pull trials: the value of exploring pays over ~90 later pulls, so GAE lambda 0.9
    # (0.3 plateaued at ~69: the agent committed to an arm after ~10 pulls), training rewards
    # x0.05 for the shared value head (unscaled, the value loss swamped the policy: 60 after
    # 4.4M steps), many small minibatches over a large batch (2 epochs x 16 minibatches)
    "bandit5x100": ("KrazyGym/Bandit-v0", {"episodes_per_trial": 100, "trials_per_iteration": 1024,
                                           "ppo_epochs": 2, "minibatches": 16, "gae_lambda": 0.9,
                                           "entropy_coef": 0.01, "reward_scale": 0.05},
                    78.0, "paper RL² 78.7, Gittins 78.3, random 49.9"),
    "tabular10": ("KrazyGym/TabularMDP-v0", {}, 150.0, "paper RL² 156.2, random 100.1"),
    "maze": ("KrazyGym/Maze-v0", {"episodes_per_trial": 2, "env_kwargs": '{"size": 5}'}, None,
             "second episode shorter than the first in most trials"),
    "krazy-medium": ("KrazyGym/KrazyWorld-Medium-v0", {}, None, "RL² vs E-RL², equal budget"),
}


#: settings that may differ between a run and its continuation: they change speed, not results
RESUMABLE_CHANGES = ("num_threads", "log_every", "iterations")


def resume_run(run: rl2.Run, run_dir: Path) -> int:
    """Load the checkpoint in ``run_dir`` into ``run`` (weights, optimiser, random streams,
    step and time counters) and return its iteration: training continues bit for bit. Exits
    with code 2 if there is no checkpoint or its config differs from this run's."""
    from baselines.common.checkpoint import CheckpointError, load_checkpoint

    try:
        ckpt = load_checkpoint(run_dir, algo=run.config.algo, env_id=run.config.env_id)
    except CheckpointError as exc:
        print(f"--resume: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    changes = describe_differences(ckpt.config, dataclasses.asdict(run.config),
                                   ignore=RESUMABLE_CHANGES)
    if changes:
        print(f"--resume: the run in {run_dir} was trained with another config: {changes}",
              file=sys.stderr)
        raise SystemExit(2)
    run.load_state(ckpt)
    print(f"# resumed {run_dir} at iteration {ckpt.iteration} ({run.total_steps} env-steps, "
          f"{run.total_time:.1f}s training)")
    return ckpt.iteration


def test_samplers(config: rl2.Config, num_tasks: int, seed: int, sizes: list[int]):
    """One sampler per worker, of the same kind as training's, over the family's held-out test
    tasks (the same tasks for every worker, own random streams)."""
    env_kwargs = json.loads(config.env_kwargs)
    env = rl2._make_single(config.env_id, env_kwargs)
    tasks = env.unwrapped.sample_tasks(num_tasks, split="test")
    return [rl2.make_sampler(config, np.random.default_rng([seed, i]), num_trials=n, pool=tasks)
            for i, n in enumerate(sizes)]


@torch.inference_mode()
def evaluate(run: rl2.Run, samplers, num_trials: int, seed: int) -> dict[str, float]:
    """Mean returns over ``num_trials`` test trials (sampling policy) plus maze statistics."""
    vector = type(samplers[0]).__name__ == "VectorEnvTrials"
    sizes = run.sizes if vector else rl2.split_sizes(num_trials, len(samplers))
    gens = [torch.Generator().manual_seed(seed * 1000 + i) for i in range(len(samplers))]
    returns, first_len, second_len = [], [], []
    per_episode = []
    done = 0
    while done < num_trials:
        batch = rl2.collect_parallel(run.model, samplers, sizes, gens, run.executor)
        returns.append(batch.rewards.sum(0))
        k = run.config.episodes_per_trial
        per_episode.append(torch.stack(
            [(batch.rewards * (batch.episode_index == e)).sum(0) for e in range(k)]))
        lengths = torch.stack([((batch.episode_index == e) * batch.valid).sum(0) for e in range(k)])
        first_len.append(lengths[0])
        second_len.append(lengths[min(1, k - 1)])
        done += sum(sizes)
    ret = torch.cat(returns)
    per_ep = torch.cat(per_episode, dim=1).mean(1)
    f, s = torch.cat(first_len), torch.cat(second_len)
    p = run.config.explore_episodes
    return {
        "trial_return": float(ret.mean()),
        "trial_return_sem": float(ret.std() / np.sqrt(len(ret))),
        "exploit_return": float(per_ep[p:].mean()),
        "first_episode_steps": float(f.float().mean()),
        "second_episode_steps": float(s.float().mean()),
        "second_shorter_fraction": float((s < f).float().mean()),
        "per_episode": [round(float(x), 4) for x in per_ep],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", choices=sorted(PROBLEMS), required=True)
    ap.add_argument("--budget-minutes", type=float, default=15.0, help="training wall time cap")
    ap.add_argument("--iterations", type=int, default=100000, help="iteration cap")
    ap.add_argument("--budget-steps", type=int, default=None, help="env-step cap (equal budgets)")
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument("--eval-trials", type=int, default=2000)
    ap.add_argument("--test-tasks", type=int, default=1000, help="held-out tasks to draw from")
    ap.add_argument("--explore-episodes", type=int, default=0, help="E-RL² p (0 = RL²)")
    ap.add_argument("--final-eval-trials", type=int, default=0,
                    help="score the final policy once more on this many fresh test trials (a "
                         "selection-free figure: the best of many noisy evaluations is biased up)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--workers", type=int, default=2,
                    help="worker threads sharing the trials (Config.workers; needs --threads 1)")
    ap.add_argument("--json", type=Path, default=None, help="write the evaluations here")
    ap.add_argument("--save", type=Path, default=None,
                    help="run directory for the final checkpoint (loadable by the harness)")
    ap.add_argument("--resume", action="store_true",
                    help="continue the run saved in --save (same config; --budget-minutes, "
                         "--budget-steps and --iterations count from the run's start; the "
                         "RESULT line covers this invocation's evaluations)")
    args = ap.parse_args(argv)

    env_id, overrides, anchor, paper = PROBLEMS[args.problem]
    config = rl2.Config.paper(env_id)
    sets = dict(kv.split("=", 1) for kv in args.set)
    algo = "erl2" if args.explore_episodes > 0 else "rl2"
    config = apply_overrides(config, {**overrides, "algo": algo, "seed": args.seed,
                                      "explore_episodes": args.explore_episodes,
                                      "num_threads": args.threads, "workers": args.workers,
                                      **sets})
    torch.set_num_threads(args.threads)
    problem_episodes = apply_overrides(rl2.Config.paper(env_id), overrides).episodes_per_trial
    if anchor is not None and config.episodes_per_trial != problem_episodes:
        # another trial length is another problem: the paper's anchor does not apply
        print(f"# episodes_per_trial {config.episodes_per_trial} != the problem's "
              f"{problem_episodes}: no anchor comparison")
        anchor = None
    print(f"# {args.problem}: {env_id} ({paper}); config {json.dumps(dataclasses.asdict(config))}")
    print(f"# machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads x {config.workers} workers")
    if args.resume and args.save is None:
        ap.error("--resume needs --save RUN (the run directory to continue)")
    run = rl2.Run(config, warm_start=not args.resume)
    it = resume_run(run, args.save) if args.resume else 0
    samplers = test_samplers(config, args.test_tasks, seed=12345, sizes=run.sizes)
    evals = []
    reached = None
    budget = args.budget_minutes * 60.0
    max_steps = args.budget_steps if args.budget_steps is not None else float("inf")
    while it < args.iterations and run.total_time < budget and run.total_steps < max_steps:
        m = run.iteration()
        it += 1
        last = it == args.iterations or run.total_time >= budget or run.total_steps >= max_steps
        if it % args.eval_every == 0 or last:
            ev = evaluate(run, samplers, args.eval_trials, seed=it)
            ev.update(iteration=it, env_steps=run.total_steps, train_seconds=round(run.total_time, 1),
                      train_trial_return=round(m["trial_return"], 4),
                      **{k: round(m[k], 5) for k in ("entropy", "approx_kl", "clip_fraction",
                                                     "value_loss")})
            evals.append(ev)
            hit = anchor is not None and ev["trial_return"] >= anchor
            if hit and reached is None:
                reached = ev
            print(f"it {it:5d}  steps {run.total_steps:>10d}  train {run.total_time:7.1f}s  "
                  f"test trial return {ev['trial_return']:.3f} ± {ev['trial_return_sem']:.3f}  "
                  f"exploit {ev['exploit_return']:.3f}  ep1/ep2 steps {ev['first_episode_steps']:.1f}/"
                  f"{ev['second_episode_steps']:.1f} (2nd shorter {ev['second_shorter_fraction']:.2f})  "
                  f"[entropy {m['entropy']:.3f} kl {m['approx_kl']:.4f} clip {m['clip_fraction']:.3f} "
                  f"vloss {m['value_loss']:.4f}]", flush=True)
    best = max(evals, key=lambda e: e["trial_return"])
    summary = (f"RESULT {args.problem} ({algo}, p={args.explore_episodes}): best test trial return "
               f"{best['trial_return']:.3f} ± {best['trial_return_sem']:.3f} at iteration "
               f"{best['iteration']} ({best['env_steps']} env-steps, {best['train_seconds']}s "
               f"training); final {evals[-1]['trial_return']:.3f}; ")
    if anchor is not None:
        summary += (f"anchor >= {anchor}: " + (
            f"reached after {reached['train_seconds']}s training, {reached['env_steps']} env-steps"
            if reached else "NOT reached") + f" [{paper}]")
    else:
        summary += (f"exploit return {evals[-1]['exploit_return']:.3f}, 2nd episode shorter in "
                    f"{evals[-1]['second_shorter_fraction']:.2f} of trials")
    final = None
    if args.final_eval_trials > 0:
        final = evaluate(run, samplers, args.final_eval_trials, seed=999_999)
        summary_final = (f"FINAL {args.problem}: final policy on {args.final_eval_trials} fresh test "
                         f"trials: {final['trial_return']:.3f} ± {final['trial_return_sem']:.3f} "
                         f"(exploit {final['exploit_return']:.3f}, 2nd episode shorter in "
                         f"{final['second_shorter_fraction']:.2f}) after {run.total_steps} env-steps, "
                         f"{run.total_time:.1f}s training")
        if anchor is not None:
            summary_final += f"; anchor >= {anchor}: " + (
                "reached" if final["trial_return"] >= anchor else "NOT reached")
        summary += "\n" + summary_final
    print(summary, flush=True)
    if args.save is not None:
        from baselines.common.checkpoint import CHECKPOINT_NAME, save_checkpoint

        save_checkpoint(args.save / CHECKPOINT_NAME, run.checkpoint(it))
        print(f"# checkpoint: {args.save / CHECKPOINT_NAME}")
    run.close()
    if args.json is not None:
        args.json.write_text(json.dumps({"config": dataclasses.asdict(config), "evals": evals,
                                         "final": final, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
