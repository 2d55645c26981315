"""Hand-designed reference strategies on the RL² tabular-MDP problem (10 episodes × 10 steps).

Scores, on the same held-out test tasks as ``benchmarks/learn_rl2.py --problem tabular10``
(``split="test"``), the trial return of strategies whose figures put the RL² anchor (≥ 150;
paper RL² 156.2, random 100.1) in context:

* ``random``: uniform actions.
* ``greedy``: certainty equivalence: before every step, plan the rest of the episode by
  finite-horizon value iteration on the posterior-mean MDP and act greedily. The posterior uses
  the family's prior: ``mu ~ N(1, 1)`` with unit reward noise gives the posterior mean
  ``(1 + sum r) / (1 + n)``; ``P[s, a] ~ Dirichlet(1)`` gives ``(1 + c(s, a, s')) / (S + n)``.
* ``myopic``: as greedy, but planning one step only: the action with the highest posterior
  mean reward in the current state (untried actions count at the prior mean 1). It needs no
  transition model, only 50 running reward averages, and scores as much as the planner here.
* ``last``: as myopic, but each (s, a) is valued at the *last* reward it gave (no averaging):
  the memory a recurrent network can most easily keep, one overwritten number per (s, a).
* ``episodic``: myopic with a memory that is cleared at every episode start, i.e. no learning
  across the episodes of a trial (what a memoryless-across-episodes agent can reach).
* ``optimistic c``: as greedy, with ``c / sqrt(1 + n)`` added to each (s, a)'s posterior mean
  reward (a UCB-style bonus; posterior std of the mean is ``1 / sqrt(1 + n)``).
* ``oracle``: the true MDP's optimal 10-step policy in every episode (an upper bound no
  learner reaches).

The trials are simulated in lockstep in numpy with one explicit generator (``--seed``), the
same dynamics as :class:`baselines.common.trial_sampler.TabularMDPTrials`.

Usage::

    python benchmarks/tabular_reference.py --trials 4000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EPISODES, HORIZON = 10, 10


def posterior_mean_reward(reward_sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Posterior mean of each (s, a)'s mean reward under the family's prior ``mu ~ N(1, 1)``
    with unit reward noise: ``(1 + sum r) / (1 + n)`` (the prior mean 1 where untried)."""
    return (1.0 + reward_sums) / (1.0 + counts)


def plan(means: np.ndarray, trans: np.ndarray, steps: int) -> np.ndarray:
    """Q-values ``[B, S, A]`` of the optimal ``steps``-step policy (``steps >= 1``) of the MDPs
    (means, trans), by finite-horizon value iteration."""
    q = means
    for _ in range(steps - 1):
        q = means + np.einsum("bsaz,bz->bsa", trans, q.max(-1))
    return q


def run(
    strategy: str, bonus: float, means_true: np.ndarray, trans_true: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Trial returns ``[B]`` of ``strategy`` ("random", "greedy" with optimism ``bonus``,
    "myopic", "last", "episodic" or "oracle") on the tasks (means_true, trans_true)."""
    b, n_s, n_a = means_true.shape
    rows = np.arange(b)
    cdf = np.cumsum(trans_true, axis=-1)
    cdf[..., -1] = 1.0
    counts = np.zeros((b, n_s, n_a))
    reward_sums = np.zeros((b, n_s, n_a))
    trans_counts = np.zeros((b, n_s, n_a, n_s))
    last_reward = np.ones((b, n_s, n_a))  # the prior mean where untried
    total = np.zeros(b)
    oracle_q = {k: plan(means_true, trans_true, k) for k in range(1, HORIZON + 1)}
    for _ in range(EPISODES):
        if strategy == "episodic":  # forget everything seen in earlier episodes
            counts[:] = 0.0
            reward_sums[:] = 0.0
        state = np.zeros(b, dtype=np.int64)
        for t in range(HORIZON):
            left = HORIZON - t
            if strategy == "random":
                action = rng.integers(0, n_a, size=b)
            elif strategy == "oracle":
                action = oracle_q[left][rows, state].argmax(-1)
            elif strategy in ("myopic", "episodic"):  # one step: the posterior-mean reward
                action = posterior_mean_reward(reward_sums[rows, state],
                                               counts[rows, state]).argmax(-1)
            elif strategy == "last":
                action = last_reward[rows, state].argmax(-1)
            else:
                mean_post = posterior_mean_reward(reward_sums, counts)
                mean_post = mean_post + bonus / np.sqrt(1.0 + counts)
                trans_post = (1.0 + trans_counts) / (n_s + counts[..., None])
                q = plan(mean_post, trans_post, left)
                action = q[rows, state].argmax(-1)
            reward = means_true[rows, state, action] + rng.standard_normal(b)
            nxt = (cdf[rows, state, action] <= rng.random(b)[:, None]).sum(-1)
            counts[rows, state, action] += 1
            reward_sums[rows, state, action] += reward
            last_reward[rows, state, action] = reward
            trans_counts[rows, state, action, nxt] += 1
            total += reward
            state = nxt
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=4000, help="trials per strategy")
    ap.add_argument("--test-tasks", type=int, default=1000, help="held-out tasks drawn from")
    ap.add_argument("--bonus", type=float, nargs="*", default=[0.5, 1.0, 2.0],
                    help="optimism weights c to try")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import gymnasium as gym

    import krazy_gym  # noqa: F401  (registers the ids)

    env = gym.make("KrazyGym/TabularMDP-v0")
    tasks = env.unwrapped.sample_tasks(args.test_tasks, split="test")
    means = np.asarray([t.reward_means for t in tasks], dtype=np.float64)
    trans = np.asarray([t.transitions for t in tasks], dtype=np.float64)
    rng = np.random.default_rng(args.seed)
    pick = rng.integers(0, len(tasks), size=args.trials)
    # (label, strategy, optimism bonus); "optimistic" is the greedy planner with a bonus
    strategies = [("random", "random", 0.0), ("greedy", "greedy", 0.0),
                  ("myopic", "myopic", 0.0), ("last", "last", 0.0),
                  ("episodic", "episodic", 0.0)]
    strategies += [(f"optimistic c={c:g}", "greedy", c) for c in args.bonus]
    strategies += [("oracle", "oracle", 0.0)]
    print(f"# tabular MDP, {EPISODES} episodes x {HORIZON} steps per trial, {args.trials} trials "
          f"on {args.test_tasks} held-out test tasks (paper: RL² 156.2, random 100.1)")
    for label, strategy, bonus in strategies:
        returns = run(strategy, bonus, means[pick], trans[pick],
                      np.random.default_rng([args.seed, 1]))
        sem = returns.std() / np.sqrt(len(returns))
        print(f"{label:<18} trial return {returns.mean():7.2f} ± {sem:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
