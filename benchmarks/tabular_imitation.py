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

At the end it breaks the clone's label accuracy down by how often the current state was visited
before in the trial (on fresh held-out teacher trials). On a state's first visit the teacher's
label is always action 0 (every action is untried and ties go to the first); on the second it is
action 0 if the one reward seen there exceeded the prior mean 1, else action 1: one remembered bit
per state. ``--episodes 2`` (20-step trials) shows whether that memory is learned at all.

Usage::

    python benchmarks/tabular_imitation.py --updates 300 --input-embedding 0
    python benchmarks/tabular_imitation.py --updates 300 --input-embedding 256
    python benchmarks/tabular_imitation.py --episodes 2 --trials 64 --updates 3000 \
        --eval-every 300 --input-embedding 256
    python benchmarks/tabular_imitation.py --trials 64 --updates 8000 --eval-every 1000 \
        --warmup-episodes 2 --warmup-updates 7000 --input-embedding 256 --weight-init uniform

The last is a curriculum: 2-episode trials until the network has found its state-keyed memory,
then the anchor's 10-episode trials.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tabular_reference import EPISODES, posterior_mean_reward  # noqa: E402  (this directory)


def visits_before(states: np.ndarray) -> np.ndarray:
    """``[T, B]`` how many earlier steps of the same trial were in the state of each step
    (``states`` ``[T, B]`` ints)."""
    steps, num = states.shape
    counts = np.zeros((num, int(states.max()) + 1), dtype=np.int64)
    out = np.empty_like(states)
    cols = np.arange(num)
    for t in range(steps):
        out[t] = counts[cols, states[t]]
        counts[cols, states[t]] += 1
    return out


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
    ap.add_argument("--episodes", type=int, default=EPISODES,
                    help=f"episodes (of 10 steps) per trial (the anchor: {EPISODES})")
    ap.add_argument("--warmup-episodes", type=int, default=0,
                    help="curriculum: the first --warmup-updates updates imitate on trials of this "
                         "many episodes instead (0: no curriculum)")
    ap.add_argument("--warmup-updates", type=int, default=0,
                    help="curriculum: updates on --warmup-episodes trials (counted in --updates)")
    ap.add_argument("--hidden-size", type=int, default=256)
    ap.add_argument("--input-embedding", type=int, default=0, help="RecurrentActorCritic option")
    ap.add_argument("--weight-init", choices=("orthogonal", "uniform"), default="orthogonal",
                    help="RecurrentActorCritic option")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam step size")
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--eval-trials", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for name in ("updates", "trials", "episodes", "hidden_size", "eval_every", "eval_trials"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.warmup_episodes < 0 or args.warmup_updates < 0:
        ap.error("--warmup-episodes and --warmup-updates must be >= 0")
    if bool(args.warmup_episodes) != bool(args.warmup_updates):
        ap.error("--warmup-episodes and --warmup-updates go together (both > 0, or both 0)")
    if args.warmup_updates >= args.updates:
        ap.error(f"--warmup-updates must be < --updates ({args.updates}), got {args.warmup_updates}")

    import gymnasium as gym
    import torch

    import krazy_gym  # noqa: F401  (registers the ids)
    from baselines.common.recurrent import RecurrentActorCritic
    from baselines.common.trial_sampler import TabularMDPTrials

    torch.set_num_threads(1)
    env = gym.make("KrazyGym/TabularMDP-v0")
    train = env.unwrapped.sample_tasks(20000, split="train", seed=args.seed)
    test = env.unwrapped.sample_tasks(1000, split="test")
    train_sampler = TabularMDPTrials(train, args.episodes, np.random.default_rng([args.seed, 1]))
    warmup_sampler = (TabularMDPTrials(train, args.warmup_episodes, np.random.default_rng([args.seed, 4]))
                      if args.warmup_episodes else None)
    layout = train_sampler.layout
    model = RecurrentActorCritic(
        layout.input_dim, layout.action_dim, True, args.hidden_size,
        generator=torch.Generator().manual_seed(args.seed), input_embedding=args.input_embedding,
        weight_init=args.weight_init)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    @torch.inference_mode()
    def greedy_policy(x: np.ndarray, state):
        state = model.initial_state(x.shape[0]) if state is None else state
        logits, _, state = model.step(torch.from_numpy(x), state)
        return logits.argmax(-1).numpy(), state

    def closed_loop() -> tuple[float, float]:
        sampler = TabularMDPTrials(test, args.episodes, np.random.default_rng([args.seed, 2]))
        _, _, rewards = teacher_trials(sampler, args.eval_trials, greedy_policy)
        ret = rewards.sum(0)
        return float(ret.mean()), float(ret.std() / np.sqrt(len(ret)))

    teacher_sampler = TabularMDPTrials(test, args.episodes, np.random.default_rng([args.seed, 2]))
    teacher = teacher_trials(teacher_sampler, args.eval_trials)[2].sum(0)
    print(f"# tabular MDP imitation: {args.episodes} episodes per trial, hidden "
          f"{args.hidden_size}, input_embedding {args.input_embedding}, {args.weight_init} "
          f"weights, lr {args.lr:g}, "
          f"{args.trials} teacher trials per update"
          + (f" (the first {args.warmup_updates} on {args.warmup_episodes}-episode trials)"
             if args.warmup_updates else "") + f", torch {torch.__version__}, 1 thread")
    print(f"myopic teacher on {args.eval_trials} held-out trials: {teacher.mean():.2f} ± "
          f"{teacher.std() / np.sqrt(len(teacher)):.2f}", flush=True)
    start = time.perf_counter()
    steps = 0
    for update in range(1, args.updates + 1):
        sampler = warmup_sampler if update <= args.warmup_updates else train_sampler
        inputs, labels, _ = teacher_trials(sampler, args.trials)
        steps += labels.size
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
                  f"({steps / 1e6:.1f}M steps)  loss {loss.item():.3f}  label accuracy "
                  f"{accuracy:.3f} (this update's {sampler.episodes_per_trial}-episode trials)  "
                  f"cloned network on held-out trials {mean:.2f} ± {sem:.2f}  "
                  f"[{time.perf_counter() - start:.0f}s]", flush=True)

    # where the clone disagrees with the teacher: by visits to the current state so far
    sampler = TabularMDPTrials(test, args.episodes, np.random.default_rng([args.seed, 3]))
    inputs, labels, _ = teacher_trials(sampler, args.eval_trials)
    with torch.inference_mode():
        logits, _, _ = model(torch.from_numpy(inputs), model.initial_state(args.eval_trials))
    agree = logits.argmax(-1).numpy() == labels
    visits = visits_before(inputs[:, :, : sampler.n_states].argmax(-1))
    for v in range(6):
        mask = visits == v if v < 5 else visits >= v
        if mask.any():
            print(f"label accuracy on held-out teacher steps whose state was visited "
                  f"{v}{'+' if v == 5 else ''} times before: {agree[mask].mean():.3f} "
                  f"({int(mask.sum())} steps; teacher label = action 0 on "
                  f"{(labels[mask] == 0).mean():.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
