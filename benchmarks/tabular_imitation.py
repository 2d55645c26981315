"""Can the RL² network represent a good tabular-MDP strategy? Behaviour cloning as a diagnostic.

RL² on the tabular MDP (10 states, 5 actions, 10 episodes of 10 steps) plateaus far below the
paper's 156.2, while the ``myopic`` strategy of ``benchmarks/tabular_reference.py`` (in the
current state, the action with the highest posterior-mean reward so far) scores 157. This script
asks whether the *network* is the bottleneck, with the RL algorithm out of the way: it trains the
same :class:`~baselines.common.recurrent.RecurrentActorCritic` (same TrialWrapper inputs, same
native trial sampler) by supervised learning to imitate the myopic teacher on the teacher's own
trials (cross-entropy on the teacher's action at every step, one GRU call per minibatch), and
every ``--eval-every`` updates plays the cloned network (most likely action) on held-out test
trials. If even a teacher's labels are learned slowly, RL²'s plateau is a property of what the
recurrent network must learn (50 running averages, written and read by state), not of PPO.

Usage::

    python benchmarks/tabular_imitation.py --updates 300 --input-embedding 0
    python benchmarks/tabular_imitation.py --updates 300 --input-embedding 256
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tabular_reference import EPISODES, posterior_mean_reward  # noqa: E402  (this directory)


def teacher_trials(
    sampler, num_trials: int, policy=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``num_trials`` trials of ``sampler``: the network inputs ``[T, B, D]``, the myopic
    teacher's action at every step ``[T, B]`` and the rewards ``[T, B]``. The actions taken are
    the teacher's, or ``policy(inputs, state) -> (actions, state)``'s if given."""
    x = sampler.reset(num_trials)
    rows = np.arange(num_trials)
    n_s, n_a = sampler.n_states, sampler.n_actions
    counts = np.zeros((num_trials, n_s, n_a))
    sums = np.zeros((num_trials, n_s, n_a))
    inputs, labels, rewards = [], [], []
    state = None
    for _ in range(sampler.max_steps):
        s = sampler.state
        teacher = posterior_mean_reward(sums[rows, s], counts[rows, s]).argmax(-1)
        inputs.append(x)
        labels.append(teacher)
        action = teacher
        if policy is not None:
            action, state = policy(x, state)
        result = sampler.step(action)
        counts[rows, s, action] += 1
        sums[rows, s, action] += result.rewards
        rewards.append(result.rewards)
        x = result.inputs
    return np.stack(inputs), np.stack(labels), np.stack(rewards)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=300, help="supervised updates")
    ap.add_argument("--trials", type=int, default=256, help="teacher trials per update")
    ap.add_argument("--hidden-size", type=int, default=256)
    ap.add_argument("--input-embedding", type=int, default=0, help="RecurrentActorCritic option")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam step size")
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--eval-trials", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for name in ("updates", "trials", "hidden_size", "eval_every", "eval_trials"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")

    import gymnasium as gym
    import torch

    import krazy_gym  # noqa: F401  (registers the ids)
    from baselines.common.recurrent import RecurrentActorCritic
    from baselines.common.trial_sampler import TabularMDPTrials

    torch.set_num_threads(1)
    env = gym.make("KrazyGym/TabularMDP-v0")
    train = env.unwrapped.sample_tasks(20000, split="train", seed=args.seed)
    test = env.unwrapped.sample_tasks(1000, split="test")
    train_sampler = TabularMDPTrials(train, EPISODES, np.random.default_rng([args.seed, 1]))
    layout = train_sampler.layout
    model = RecurrentActorCritic(
        layout.input_dim, layout.action_dim, True, args.hidden_size,
        generator=torch.Generator().manual_seed(args.seed), input_embedding=args.input_embedding)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    @torch.inference_mode()
    def greedy_policy(x: np.ndarray, state):
        state = model.initial_state(x.shape[0]) if state is None else state
        logits, _, state = model.step(torch.from_numpy(x), state)
        return logits.argmax(-1).numpy(), state

    def closed_loop() -> tuple[float, float]:
        sampler = TabularMDPTrials(test, EPISODES, np.random.default_rng([args.seed, 2]))
        _, _, rewards = teacher_trials(sampler, args.eval_trials, greedy_policy)
        ret = rewards.sum(0)
        return float(ret.mean()), float(ret.std() / np.sqrt(len(ret)))

    teacher_sampler = TabularMDPTrials(test, EPISODES, np.random.default_rng([args.seed, 2]))
    teacher = teacher_trials(teacher_sampler, args.eval_trials)[2].sum(0)
    print(f"# tabular MDP imitation: hidden {args.hidden_size}, input_embedding "
          f"{args.input_embedding}, lr {args.lr:g}, {args.trials} teacher trials per update, "
          f"torch {torch.__version__}, 1 thread")
    print(f"myopic teacher on {args.eval_trials} held-out trials: {teacher.mean():.2f} ± "
          f"{teacher.std() / np.sqrt(len(teacher)):.2f}", flush=True)
    start = time.perf_counter()
    for update in range(1, args.updates + 1):
        inputs, labels, _ = teacher_trials(train_sampler, args.trials)
        logits, _, _ = model(torch.from_numpy(inputs), model.initial_state(args.trials))
        target = torch.from_numpy(labels)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, layout.action_dim),
                                                 target.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if update % args.eval_every == 0 or update == args.updates:
            accuracy = float((logits.argmax(-1) == target).float().mean())
            mean, sem = closed_loop()
            print(f"update {update:5d}  teacher trials {update * args.trials:>8d}  "
                  f"({update * args.trials * train_sampler.max_steps / 1e6:.1f}M steps)  "
                  f"loss {loss.item():.3f}  label accuracy {accuracy:.3f}  "
                  f"cloned network on held-out trials {mean:.2f} ± {sem:.2f}  "
                  f"[{time.perf_counter() - start:.0f}s]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
