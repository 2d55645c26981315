"""Per-env tasks and generators for the native ``VectorEnv``s (mazes, classic families).

:class:`PerEnvTasksMixin` holds what those vector envs share: one task and one lazily made
generator per sub-env; ``set_attr("task", ...)`` / ``get_attr`` / ``call`` as
``SyncVectorEnv`` answers them; and the first part of a ``reset`` (``reset_mask``, tasks given
in ``options``, seeds ``seed + i``, pending tasks applied). An env reset without any task draws
a training task from its own generator, exactly as a single :class:`~krazy_gym.tasks.TaskEnvMixin`
env does. The env class calls :meth:`_init_tasks` in ``__init__`` and implements
``_load_task(i, task)`` (write the task into its arrays). :func:`same_step_info` builds the
``info`` of a step in which some envs ended and were reset (``AutoresetMode.SAME_STEP``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from krazy_gym.lazy_rng import LazyGenerators
from krazy_gym.tasks import Task, TaskFamily


def reset_mask(mask: Any, n: int) -> np.ndarray:
    """``options["reset_mask"]`` checked: a bool array of shape ``(n,)`` (None: every env)."""
    if mask is None:
        return np.ones(n, dtype=np.bool_)
    mask = np.asarray(mask)
    if mask.shape != (n,) or mask.dtype != np.bool_:
        raise ValueError(f"options['reset_mask'] must be a bool array of shape ({n},), got {mask!r}")
    return mask


def env_seeds(seed: int | Sequence[int | None] | None, n: int) -> list[int | None]:
    """Each env's reset seed: ``seed + i`` for an int, the list itself (one per env, None to
    keep an env's generator), or ``[None] * n``."""
    if seed is None:
        return [None] * n
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return [int(seed) + i for i in range(n)]
    seeds = list(seed)
    if len(seeds) != n:
        raise ValueError(f"seed must be None, an int or a list of num_envs={n} seeds, got {seed!r}")
    return seeds


