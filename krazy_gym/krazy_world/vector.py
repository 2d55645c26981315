"""``KrazyWorldVectorEnv``: N Krazy World envs stepped by one compiled loop.

    >>> import gymnasium as gym, krazy_gym
    >>> envs = gym.make_vec("KrazyGym/KrazyWorld-Hard-v0", num_envs=64)   # this class
    >>> tasks = envs.unwrapped.sample_tasks(64, split="train", seed=0)
    >>> obs, infos = envs.reset(seed=0, options={"task": tasks})         # one task per env
    >>> obs, rewards, terminated, truncated, infos = envs.step(envs.action_space.sample())

It gives exactly the trajectories of N :class:`~krazy_gym.krazy_world.env.KrazyWorldEnv`
made with ``gym.make`` (same tasks, seeds ``seed + i`` and actions): both run the same
kernels. Episodes are truncated after ``max_episode_steps`` (``make_vec`` passes the id's
horizon) and reset in the same step (``AutoresetMode.SAME_STEP``): the last observation and
info of a finished episode are in ``infos["final_obs"]`` / ``infos["final_info"]``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from krazy_gym.krazy_world import render as kw_render
from krazy_gym.krazy_world.env import (
    NUM_ACTIONS,
    load_engine,
    make_config,
    make_spaces,
    rgb_from_index,
)
from krazy_gym.krazy_world.task import KrazyWorldFamily, KrazyWorldTask
from krazy_gym.lazy_rng import LazyGenerators
from krazy_gym.tasks import Task
from krazy_gym.vector_tasks import env_seeds, reset_mask

_ENGINE: Any = None  # the numba engine module, imported by the first constructor


def _info_dict(values: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """The ``info`` dict of the counters ``values[k]`` (``INFO_KEYS`` order), each with its mask."""
    goals, deaths, visited, keys, teleports = values  # row views
    return {
        "goals": goals, "_goals": mask, "deaths": deaths, "_deaths": mask,
        "tile_types_visited": visited, "_tile_types_visited": mask,
        "keys": keys, "_keys": mask, "teleports": teleports, "_teleports": mask,
    }  # fmt: skip


#: the step kernel's compiled entry point for each observation dtype (see ``engine.fast_entry``)
_STEP_ENTRIES: dict[np.dtype, Any] = {}


class OutputPool:
    """Output arrays of one shape and dtype, reused only once nobody else holds them.

    ``step()`` hands out arrays that later steps never overwrite (as gymnasium's
    ``copy=True``). Allocating fresh multi-megabyte arrays every step makes glibc map and
    unmap memory (about 300 page faults per step at 4096 envs, halving throughput), so an
    array is reused only when its reference count shows that the caller dropped it and every
    view of it. (With ``copy=True`` the env itself keeps no reference to its outputs.)
    """

    def __init__(self, shape: tuple[int, ...], dtype: Any, size: int = 3) -> None:
        self.shape, self.dtype = shape, np.dtype(dtype)
        self._arrays = [np.zeros(shape, dtype=self.dtype) for _ in range(size)]
        self._next = 0

    def get(self) -> np.ndarray:
        """An array that nobody but the pool references (a new one if all are held)."""
        arrays = self._arrays
        for array in arrays:
            # references: the pool's list, this loop's variable and getrefcount's argument
            if sys.getrefcount(array) == 3:
                return array
        k = self._next
        self._next = (k + 1) % len(arrays)
        arrays[k] = np.empty(self.shape, dtype=self.dtype)  # the caller keeps the old one
        return arrays[k]


class KrazyWorldVectorEnv(VectorEnv):
    """A native batched Krazy World (numpy arrays in, numpy arrays out).

    Args:
        num_envs: number of envs N.
        preset, view, obs_mode, **options: as :class:`~krazy_gym.krazy_world.env.KrazyWorldEnv`.
        render_mode: None or ``"rgb_array"`` (``render()`` returns one board picture per env).
        max_episode_steps: horizon (None: no truncation). ``gym.make_vec`` passes the id's.
        copy: return a fresh observation array each step (True, default) or the env's own
            buffer, overwritten by the next step (False; fastest).

    Tasks: ``set_attr("task", tasks)``, ``reset(options={"task": tasks})`` (a list of N tasks,
    or one task for every env) or :meth:`set_tasks`; like the single env, a task takes effect
    at the env's next reset, and an env without a task draws one at its first reset from the
    train stream picked by its own seeded generator.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": ["rgb_array"]}

    def __init__(
        self,
        num_envs: int = 1,
        preset: str | None = None,
        view: str = "local",
        obs_mode: str = "onehot",
        render_mode: str | None = None,
        max_episode_steps: int | None = None,
        copy: bool = True,
        **options: Any,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array' for the vector env, got {render_mode!r}")
        if max_episode_steps is not None and (
            isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, (int, np.integer))
            or max_episode_steps < 1
        ):
            raise ValueError(f"max_episode_steps must be None or an int >= 1, got {max_episode_steps!r}")
        self.config = make_config(preset, view, obs_mode, None, options)
        self.preset = preset
        self.render_mode = render_mode
        self.num_envs = int(num_envs)
        self.max_episode_steps = max_episode_steps
        self.copy = bool(copy)
        self.single_observation_space, self.single_action_space = make_spaces(self.config)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.task_family = KrazyWorldFamily(**self.config.task_config)

        global _ENGINE
        eng = _ENGINE = load_engine()
        n, size = self.num_envs, self.config.size
        cells = (size + 2) ** 2  # padded boards (see the engine)
        obs_len = eng.obs_size(size, self.config.view_code, self.config.kernel_mode)
        self._obs_dtype = np.float32 if self.config.kernel_mode == 0 else np.uint8
        self._params = np.zeros((n, eng.HEADER), dtype=np.int32)
        self._layout = np.zeros((n, 2 * cells), dtype=np.int16)
        self._death_reward = np.zeros(n, dtype=np.float64)
        self._board = np.zeros((n, cells), dtype=np.uint8)
        self._state = np.zeros((n, eng.STATE_SIZE), dtype=np.int32)
        self._obs = np.zeros((n, obs_len), dtype=self._obs_dtype)
        self._final_obs = np.zeros((n, obs_len), dtype=self._obs_dtype)
        self._actions = np.zeros(n, dtype=np.int64)
        self._rewards = np.zeros(n, dtype=np.float64)
        self._dones = np.zeros((3, n), dtype=np.bool_)
        self._infos = np.zeros((2, eng.NUM_INFO, n), dtype=np.int64)
        self._kconfig = eng.kernel_config(
            size, self.config.view_code, self.config.kernel_mode, max_episode_steps or 0, True
        )
        if eng.INFO_KEYS != ("goals", "deaths", "tile_types_visited", "keys", "teleports"):  # pragma: no cover
            raise AssertionError("_info_dict must follow engine.INFO_KEYS")
        self._actions_shape = (n,)
        self._all_true = np.ones(n, dtype=np.bool_)
        self._pools = {
            name: OutputPool(arr.shape, arr.dtype)
            for name, arr in (
                ("obs", self._obs), ("final_obs", self._final_obs), ("rewards", self._rewards),
                ("dones", self._dones), ("infos", self._infos),
            )
        }  # fmt: skip
        self._pool_list = [self._pools[name] for name in ("obs", "final_obs", "rewards", "dones", "infos")]
        if self._obs_dtype not in _STEP_ENTRIES:  # the same for every env of this observation dtype
            _STEP_ENTRIES[self._obs_dtype] = eng.fast_entry(
                eng.step_batch, self._actions, self._params, self._layout, self._board, self._state,
                self._death_reward, self._kconfig, self._obs, self._rewards, self._dones, self._final_obs, self._infos,
            )  # fmt: skip
        self._rgb = obs_mode == "rgb"
        self._local = view == "local"

        self._tasks: list[KrazyWorldTask | None] = [None] * n
        self._pending: list[KrazyWorldTask | None] = [None] * n
        # per-env generators only draw a default task for an env that has none; they are made
        # lazily from the pending seed, since building 4096 Generators costs ~35 ms per reset
        self._env_rngs = LazyGenerators(n)
        self._needs_reset = True

    # -- tasks ---------------------------------------------------------------------------------
    def sample_tasks(self, n: int, split: str = "train", seed: int | None = None) -> list[Task]:
        """See :meth:`krazy_gym.tasks.TaskFamily.sample_tasks`."""
        return self.task_family.sample_tasks(n, split=split, seed=seed)

    def set_tasks(self, tasks: Task | Mapping[str, Any] | Sequence[Task | Mapping[str, Any]]) -> None:
        """Give each env a task (a list of N, or one for all), used from its next reset.

        Every task is checked before any is set, so a bad one changes nothing.
        """
        if isinstance(tasks, (Task, Mapping)):
            tasks = [tasks] * self.num_envs
        if not isinstance(tasks, Sequence) or isinstance(tasks, (str, bytes)):
            raise TypeError(f"tasks must be a Task or a sequence of {self.num_envs} tasks, got {type(tasks).__name__}")
        if len(tasks) != self.num_envs:
            raise ValueError(f"tasks must hold num_envs={self.num_envs} tasks, got {len(tasks)}")
        checked = [self.task_family.validate_task(t) for t in tasks]
        self._pending = checked

    def get_tasks(self) -> tuple[KrazyWorldTask, ...]:
        """Each env's task (the pending one if set since the last reset)."""
        out = []
        for i in range(self.num_envs):
            task = self._pending[i] if self._pending[i] is not None else self._tasks[i]
            if task is None:
                raise RuntimeError("no task yet: call set_tasks(tasks) or reset() first")
            out.append(task)
        return tuple(out)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """Per-env attribute values; supports ``"task"`` (as ``SyncVectorEnv.get_attr``)."""
        if name == "task":
            return self.get_tasks()
        if name in ("task_family", "config", "preset"):
            return (getattr(self, name),) * self.num_envs
        raise AttributeError(f"get_attr supports 'task', 'task_family', 'config', 'preset'; got {name!r}")

    def set_attr(self, name: str, values: Any) -> None:
        """``set_attr("task", tasks)`` sets per-env tasks (see :meth:`set_tasks`)."""
        if name != "task":
            raise AttributeError(f"set_attr supports only 'task', got {name!r}")
        self.set_tasks(values)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """``call("get_task")``, ``call("sample_tasks", n, ...)`` per env, as ``SyncVectorEnv``."""
        if name == "get_task":
            return self.get_tasks()
        if name == "sample_tasks":
            return tuple(self.sample_tasks(*args, **kwargs) for _ in range(self.num_envs))
        raise AttributeError(f"call supports 'get_task' and 'sample_tasks', got {name!r}")

    # -- gymnasium API -------------------------------------------------------------------------
    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset all envs (or those in ``options["reset_mask"]``); env i is seeded with ``seed + i``."""
        n = self.num_envs
        options = dict(options or {})
        mask = reset_mask(options.pop("reset_mask", None), n)
        seeds = env_seeds(seed, n)
        if "task" in options:
            self.set_tasks(options["task"])
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seeds[0])
        eng = load_engine()
        reset_ids = np.flatnonzero(mask)
        if seed is not None:
            self._env_rngs.reseed(reset_ids, seeds)
        pending, tasks = self._pending, self._tasks
        for i in [i for i in reset_ids if pending[i] is not None or tasks[i] is None]:
            task = pending[i]
            if task is None and tasks[i] is None:
                # as TaskEnvMixin: a default training task from the env's own generator
                stream = int(self._env_rngs[i].integers(0, 2**31 - 1))
                task = self.task_family.sample_tasks(1, "train", seed=stream)[0]
            if task is not None:
                row, layout, death_reward = eng.pack_task(task)
                self._params[i] = row
                self._layout[i] = layout
                self._death_reward[i] = death_reward
                self._tasks[i] = task
                self._pending[i] = None
        obs = np.empty_like(self._obs)  # never write into an array handed out earlier
        infos_out = np.empty_like(self._infos)
        eng.reset_batch(mask, self._params, self._layout, self._board, self._state, self._kconfig, obs, infos_out)
        self._needs_reset = False
        if not self.copy:
            self._obs[...] = obs
        return self._observations(obs, copy=False), _info_dict(infos_out[0], self._all_true)

    def step(self, actions: Any):
        """Step every env; finished envs are reset in the same step (see the class docstring).

        ``infos["final_obs"]`` is an ``[N, ...]`` array whose row ``i`` is env ``i``'s last
        observation where ``infos["_final_obs"][i]`` is true (other rows are unspecified);
        ``infos["final_info"]`` holds the last counters (zeros for unfinished envs).
        """
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions)
        if actions.shape != self._actions_shape:
            raise ValueError(f"actions must have shape ({self.num_envs},), got {actions.shape}")
        if actions.dtype != np.int64 or not actions.flags.c_contiguous:
            if actions.dtype.kind not in "iu":
                raise TypeError(f"actions must be integers in [0, {NUM_ACTIONS}), got dtype {actions.dtype}")
            actions = np.ascontiguousarray(actions, dtype=np.int64)
        if self.copy:  # arrays nobody holds: nothing handed out earlier is ever overwritten
            obs, final_obs, rewards, dones, infos_out = [pool.get() for pool in self._pool_list]
        else:
            obs, final_obs = self._obs, self._final_obs
            rewards, dones, infos_out = self._rewards, self._dones, self._infos
        finished = _STEP_ENTRIES[self._obs_dtype](
            actions, self._params, self._layout, self._board, self._state, self._death_reward, self._kconfig,
            obs, rewards, dones, final_obs, infos_out,
        )  # fmt: skip
        if finished < 0:  # the kernel changed nothing
            bad = -1 - finished
            raise ValueError(
                f"actions must be in [0, {NUM_ACTIONS}) (action space {self.action_space}); "
                f"env {bad} got {actions[bad]}"
            )
        terminated, truncated, done = dones
        infos = _info_dict(infos_out[0], self._all_true)
        if finished:
            if self._rgb:  # draw only the finished envs' rows
                idx = np.flatnonzero(done)
                final = np.zeros((self.num_envs, *self.single_observation_space.shape), np.uint8)
                final[idx] = self._observations(final_obs[idx], copy=False, env_idx=idx)
                final_obs = final
            infos["final_obs"] = final_obs
            infos["_final_obs"] = done
            infos["final_info"] = _info_dict(infos_out[1], done)
            infos["_final_info"] = done
        if self._rgb:
            obs = self._observations(obs, copy=False)
        return obs, rewards, terminated, truncated, infos

    def _observations(self, raw: np.ndarray, copy: bool, env_idx: np.ndarray | None = None) -> np.ndarray:
        """Observations from the engine's rows (rgb images are drawn from index rows)."""
        if self._rgb:
            out = np.empty((len(raw), *self.single_observation_space.shape), dtype=np.uint8)
            caps = self._params[:, 1] if env_idx is None else self._params[env_idx, 1]
            return rgb_from_index(raw, self.config.size, self._local, np.maximum(caps, 0), out)
        return raw.copy() if copy else raw

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode is None:
            return None
        size = self.config.size
        images = []
        for i, task in enumerate(self._tasks):
            if task is not None:
                r, c = _ENGINE.unpadded(size, self._state[i, 0])
                images.append(kw_render.board_image(task, _ENGINE.unpad_board(size, self._board[i]), r * size + c))
        return tuple(images)
