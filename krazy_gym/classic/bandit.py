"""``KrazyGym/Bandit-v0``: Bernoulli multi-armed bandits, one pull per episode.

The RL² bandit setup (Duan et al. 2016, arXiv 1611.02779, Sec. 4.1): a task is a vector of
``k`` arm probabilities ``p_i ~ U(0, 1)``; an episode is a single pull of one arm, paid 1 with
probability ``p_a`` and 0 otherwise. Wrap the env in
:class:`krazy_gym.wrappers.TrialWrapper` with ``episodes_per_trial=n`` to get the paper's
"n pulls per trial" problem. A uniformly random policy earns ``mean(p)`` per pull.

    >>> import gymnasium as gym, krazy_gym
    >>> env = gym.make("KrazyGym/Bandit-v0", k=5)
    >>> obs, info = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step(2)   # terminated is True
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from krazy_gym.tasks import Task, TaskEnvMixin, TaskFamily


@dataclasses.dataclass(frozen=True)
class BanditTask(Task):
    """One bandit: the success probability of every arm."""

    probs: tuple = ()
    FAMILIES = ("Bandit",)

    def validate(self) -> None:
        if len(self.probs) < 2:
            raise ValueError(f"probs must list k >= 2 arm probabilities, got {len(self.probs)}")
        for p in self.probs:
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
                raise ValueError(f"probs must be numbers in [0, 1], got {p!r}")


def _check_num_arms(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k (number of arms) must be an int >= 2, got {type(k).__name__}")
    if k < 2:
        raise ValueError(f"k (number of arms) must be an int >= 2, got {k}")
    return int(k)


class BanditFamily(TaskFamily):
    """Bernoulli bandits with ``k`` arms, ``p_i ~ U(0, 1)`` independently."""

    name = "Bandit"
    task_class = BanditTask

    def __init__(self, k: int = 5) -> None:
        self.k = _check_num_arms(k)
        super().__init__(k=self.k)

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"probs": rng.uniform(0.0, 1.0, size=self.k)}

    def check_compatible(self, task: Task) -> None:
        if len(task.probs) != self.k:  # type: ignore[attr-defined]
            raise ValueError(
                f"task has {len(task.probs)} arms but this env has k={self.k}"  # type: ignore[attr-defined]
            )


class BanditEnv(TaskEnvMixin, gym.Env):
    """A k-armed Bernoulli bandit; every episode is one pull.

    * Action: ``Discrete(k)``, the arm to pull.
    * Observation: ``Box(0, 1, (1,), float32)``, always ``[0.]`` (a bandit has no state; the
      agent learns from the rewards, e.g. through :class:`~krazy_gym.wrappers.TrialWrapper`).
    * Reward: 1 with probability ``probs[a]``, else 0, drawn from ``env.np_random``.
    * The episode terminates after the pull. ``info["expected_reward"]`` is ``probs[a]``.

    Args:
        k: number of arms (>= 2; ``ValueError`` naming ``k`` otherwise).
        render_mode: None or ``"ansi"``.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, k: int = 5, render_mode: str | None = None) -> None:
        self.task_family = BanditFamily(k=k)
        self.k = self.task_family.k
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.render_mode = render_mode
        self.action_space = spaces.Discrete(self.k)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self._probs = np.full(self.k, 0.5)
        self._last: tuple[int, float] | None = None

    def _apply_task(self, task: Task) -> None:
        self._probs = np.asarray(task.probs, dtype=np.float64)  # type: ignore[attr-defined]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._reset_task(options)
        self._last = None
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an arm index in [0, {self.k}), got {action!r}")
        arm = int(action)
        reward = float(self.np_random.random() < self._probs[arm])
        self._last = (arm, reward)
        info = {"expected_reward": float(self._probs[arm])}
        return np.zeros(1, dtype=np.float32), reward, True, False, info

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        probs = " ".join(f"{p:.2f}" for p in self._probs)
        last = "no pull yet" if self._last is None else f"pulled {self._last[0]} -> {self._last[1]:g}"
        return f"Bandit p=[{probs}]  {last}\n"
