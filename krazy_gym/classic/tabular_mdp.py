"""``KrazyGym/TabularMDP-v0``: random tabular MDPs (the RL² setup, Duan et al. 2016, Sec. 4.2).

A task is an MDP with ``n_states`` (10) states and ``n_actions`` (5) actions: for every
(state, action) a mean reward ``mu ~ N(1, 1)`` and a next-state distribution drawn from a flat
Dirichlet. A step in state ``s`` with action ``a`` pays ``r ~ N(mu[s, a], 1)`` and moves to
``s' ~ P[s, a]`` (both drawn from ``env.np_random``). Every episode starts in state 0; the
registered id truncates it after 10 steps (``max_episode_steps=10``), the env itself never
terminates. The expected return of any policy is therefore a 10-step finite-horizon policy
evaluation of ``(reward_means, transitions)``, which the tests compute exactly.

    >>> import gymnasium as gym, krazy_gym
    >>> env = gym.make("KrazyGym/TabularMDP-v0")
    >>> obs, info = env.reset(seed=0)          # obs == 0, the start state
    >>> obs, reward, terminated, truncated, info = env.step(3)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from krazy_gym.tasks import Task, TaskEnvMixin, TaskFamily


@dataclasses.dataclass(frozen=True)
class TabularMDPTask(Task):
    """One MDP: ``reward_means[s][a]`` and ``transitions[s][a][s']`` (rows sum to 1)."""

    reward_means: tuple = ()
    transitions: tuple = ()
    FAMILIES = ("TabularMDP",)

    def validate(self) -> None:
        means = np.asarray(self.reward_means, dtype=np.float64)
        if means.ndim != 2 or min(means.shape) < 1:
            raise ValueError(
                f"reward_means must be an (n_states, n_actions) table, got shape {means.shape}"
            )
        trans = np.asarray(self.transitions, dtype=np.float64)
        if trans.shape != (*means.shape, means.shape[0]):
            raise ValueError(
                f"transitions must have shape (n_states, n_actions, n_states) = "
                f"{(*means.shape, means.shape[0])}, got {trans.shape}"
            )
        if np.any(trans < 0) or not np.allclose(trans.sum(axis=-1), 1.0, atol=1e-9):
            raise ValueError("transitions must be non-negative and every row must sum to 1")

    @property
    def n_states(self) -> int:
        return len(self.reward_means)

    @property
    def n_actions(self) -> int:
        return len(self.reward_means[0])


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


class TabularMDPFamily(TaskFamily):
    """Random MDPs: ``mu ~ N(1, 1)`` per (s, a), ``P[s, a] ~ Dirichlet(1, ..., 1)``."""

    name = "TabularMDP"
    task_class = TabularMDPTask

    def __init__(self, n_states: int = 10, n_actions: int = 5) -> None:
        self.n_states = _check_count("n_states", n_states)
        self.n_actions = _check_count("n_actions", n_actions)
        super().__init__(n_states=self.n_states, n_actions=self.n_actions)

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        means = rng.normal(1.0, 1.0, size=(self.n_states, self.n_actions))
        trans = rng.dirichlet(np.ones(self.n_states), size=(self.n_states, self.n_actions))
        return {"reward_means": means, "transitions": trans}

    def check_compatible(self, task: Task) -> None:
        shape = (task.n_states, task.n_actions)  # type: ignore[attr-defined]
        if shape != (self.n_states, self.n_actions):
            raise ValueError(
                f"task has (n_states, n_actions) = {shape} but this env has "
                f"{(self.n_states, self.n_actions)}"
            )


class TabularMDPEnv(TaskEnvMixin, gym.Env):
    """A random tabular MDP; the state is observed exactly.

    * Observation: ``Discrete(n_states)``, the current state (0 after ``reset``).
    * Action: ``Discrete(n_actions)``.
    * Reward: ``N(reward_means[s, a], 1)``; next state ``~ transitions[s, a]``.
    * Never terminates; ``KrazyGym/TabularMDP-v0`` truncates after 10 steps.
      ``info["expected_reward"]`` is ``reward_means[s, a]``.

    Args:
        n_states: number of states (default 10).
        n_actions: number of actions (default 5).
        render_mode: None or ``"ansi"``.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self, n_states: int = 10, n_actions: int = 5, render_mode: str | None = None
    ) -> None:
        self.task_family = TabularMDPFamily(n_states=n_states, n_actions=n_actions)
        n_s, n_a = self.task_family.n_states, self.task_family.n_actions
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.render_mode = render_mode
        self.observation_space = spaces.Discrete(n_s)
        self.action_space = spaces.Discrete(n_a)
        self._means = np.ones((n_s, n_a))
        self._cdf = np.cumsum(np.full((n_s, n_a, n_s), 1.0 / n_s), axis=-1)
        self._state = 0

    def _apply_task(self, task: Task) -> None:
        self._means = np.asarray(task.reward_means, dtype=np.float64)  # type: ignore[attr-defined]
        cdf = np.cumsum(np.asarray(task.transitions, dtype=np.float64), axis=-1)  # type: ignore[attr-defined]
        cdf[..., -1] = 1.0  # guard the inverse-CDF draw against rounding in the row sums
        self._cdf = cdf

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self._reset_task(options)
        self._state = 0
        return 0, {}

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(
                f"action must be an int in [0, {self.action_space.n}), got {action!r}"
            )
        s, a = self._state, int(action)
        mean = float(self._means[s, a])
        reward = mean + float(self.np_random.standard_normal())
        u = self.np_random.random()
        self._state = int(np.searchsorted(self._cdf[s, a], u, side="right"))
        return self._state, reward, False, False, {"expected_reward": mean}

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return f"TabularMDP state={self._state}\n"
