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

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from krazy_gym.lazy_rng import LazyGenerators
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
from krazy_gym.tasks import Task


class MazeVectorEnv(VectorEnv):
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
        self._tasks: list[MazeTask | None] = [None] * n
        self._pending: list[MazeTask | None] = [None] * n
        self._n_pending = 0
        # per-env generators (default tasks, get_attr("np_random")) are made lazily from the
        # last reset seed: building thousands of Generators per seeded reset costs milliseconds
        self._rngs = LazyGenerators(n)
        self._has_reset = False
        self._window = None
        self._clock = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_window"] = state["_clock"] = None
        return state

    # -- tasks -----------------------------------------------------------------------------------
    def sample_tasks(self, n: int, split: str = "train", seed: int | None = None) -> list[Task]:
        """See :meth:`krazy_gym.tasks.TaskFamily.sample_tasks`."""
        return self.task_family.sample_tasks(n, split=split, seed=seed)

    def _validate_tasks(self, tasks: Any, count: int) -> list[MazeTask]:
        if isinstance(tasks, (Task, Mapping)):
            tasks = [tasks] * count
        if isinstance(tasks, (str, bytes)) or not isinstance(tasks, Sequence):
            raise TypeError("tasks must be a task or a sequence of tasks (one per env)")
        if len(tasks) != count:
            raise ValueError(f"expected {count} tasks (one per env), got {len(tasks)}")
        return [self.task_family.validate_task(t) for t in tasks]  # all checked, then applied

    def set_tasks(self, tasks: Any) -> None:
        """Set every env's task (or one task for all), applied at each env's next reset."""
        checked = self._validate_tasks(tasks, self.num_envs)
        self._pending = list(checked)
        self._n_pending = self.num_envs

    def get_tasks(self) -> list[MazeTask | None]:
        """Each env's task (the pending one if a new task was set and not yet applied)."""
        return [p if p is not None else t for p, t in zip(self._pending, self._tasks)]

    def _apply(self, i: int, task: MazeTask) -> None:
        codes, walls, start, goal = load_engine().pack_task(task)
        self._codes[i] = codes
        self._walls[i] = walls
        self._start[i] = start
        self._goal[i] = goal
        self._optimal[i] = task.optimal_length
        self._tasks[i] = task

    def _take_pending(self, i: int) -> None:
        task = self._pending[i]
        if task is not None:
            self._apply(i, task)
            self._pending[i] = None
            self._n_pending -= 1
        elif self._tasks[i] is None:  # first reset without a task: a default training task
            stream = int(self._rngs[i].integers(0, 2**31 - 1))
            self._apply(i, self.task_family.sample_tasks(1, "train", seed=stream)[0])

    # -- attribute access (as SyncVectorEnv) -----------------------------------------------------
    def get_attr(self, name: str) -> tuple[Any, ...]:
        """``"task"`` gives each env's task; other attributes are shared by all envs."""
        if name == "task":
            return tuple(self.get_tasks())
        if name == "np_random":
            return tuple(self._rngs[i] for i in range(self.num_envs))
        value = getattr(self, name)
        return tuple(value for _ in range(self.num_envs))

    def set_attr(self, name: str, values: Any) -> None:
        """Only ``"task"`` can be set (a list with one task per env, or one task for all)."""
        if name != "task":
            raise AttributeError(f"MazeVectorEnv.set_attr supports only 'task', got {name!r}")
        self.set_tasks(values)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """``call("get_task")`` gives each env's task; other methods run once, result per env."""
        if name == "get_task":
            return tuple(self.get_tasks())
        result = getattr(self, name)
        if callable(result):
            result = result(*args, **kwargs)
        return tuple(result for _ in range(self.num_envs))

    # -- gymnasium API ---------------------------------------------------------------------------
    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        n = self.num_envs
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is None:
            mask = np.ones(n, dtype=np.bool_)
        else:
            mask = np.asarray(mask)
            if mask.shape != (n,) or mask.dtype != np.bool_:
                raise ValueError(f"options['reset_mask'] must be a bool array of shape ({n},)")
        idx = np.flatnonzero(mask)
        if "task" in options:
            tasks = options.pop("task")
            if not isinstance(tasks, (Task, Mapping)) and len(tasks) == len(idx) < n:
                checked = self._validate_tasks(tasks, len(idx))
            else:
                checked = [self._validate_tasks(tasks, n)[i] for i in idx]
        else:
            checked = None
        if options:
            raise ValueError(f"unknown reset options {sorted(options)}; known: task, reset_mask")
        if seed is not None:
            seeds = [seed + i for i in range(n)] if isinstance(seed, (int, np.integer)) else seed
            if len(seeds) != n:
                raise ValueError(f"seed must be None, an int or a list of {n} seeds")
            self._rngs.reseed(idx, seeds)
        for j, i in enumerate(idx):
            if checked is not None:
                if self._pending[i] is None:
                    self._n_pending += 1
                self._pending[i] = checked[j]
            self._take_pending(i)
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
                changed = np.zeros(n, dtype=np.bool_)
                for i in idx:
                    if self._pending[i] is not None:
                        self._take_pending(i)
                        changed[i] = True
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
