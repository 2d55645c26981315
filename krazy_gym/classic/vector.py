"""Native numpy ``VectorEnv``s of the classic sanity families (``gym.make_vec``).

    >>> import gymnasium as gym, krazy_gym
    >>> envs = gym.make_vec("KrazyGym/TabularMDP-v0", num_envs=500)     # TabularMDPVectorEnv
    >>> tasks = envs.unwrapped.sample_tasks(500, split="test")
    >>> obs, info = envs.reset(seed=0, options={"task": tasks})         # one task per env
    >>> obs, rewards, terminated, truncated, info = envs.step(envs.action_space.sample())

Each class steps ``num_envs`` copies of one classic env as arrays. Gymnasium's
``SyncVectorEnv`` spends 8-25 µs of Python per env step on these small envs. Here a step is a
few whole-batch numpy operations, plus one draw per env from that env's own generator where
the single env draws. The trajectories are exactly those of ``num_envs`` single envs made with
``gym.make`` (same tasks, seeds ``seed + i``, actions; the tests compare them step by step):

* the per-env generators are seeded and drawn in the single env's order, with the same calls;
* episodes are truncated after ``max_episode_steps`` steps (``gym.make_vec`` passes the id's
  horizon; ``TimeLimit``'s rule: ``truncated`` once the step count reaches it, also on a
  terminating step);
* ``AutoresetMode.SAME_STEP``: an env whose episode ends is reset within the same ``step``.
  ``info["final_obs"]`` is an ``[N, ...]`` array whose row ``i`` is env ``i``'s last
  observation where ``info["_final_obs"][i]`` is true (other rows are unspecified), and
  ``info["final_info"]`` holds the last step's info. As in ``SyncVectorEnv``, the step's info
  keys of an env that was reset are masked out of ``info`` (its reset info is empty).

Tasks, as for the other native vector envs: ``reset(options={"task": tasks})`` (one task per
env, or one for all; with ``options["reset_mask"]`` only the masked envs reset, and ``tasks``
may list just those) applies them at once; ``set_attr("task", tasks)`` applies them at each
env's next reset, including the automatic one. An env reset without any task draws a training
task from its own generator, as a single env does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from krazy_gym.classic.bandit import BanditEnv
from krazy_gym.classic.navigation import Navigation2DEnv, PointCornerEnv, planar_distance
from krazy_gym.classic.tabular_mdp import TabularMDPEnv
from krazy_gym.tasks import Task
from krazy_gym.vector_tasks import PerEnvTasksMixin, same_step_info


class _ClassicVectorEnv(PerEnvTasksMixin, VectorEnv):
    """Shared machinery: spaces, per-env tasks and generators, time limit, autoreset.

    A subclass names its single-env class (``env_class``) and implements ``_init_arrays``,
    ``_load_task(i, task)``, ``_reset_rows(rows)`` (start state of the envs ``rows``, drawing
    from their generators as the single env's ``reset`` does), ``_observe()`` (the current
    observations) and ``_step(actions)`` (advance every env; return rewards, terminated and
    the step's info arrays).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}
    env_class: type[gym.Env]

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
        if max_episode_steps is not None and (
            isinstance(max_episode_steps, bool)
            or not isinstance(max_episode_steps, (int, np.integer))
            or max_episode_steps < 1
        ):
            raise ValueError(f"max_episode_steps must be None or an int >= 1, got {max_episode_steps!r}")
        if render_mode is not None:
            raise ValueError(
                f"render_mode must be None for {type(self).__name__} (render a single env with "
                f"gym.make(..., render_mode='ansi')), got {render_mode!r}"
            )
        template = self.env_class(**kwargs)  # checks kwargs with the single env's messages
        self.task_family = template.task_family
        self.num_envs = n = int(num_envs)
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self.render_mode = None
        self.single_observation_space = template.observation_space
        self.single_action_space = template.action_space
        self.observation_space = batch_space(self.single_observation_space, n)
        self.action_space = batch_space(self.single_action_space, n)
        self._init_tasks(n)
        self._t = np.zeros(n, dtype=np.int64)
        self._rows = np.arange(n)
        self._has_reset = False
        self._init_arrays(template)

    # -- family-specific parts (subclasses) ----------------------------------------------------
    def _init_arrays(self, template: gym.Env) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _load_task(self, i: int, task: Task) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _reset_rows(self, rows: np.ndarray) -> None:
        """Put the envs ``rows`` in their start state (default: nothing to do)."""

    def _observe(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        raise NotImplementedError  # pragma: no cover - abstract

    def _check_actions(self, actions: Any) -> np.ndarray:
        """Discrete actions as an int64 array, all checked before anything moves."""
        a = np.asarray(actions)
        n, k = self.num_envs, self.single_action_space.n  # type: ignore[attr-defined]
        if a.shape != (n,) or a.dtype.kind not in "iu":
            raise ValueError(f"actions must be an int array of shape ({n},), got {a.dtype} {a.shape}")
        bad = np.flatnonzero((a < 0) | (a >= k))
        if bad.size:
            raise ValueError(f"actions must be in [0, {k}), got {a[bad[0]]} for env {bad[0]}")
        return a.astype(np.int64, copy=False)

    # -- gymnasium API -------------------------------------------------------------------------
    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset all envs (or those in ``options["reset_mask"]``); env i is seeded ``seed + i``."""
        idx = self._begin_reset(seed, options)
        self._t[idx] = 0
        self._reset_rows(idx)
        self._has_reset = True
        return self._observe(), {}

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every env; finished envs are reset in the same step (see the module docstring)."""
        if not self._has_reset:
            raise RuntimeError("call reset() before step()")
        rewards, terminated, step_info = self._step(actions)
        self._t += 1
        if self.max_episode_steps is None:
            truncated = np.zeros(self.num_envs, dtype=np.bool_)
        else:
            truncated = self._t >= self.max_episode_steps
        obs = self._observe()
        done = terminated | truncated
        info = same_step_info(step_info, done)  # the reset info of these envs is empty
        if not done.any():
            return obs, rewards, terminated, truncated, info
        idx = np.flatnonzero(done)
        self._take_pending_at_autoreset(idx)  # tasks set with set_attr take effect here
        self._t[idx] = 0
        self._reset_rows(idx)
        info["final_obs"] = obs
        info["_final_obs"] = done
        return self._observe(), rewards, terminated, truncated, info


class BanditVectorEnv(_ClassicVectorEnv):
    """``num_envs`` :class:`~krazy_gym.classic.bandit.BanditEnv` (``gym.make_vec("KrazyGym/Bandit-v0")``)."""

    env_class = BanditEnv

    def _init_arrays(self, template: gym.Env) -> None:
        self._probs = np.full((self.num_envs, template.k), 0.5)  # type: ignore[attr-defined]

    def _load_task(self, i: int, task: Task) -> None:
        self._probs[i] = np.asarray(task.probs, dtype=np.float64)  # type: ignore[attr-defined]

    def _observe(self) -> np.ndarray:
        return np.zeros((self.num_envs, 1), dtype=np.float32)

    def _step(self, actions):
        arms = self._check_actions(actions)
        rngs = self._rngs
        u = np.fromiter((rngs[i].random() for i in range(self.num_envs)), np.float64, self.num_envs)
        expected = self._probs[self._rows, arms]
        rewards = (u < expected).astype(np.float64)
        return rewards, np.ones(self.num_envs, dtype=np.bool_), {"expected_reward": expected}


class TabularMDPVectorEnv(_ClassicVectorEnv):
    """``num_envs`` :class:`~krazy_gym.classic.tabular_mdp.TabularMDPEnv`
    (``gym.make_vec("KrazyGym/TabularMDP-v0")``); observations are the states, ``int64``."""

    env_class = TabularMDPEnv

    def _init_arrays(self, template: gym.Env) -> None:
        self._means = np.repeat(template._means[None], self.num_envs, axis=0)  # type: ignore[attr-defined]
        self._cdf = np.repeat(template._cdf[None], self.num_envs, axis=0)  # type: ignore[attr-defined]
        self._state = np.zeros(self.num_envs, dtype=np.int64)

    def _load_task(self, i: int, task: Task) -> None:
        self._means[i] = np.asarray(task.reward_means, dtype=np.float64)  # type: ignore[attr-defined]
        cdf = np.cumsum(np.asarray(task.transitions, dtype=np.float64), axis=-1)  # type: ignore[attr-defined]
        cdf[..., -1] = 1.0  # as the single env: guard the inverse-CDF draw against rounding
        self._cdf[i] = cdf

    def _reset_rows(self, rows: np.ndarray) -> None:
        self._state[rows] = 0

    def _observe(self) -> np.ndarray:
        return self._state.copy()

    def _step(self, actions):
        a = self._check_actions(actions)
        n, rngs, s = self.num_envs, self._rngs, self._state
        noise = np.empty(n)
        u = np.empty(n)
        for i in range(n):  # the single env's draws, in its order: reward noise, then u
            rng = rngs[i]
            noise[i] = rng.standard_normal()
            u[i] = rng.random()
        mean = self._means[self._rows, s, a]
        # searchsorted(cdf, u, side="right") == the number of cdf entries <= u (cdf is sorted)
        self._state = (self._cdf[self._rows, s, a] <= u[:, None]).sum(-1).astype(np.int64)
        return mean + noise, np.zeros(n, dtype=np.bool_), {"expected_reward": mean}


class _PointVectorEnv(_ClassicVectorEnv):
    """Shared point-mass mechanics of the two point envs, as arrays."""

    def _init_arrays(self, template: gym.Env) -> None:
        self._goal = np.zeros((self.num_envs, 2))
        self._pos = np.zeros((self.num_envs, 2))
        self._max_step = float(template.max_step)  # type: ignore[attr-defined]
        self._arena = float(template.arena)  # type: ignore[attr-defined]

    def _load_task(self, i: int, task: Task) -> None:
        self._goal[i] = np.asarray(task.goal, dtype=np.float64)  # type: ignore[attr-defined]

    def _observe(self) -> np.ndarray:
        return self._pos.astype(np.float32)

    def _move(self, actions: Any) -> np.ndarray:
        """Move every point; returns the previous positions."""
        a = np.asarray(actions, dtype=np.float64)
        if a.shape != (self.num_envs, 2):
            raise ValueError(f"actions must have shape ({self.num_envs}, 2), got {a.shape}")
        finite = np.isfinite(a).all(axis=1)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise ValueError(f"actions must be finite numbers, got {a[bad]!r} for env {bad}")
        prev = self._pos
        moved = prev + np.clip(a, -self._max_step, self._max_step)
        self._pos = np.clip(moved, -self._arena, self._arena)
        return prev


class Navigation2DVectorEnv(_PointVectorEnv):
    """``num_envs`` :class:`~krazy_gym.classic.navigation.Navigation2DEnv`
    (``gym.make_vec("KrazyGym/Navigation2D-v0")``)."""

    env_class = Navigation2DEnv

    def _reset_rows(self, rows: np.ndarray) -> None:
        self._pos[rows] = 0.0

    def _step(self, actions):
        self._move(actions)
        delta = self._pos - self._goal
        distance = planar_distance(delta)
        terminated = (np.abs(delta) < Navigation2DEnv.success_tolerance).all(axis=1)
        return -distance, terminated, {"distance": distance}


class PointCornerVectorEnv(_PointVectorEnv):
    """``num_envs`` :class:`~krazy_gym.classic.navigation.PointCornerEnv`
    (``gym.make_vec("KrazyGym/PointCorner-v0")``)."""

    env_class = PointCornerEnv

    def _init_arrays(self, template: gym.Env) -> None:
        super()._init_arrays(template)
        self._corners = np.asarray(template._corners)  # type: ignore[attr-defined]

    def _reset_rows(self, rows: np.ndarray) -> None:
        noise = PointCornerEnv.start_noise
        for i in rows:  # the single env's draw at reset, from each env's generator
            self._pos[i] = self._rngs[int(i)].uniform(-noise, noise, size=2)

    def _step(self, actions):
        prev = self._move(actions)
        pos, goal = self._pos, self._goal
        distance = planar_distance(pos - goal)
        nearest = planar_distance(self._corners[None] - pos[:, None]).min(axis=1)
        l1 = np.abs(pos[:, 0]) + np.abs(pos[:, 1])  # the single env's sum, in its order
        live = (l1 >= PointCornerEnv.start_radius) & (distance <= nearest)
        reward = np.where(live, planar_distance(prev - goal) - distance, 0.0)
        return reward, np.zeros(self.num_envs, dtype=np.bool_), {
            "distance": distance, "in_goal_region": live}


__all__ = [
    "BanditVectorEnv",
    "Navigation2DVectorEnv",
    "PointCornerVectorEnv",
    "TabularMDPVectorEnv",
]