def _rows_where(mask: np.ndarray, value: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """``value`` on the rows ``mask``, ``other`` (zeros if None) elsewhere; rows may be arrays."""
    m = mask.reshape(mask.shape + (1,) * (value.ndim - 1))
    return np.where(m, value, np.zeros_like(value) if other is None else other)


def same_step_info(
    step_info: Mapping[str, np.ndarray],
    done: np.ndarray,
    reset_info: Mapping[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """The ``info`` of a ``SAME_STEP`` vector step, laid out as ``SyncVectorEnv`` lays it out.

    ``step_info`` holds each key's ``(N, ...)`` values of the step, ``done`` which envs ended
    (and were reset in this step), ``reset_info`` the values their reset returned (full rows,
    used where ``done``). Without an ended env, every key with an all-true mask. Otherwise a
    key shows the step's value of the envs still going and the reset's value of the envs
    that ended (a ``_key`` mask says which are set; unset rows are zero), and
    ``info["final_info"]`` holds the ended envs' step values. The caller adds ``final_obs``.
    """
    n = len(done)
    info: dict[str, Any] = {}
    if not done.any():
        for key, value in step_info.items():
            info[key], info[f"_{key}"] = value, np.ones(n, dtype=np.bool_)
        return info
    going = ~done
    final_info: dict[str, Any] = {}
    for key, value in step_info.items():
        if going.any():
            info[key], info[f"_{key}"] = _rows_where(going, value), going
        final_info[key], final_info[f"_{key}"] = _rows_where(done, value), done
    for key, value in (reset_info or {}).items():
        if key in info:
            info[key], info[f"_{key}"] = _rows_where(done, value, info[key]), going | done
        else:
            info[key], info[f"_{key}"] = _rows_where(done, value), done
    info["final_info"] = final_info
    info["_final_info"] = done
    return info


class PerEnvTasksMixin:
    """Tasks, generators and attribute access of a native vector env (see module docstring)."""

    num_envs: int
    task_family: TaskFamily

    def _init_tasks(self, n: int) -> None:
        self._tasks: list[Task | None] = [None] * n
        self._pending: list[Task | None] = [None] * n
        self._n_pending = 0
        # per-env generators are made lazily from the last reset seed: building thousands of
        # Generators per seeded reset costs milliseconds
        self._rngs = LazyGenerators(n)

    def _load_task(self, i: int, task: Task) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- tasks ---------------------------------------------------------------------------------
    def sample_tasks(self, n: int, split: str = "train", seed: int | None = None) -> list[Task]:
        """See :meth:`krazy_gym.tasks.TaskFamily.sample_tasks`."""
        return self.task_family.sample_tasks(n, split=split, seed=seed)

    def _validate_tasks(self, tasks: Any, count: int) -> list[Task]:
        if isinstance(tasks, (Task, Mapping)):
            tasks = [tasks] * count
        if isinstance(tasks, (str, bytes)) or not isinstance(tasks, Sequence):
            raise TypeError("tasks must be a task or a sequence of tasks (one per env)")
        if len(tasks) != count:
            raise ValueError(f"expected {count} tasks (one per env), got {len(tasks)}")
        return [self.task_family.validate_task(t) for t in tasks]  # all checked, then applied

    def set_tasks(self, tasks: Any) -> None:
        """Set every env's task (or one task for all), applied at each env's next reset."""
        self._pending = list(self._validate_tasks(tasks, self.num_envs))
        self._n_pending = self.num_envs

    def get_tasks(self) -> list[Task | None]:
        """Each env's task (the pending one if a new task was set and not yet applied)."""
        return [p if p is not None else t for p, t in zip(self._pending, self._tasks)]

    def _take_pending(self, i: int) -> None:
        """Apply env ``i``'s pending task, or draw its default task if it never had one."""
        task = self._pending[i]
        if task is not None:
            self._pending[i] = None
            self._n_pending -= 1
        elif self._tasks[i] is None:  # first reset without a task: a default training task
            task = self._default_task(i)
        if task is not None:
            self._load_task(i, task)
            self._tasks[i] = task

    def _default_task(self, i: int) -> Task:
        """Env ``i``'s task when it is first reset without one: the first task of a training
        stream drawn from its generator, as :meth:`krazy_gym.tasks.TaskEnvMixin._reset_task`
        does (an env family whose single env draws it otherwise overrides this)."""
        stream = int(self._rngs[i].integers(0, 2**31 - 1))
        return self.task_family.sample_tasks(1, "train", seed=stream)[0]

    def _take_pending_at_autoreset(self, ended: np.ndarray) -> np.ndarray:
        """Apply the pending tasks of the envs ``ended`` (indices) at their automatic reset;
        returns a bool mask of the envs whose task changed."""
        changed = np.zeros(self.num_envs, dtype=np.bool_)
        if self._n_pending:
            for i in ended:
                if self._pending[i] is not None:
                    self._take_pending(int(i))
                    changed[i] = True
        return changed

    def _begin_reset(
        self, seed: int | Sequence[int | None] | None, options: dict[str, Any] | None
    ) -> np.ndarray:
        """The shared first part of ``reset``: check ``options`` (``task``, ``reset_mask``)
        and ``seed`` before changing anything, reseed the masked envs (env i gets
        ``seed + i``) and apply their tasks. Returns the indices of the envs to reset."""
        n = self.num_envs
        options = dict(options or {})
        idx = np.flatnonzero(reset_mask(options.pop("reset_mask", None), n))
        checked = None
        if "task" in options:
            tasks = options.pop("task")
            if (not isinstance(tasks, (Task, Mapping)) and isinstance(tasks, Sequence)
                    and len(tasks) == len(idx) < n):
                checked = self._validate_tasks(tasks, len(idx))  # one task per masked env
            else:
                checked = [self._validate_tasks(tasks, n)[i] for i in idx]
        if options:
            raise ValueError(f"unknown reset options {sorted(options)}; known: task, reset_mask")
        seeds = env_seeds(seed, n)
        if seed is not None:
            self._rngs.reseed(idx, seeds)
        for j, i in enumerate(idx):
            if checked is not None:
                if self._pending[i] is None:
                    self._n_pending += 1
                self._pending[i] = checked[j]
            self._take_pending(int(i))
        return idx

    # -- attribute access (as SyncVectorEnv) ---------------------------------------------------
    def get_attr(self, name: str) -> tuple[Any, ...]:
        """``"task"`` gives each env's task, ``"np_random"`` its generator; other attributes
        are shared by all envs."""
        if name == "task":
            return tuple(self.get_tasks())
        if name == "np_random":
            return tuple(self._rngs[i] for i in range(self.num_envs))
        value = getattr(self, name)
        return tuple(value for _ in range(self.num_envs))

    def set_attr(self, name: str, values: Any) -> None:
        """Only ``"task"`` can be set (a list with one task per env, or one task for all)."""
        if name != "task":
            raise AttributeError(f"{type(self).__name__}.set_attr supports only 'task', got {name!r}")
        self.set_tasks(values)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """``call("get_task")`` gives each env's task; other methods run once, result per env."""
        if name == "get_task":
            return tuple(self.get_tasks())
        result = getattr(self, name)
        if callable(result):
            result = result(*args, **kwargs)
        return tuple(result for _ in range(self.num_envs))
