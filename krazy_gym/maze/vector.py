"""``MazeVectorEnv``: N mazes stepped together by the compiled kernels (``gym.make_vec``).

    >>> import gymnasium as gym, krazy_gym
    >>> envs = gym.make_vec("KrazyGym/Maze-v0", num_envs=1024)          # this class
    >>> tasks = envs.unwrapped.sample_tasks(1024, split="test")
    >>> obs, info = envs.reset(seed=0, options={"task": tasks})          # one task per env
    >>> obs, rewards, terminated, truncated, info = envs.step(envs.action_space.sample())

It produces exactly the trajectories of N :class:`~krazy_gym.maze.env.MazeEnv` with the same
tasks, seeds and actions (tested), with ``AutoresetMode.SAME_STEP``: an env whose episode ends
is reset within the same ``step``; its last observation is in ``info["final_obs"][i]``
(``info["_final_obs"]`` marks which) and its last info in ``info["final_info"]``.

Tasks per env: ``reset(options={"task": tasks})`` (a list with one task per env, or a single
task for all; with ``options["reset_mask"]`` only the masked envs are reset and ``tasks`` may
also list just those), or ``set_attr("task", tasks)``, which, as ``set_task`` on a single env,
takes effect at each env's next reset, including the automatic one at the end of an episode.
An env reset without any task draws a training task from its own ``np_random`` (seeded
``seed + i`` by ``reset(seed=seed)``), exactly like a single env.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from krazy_gym.maze import render as maze_render
from krazy_gym.maze.env import (
    DEFAULT_WALL_PENALTY,
    NUM_ACTIONS,
    RENDER_MODES,
    load_engine,
    make_config,
    make_observation_space,
)
from krazy_gym.maze.task import MazeFamily, MazeTask
from krazy_gym.vector_tasks import PerEnvTasksMixin


class MazeVectorEnv(PerEnvTasksMixin, VectorEnv):
    """A batch of ``num_envs`` mazes (same options as :class:`~krazy_gym.maze.env.MazeEnv`).

    ``info`` after reset/step: ``optimal_length`` and ``steps`` arrays (per env), plus the
    SAME_STEP ``final_obs``/``final_info`` entries when an episode ended.
    ``render()`` returns a tuple of frames (``rgb_array``/``ansi``) of the first
    ``render_envs`` envs (default 1).
    """

    metadata = {
        "render_modes": list(RENDER_MODES),
        "render_fps": 8,
        "autoreset_mode": AutoresetMode.SAME_STEP,
    }

    def __init__(
        self,
        num_envs: int,
        size: int = 10,
        min_distance: int | None = None,
        view: str = "local",
        horizon: int | None = None,
        wall_penalty: float = DEFAULT_WALL_PENALTY,
        render_mode: str | None = None,
        render_envs: int = 1,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
        self.config = make_config(size, min_distance, view, horizon, wall_penalty, render_mode)
        self.task_family = MazeFamily(self.config.size, min_distance)
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self.render_envs = max(1, min(int(render_envs), self.num_envs))
        self.horizon = self.config.horizon
        self.single_observation_space = make_observation_space(self.config)
        self.single_action_space = spaces.Discrete(NUM_ACTIONS)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

        eng = load_engine()
        n, g, cfg = self.num_envs, self.config.grid, self.config
        self._codes = np.zeros((n, cfg.size * cfg.size), dtype=np.uint8)
        self._walls = np.ones((n, g * g), dtype=np.uint8)
        self._start = np.zeros(n, dtype=np.int32)
        self._goal = np.zeros(n, dtype=np.int32)
        self._pos = np.zeros(n, dtype=np.int32)
        self._t = np.zeros(n, dtype=np.int32)
        self._obs = np.zeros((n, self.single_observation_space.shape[0]), dtype=np.float32)
        self._final_obs = np.zeros_like(self._obs)
        self._final_t = np.zeros(n, dtype=np.int32)
        self._optimal = np.zeros(n, dtype=np.int64)
        self._kconfig = eng.kernel_config(cfg.size, cfg.view_code, cfg.horizon, True)
        self._costs = np.array([cfg.step_cost, cfg.wall_penalty], dtype=np.float64)
        self._init_tasks(n)
        self._has_reset = False
        self._window = None
        self._clock = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_window"] = state["_clock"] = None
        return state

    # -- tasks (the rest in PerEnvTasksMixin) -------------------------------------------------
    def _load_task(self, i: int, task: MazeTask) -> None:
        codes, walls, start, goal = load_engine().pack_task(task)
        self._codes[i] = codes
        self._walls[i] = walls
        self._start[i] = start
        self._goal[i] = goal
        self._optimal[i] = task.optimal_length

    # -- gymnasium API ---------------------------------------------------------------------------
    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        mask = np.zeros(self.num_envs, dtype=np.bool_)
        mask[self._begin_reset(seed, options)] = True
        self._obs = self._obs.copy()  # the previous array belongs to the caller now
        load_engine().reset_batch(mask, self._codes, self._walls, self._start, self._pos,
                                  self._t, self._kconfig, self._obs)
        self._has_reset = True
        if self.render_mode == "human":
            self.render()
        return self._obs, {"optimal_length": self._optimal.copy(), "steps": self._t.copy()}

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._has_reset:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or actions.dtype.kind not in "iu":
            raise ValueError(
                f"actions must be an int array of shape ({self.num_envs},), got "
                f"{actions.dtype} {actions.shape}"
            )
        if actions.dtype != np.int64:
            actions = actions.astype(np.int64)
        eng = load_engine()
        n = self.num_envs
        # fresh output arrays every step: the kernel writes every row, and callers may keep them
        obs = np.empty_like(self._obs)
        rewards = np.empty(n, dtype=np.float64)
        terminated = np.empty(n, dtype=np.bool_)
        truncated = np.empty(n, dtype=np.bool_)
        bad = eng.step_batch(actions, self._codes, self._walls, self._start, self._goal,
                             self._pos, self._t, self._kconfig, self._costs, obs, rewards,
                             terminated, truncated, self._final_obs, self._final_t)
        if bad >= 0:  # checked before anything moved
            raise ValueError(
                f"actions must be in [0, {NUM_ACTIONS}) (up, right, down, left), "
                f"got {actions[bad]} for env {bad}"
            )
        self._obs = obs
        info: dict[str, Any] = {"optimal_length": self._optimal.copy(), "steps": self._t.copy()}
        done = terminated | truncated
        if done.any():
            idx = np.flatnonzero(done)
            rows = self._final_obs[idx]  # a copy: the kernel reuses _final_obs
            final_obs = np.empty(n, dtype=object)  # None where the episode goes on
            for j, i in enumerate(idx):
                final_obs[i] = rows[j]
            final_info = {
                "optimal_length": self._optimal.copy(),
                "_optimal_length": done.copy(),
                "steps": np.where(done, self._final_t, 0).astype(np.int32),
                "_steps": done.copy(),
            }
            if self._n_pending:  # set tasks take effect at this automatic reset
                changed = self._take_pending_at_autoreset(idx)
                if changed.any():
                    eng.reset_batch(changed, self._codes, self._walls, self._start,
                                    self._pos, self._t, self._kconfig, obs)
                    info["optimal_length"] = self._optimal.copy()
            info["final_obs"] = final_obs
            info["_final_obs"] = done
            info["final_info"] = final_info
            info["_final_info"] = done.copy()
        if self.render_mode == "human":
            self.render()
        return obs, rewards, terminated, truncated, info

    # -- rendering -------------------------------------------------------------------------------
    def render(self) -> tuple[Any, ...] | None:
        if self.render_mode is None:
            return None
        g = self.config.grid
        frames = []
        for i in range(self.render_envs):
            to_grid, m = load_engine().cell_to_grid, self.config.size
            args = (self._walls[i].reshape(g, g), to_grid(self._start[i], m),
                    to_grid(self._goal[i], m), to_grid(self._pos[i], m))
            frames.append(maze_render.maze_text(*args) if self.render_mode == "ansi"
                          else maze_render.maze_image(*args))
        if self.render_mode == "human":
            maze_render.show_human(self, np.concatenate(frames, axis=1),
                                   self.metadata["render_fps"])
            return None
        return tuple(frames)

    def close_extras(self, **kwargs: Any) -> None:
        maze_render.close_human(self)
