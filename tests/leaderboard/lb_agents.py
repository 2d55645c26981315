"""Scripted bandit agents for the leaderboard tests (importable as ``lb_agents:<factory>``).

They give the tests real results files with a known ranking on the ``Bandit`` benchmark:
``greedy_agent`` (pull every arm once, then the best arm seen so far) earns more than the
uniform random agent, and ``anti_greedy_agent`` (the same, but then the *worst* arm seen)
earns less. Both are deterministic: ties go to the lowest arm index.
"""

from __future__ import annotations

import numpy as np


class _EmpiricalBanditAgent:
    """Tracks pulls and wins per row and arm; ``pick`` chooses among the tried arms."""

    name = "empirical"

    def reset(self, num_tasks: int, observation_space, action_space) -> None:
        self.k = int(action_space.n)
        self.pulls = np.zeros((num_tasks, self.k))
        self.wins = np.zeros((num_tasks, self.k))

    def pick(self, estimates: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def act(self, obs: np.ndarray) -> np.ndarray:
        untried = self.pulls == 0
        first_untried = np.argmax(untried, axis=1)
        estimates = self.wins / np.maximum(self.pulls, 1)
        return np.where(untried.any(axis=1), first_untried, self.pick(estimates)).astype(np.int64)

    def observe(self, obs, action, reward, next_obs, terminated, truncated) -> None:
        rows = np.arange(self.pulls.shape[0])
        action = np.asarray(action, dtype=np.int64)
        done = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
        # idle rows (finished their episodes) report terminated = truncated = False: skip them
        self.pulls[rows[done], action[done]] += 1
        self.wins[rows[done], action[done]] += np.asarray(reward, dtype=np.float64)[done]

    def adapt(self) -> None:
        return None


class GreedyBanditAgent(_EmpiricalBanditAgent):
    name = "greedy-explorer"

    def pick(self, estimates: np.ndarray) -> np.ndarray:
        return np.argmax(estimates, axis=1)


class AntiGreedyBanditAgent(_EmpiricalBanditAgent):
    name = "anti-greedy"

    def pick(self, estimates: np.ndarray) -> np.ndarray:
        return np.argmin(estimates, axis=1)


def greedy_agent() -> GreedyBanditAgent:
    return GreedyBanditAgent()


def anti_greedy_agent() -> AntiGreedyBanditAgent:
    return AntiGreedyBanditAgent()
