"""Tasks, task families and the meta-env protocol shared by every krazy_gym environment.

A *task* is one MDP of a family (one Krazy World board with its colours and dynamics, one
maze, one goal velocity, ...). Every env made from a ``KrazyGym/*`` id is a **meta-env**: a
Gymnasium episode is one episode inside the current task, and ``reset()`` keeps the task.

The API (see ``shared/DESIGN.md``)::

    >>> import gymnasium as gym, krazy_gym
    >>> env = gym.make("KrazyGym/Bandit-v0")
    >>> train = env.unwrapped.sample_tasks(4, split="train", seed=0)
    >>> test = env.unwrapped.sample_tasks(4, split="test")   # always the same four
    >>> env.unwrapped.set_task(train[0])                       # used from the next reset()
    >>> obs, info = env.reset(seed=1)
    >>> obs, info = env.reset(options={"task": train[1]})     # the same, through wrappers

Seeding rules
-------------
* A task's own randomness (board, colours, goal, body parameters) is stored *in the task*:
  a ``Task`` is a frozen dataclass of plain numbers and tuples, so the same task gives the
  same MDP on any machine and in any process, and ``to_dict``/``from_dict`` round-trip it
  through JSON exactly.
* Tasks are generated from ``np.random.SeedSequence`` streams keyed by the family (name and
  configuration), the split and the seed, so ``sample_tasks`` is a pure function of its
  arguments. There is no global RNG anywhere.
* Train and test tasks never coincide: a task belongs to the test split iff the sha256 of its
  content (family plus parameters) falls in a fixed quarter of the hash space, and each stream
  keeps only candidates of its own split. Families whose task space is finite and tiny
  (direction ±1) cannot be split this way and say so with ``TaskFamily.splittable = False``.
* ``reset(seed=...)`` seeds ``env.np_random``, which drives only episode-level randomness.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import importlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

SPLITS: tuple[str, ...] = ("train", "test")
_SPLIT_CODE = {"train": 1, "test": 2}
#: A task is a test task iff int(sha256(content)[:8], 16) % TEST_MODULUS == 0.
TEST_MODULUS = 4

#: family name -> "module:Class" of its Task subclass, so that ``Task.from_dict`` can rebuild
#: any task without importing every env module (and its heavy dependencies) up front.
TASK_CLASS_PATHS: dict[str, str] = {
    "KrazyWorld": "krazy_gym.krazy_world.task:KrazyWorldTask",
    "Maze": "krazy_gym.maze.task:MazeTask",
    "Bandit": "krazy_gym.classic.bandit:BanditTask",
    "TabularMDP": "krazy_gym.classic.tabular_mdp:TabularMDPTask",
    "Navigation2D": "krazy_gym.classic.navigation:Navigation2DTask",
    "PointCorner": "krazy_gym.classic.navigation:PointCornerTask",
    "HalfCheetahDir": "krazy_gym.mujoco.tasks:DirectionTask",
    "HalfCheetahVel": "krazy_gym.mujoco.tasks:VelocityTask",
    "AntDir": "krazy_gym.mujoco.tasks:DirectionTask",
    "AntDir2D": "krazy_gym.mujoco.tasks:Direction2DTask",
    "AntGoal": "krazy_gym.mujoco.tasks:GoalTask",
    "HumanoidDir": "krazy_gym.mujoco.tasks:DirectionTask",
    "HumanoidDir2D": "krazy_gym.mujoco.tasks:Direction2DTask",
    "Walker2dDir": "krazy_gym.mujoco.tasks:DirectionTask",
    "Walker2dVel": "krazy_gym.mujoco.tasks:VelocityTask",
    "HopperParams": "krazy_gym.mujoco.tasks:BodyParamsTask",
    "Walker2dParams": "krazy_gym.mujoco.tasks:BodyParamsTask",
}

_BASE_FIELDS = ("family", "split", "index")


def _freeze(value: Any) -> Any:
    """Turn lists/arrays (possibly nested) into tuples and numpy scalars into Python ones."""
    if isinstance(value, np.ndarray):
        return _freeze(value.tolist())
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _thaw(value: Any) -> Any:
    """Turn tuples (possibly nested) into lists, for JSON."""
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _check_finite(name: str, value: Any) -> None:
    if isinstance(value, tuple):
        for v in value:
            _check_finite(name, v)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"task parameter {name!r} must be finite, got {value!r}")


@dataclasses.dataclass(frozen=True)
class Task:
    """One task (MDP) of a family: a frozen, hashable dataclass.

    Subclasses add the family's parameters as fields (numbers, strings, or nested tuples of
    them) and set ``FAMILIES`` to the family names they serve. Lists and arrays passed to the
    constructor are frozen to tuples, so tasks hash and compare by value.

    Attributes:
        family: the family name, e.g. ``"KrazyWorld"`` or ``"HalfCheetahDir"``.
        split: ``"train"`` or ``"test"``.
        index: position of the task in its stream.
    """

    family: str
    split: str
    index: int

    #: the family names this class may carry (a MuJoCo direction task serves several robots)
    FAMILIES: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if self.FAMILIES and self.family not in self.FAMILIES:
            raise ValueError(
                f"{type(self).__name__}: family must be one of {list(self.FAMILIES)}, "
                f"got {self.family!r}"
            )
        if self.split not in SPLITS:
            raise ValueError(f"task split must be one of {list(SPLITS)}, got {self.split!r}")
        if isinstance(self.index, bool) or not isinstance(self.index, (int, np.integer)):
            raise TypeError(f"task index must be an int, got {type(self.index).__name__}")
        if self.index < 0:
            raise ValueError(f"task index must be >= 0, got {self.index}")
        for f in dataclasses.fields(self):
            frozen = _freeze(getattr(self, f.name))
            object.__setattr__(self, f.name, frozen)
            _check_finite(f.name, frozen)
        self.validate()

    def validate(self) -> None:
        """Check the family's parameters; raise ``ValueError``/``TypeError`` naming the field."""

    # -- views -------------------------------------------------------------------------------
    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """Names of the family's parameters (all fields but family/split/index)."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in _BASE_FIELDS)

    def params(self) -> dict[str, Any]:
        """The family's parameters, as a dict of frozen values."""
        return {name: getattr(self, name) for name in self.param_names()}

    def content_key(self) -> str:
        """sha256 (hex) of the task's *content*: family and parameters, not split or index.

        Two tasks with the same content key are the same MDP.
        """
        payload = {"family": self.family, **{k: _thaw(v) for k, v in self.params().items()}}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def content_split(self) -> str:
        """The split that this task's content belongs to under the hash partition."""
        return "test" if int(self.content_key()[:8], 16) % TEST_MODULUS == 0 else "train"

    # -- JSON --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; ``Task.from_dict(task.to_dict()) == task``."""
        return {f.name: _thaw(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Task:
        """Rebuild a task from ``to_dict()`` output (dispatching on ``data["family"]``).

        Raises:
            TypeError: ``data`` is not a mapping.
            ValueError: unknown family, missing or unexpected keys, or invalid values.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"task data must be a mapping, got {type(data).__name__}")
        family = data.get("family")
        target: type[Task] = cls
        if cls is Task:
            if family not in TASK_CLASS_PATHS:
                raise ValueError(
                    f"unknown task family {family!r}; known families: {sorted(TASK_CLASS_PATHS)}"
                )
            target = _load_task_class(family)
        names = {f.name for f in dataclasses.fields(target)}
        missing = sorted(names - set(data))
        extra = sorted(set(data) - names)
        if missing or extra:
            raise ValueError(
                f"malformed {target.__name__} dict: missing keys {missing}, unexpected keys {extra}"
            )
        return target(**{k: data[k] for k in names})


def _load_task_class(family: str) -> type[Task]:
    module_name, _, attr = TASK_CLASS_PATHS[family].partition(":")
    return getattr(importlib.import_module(module_name), attr)


def as_task(task: Task | Mapping[str, Any]) -> Task:
    """Accept a ``Task`` or its dict form; anything else is a ``TypeError``."""
    if isinstance(task, Task):
        return task
    if isinstance(task, Mapping):
        return Task.from_dict(task)
    raise TypeError(f"task must be a krazy_gym Task or its dict form, got {type(task).__name__}")


class TaskFamily(abc.ABC):
    """A distribution over tasks with disjoint, reproducible train and test streams.

    Subclasses implement :meth:`generate` (draw one task's parameters from a Generator) and
    set :attr:`name` and :attr:`task_class`. ``config`` holds whatever shapes the
    distribution (board size, tile fractions, ...): it keys the random streams, so two
    differently configured families never share tasks by accident.
    """

    name: str = ""
    task_class: type[Task] = Task
    #: False for tiny finite task spaces (direction ±1) that a hash partition cannot split.
    splittable: bool = True

    def __init__(self, **config: Any) -> None:
        self.config: dict[str, Any] = {k: _freeze(v) for k, v in config.items()}
        key = json.dumps(
            {"family": self.name, "config": {k: _thaw(v) for k, v in self.config.items()}},
            sort_keys=True,
            separators=(",", ":"),
        )
        self._entropy = int.from_bytes(hashlib.sha256(key.encode()).digest()[:16], "little")
        self._test_cache: list[Task] = []
        self._test_cursor = 0

    @abc.abstractmethod
    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        """Draw the parameters of one task (everything but family/split/index)."""

    def check_compatible(self, task: Task) -> None:
        """Raise ``ValueError`` if ``task`` (of this family) cannot run in this env's config.

        The default accepts every task of the family; families whose tasks carry shapes
        (board size, number of arms) override it.
        """
        return None

    # -- streams -------------------------------------------------------------------------------
    def _candidate(self, split: str, seed: int, j: int) -> dict[str, Any]:
        ss = np.random.SeedSequence(self._entropy, spawn_key=(_SPLIT_CODE[split], seed, j))
        return self.generate(np.random.default_rng(ss))

    def _accepts(self, task: Task, split: str) -> bool:
        return (not self.splittable) or task.content_split() == split

    def _stream(self, split: str, seed: int, start_cursor: int, start_index: int, n: int):
        tasks: list[Task] = []
        j, index = start_cursor, start_index
        while len(tasks) < n:
            params = self._candidate(split, seed, j)
            j += 1
            task = self.task_class(family=self.name, split=split, index=index, **params)
            if self._accepts(task, split):
                tasks.append(task)
                index += 1
        return tasks, j

    def sample_tasks(self, n: int, split: str = "train", seed: int | None = None) -> list[Task]:
        """The first ``n`` tasks of a stream.

        Args:
            n: how many tasks (>= 0).
            split: ``"test"`` gives the first ``n`` tasks of the family's fixed held-out
                sequence (``seed`` must be None); ``"train"`` draws from the training stream
                numbered ``seed`` (an int >= 0; None means stream 0).
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"n must be an int, got {type(n).__name__}")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise ValueError(f"seed must be None or an int >= 0, got {seed!r}")
        if split == "test":
            if seed is not None:
                raise ValueError("seed must be None for split='test': the test sequence is fixed")
            if len(self._test_cache) < n:
                more, self._test_cursor = self._stream(
                    "test", 0, self._test_cursor, len(self._test_cache), n - len(self._test_cache)
                )
                self._test_cache.extend(more)
            return list(self._test_cache[:n])
        tasks, _ = self._stream("train", int(seed or 0), 0, 0, n)
        return tasks

    def validate_task(self, task: Task | Mapping[str, Any]) -> Task:
        """Return ``task`` as a Task of this family or raise naming what is wrong."""
        task = as_task(task)
        if task.family != self.name:
            raise ValueError(f"task of family {task.family!r} given to a {self.name!r} env")
        if not isinstance(task, self.task_class):
            raise TypeError(
                f"{self.name} tasks must be {self.task_class.__name__}, got {type(task).__name__}"
            )
        self.check_compatible(task)
        return task


@runtime_checkable
class MetaEnv(Protocol):
    """What ``env.unwrapped`` of every krazy_gym env provides."""

    def sample_tasks(self, n: int, split: str = "train", seed: int | None = None) -> list[Task]: ...

    def set_task(self, task: Task) -> None: ...

    def get_task(self) -> Task: ...


class TaskEnvMixin:
    """Implements the meta-env API on a ``gymnasium.Env`` subclass.

    The env sets ``self.task_family`` in ``__init__`` and implements ``_apply_task(task)``;
    its ``reset`` starts with ``self._reset_task(seed, options)``, which handles
    ``options={"task": ...}``, applies a pending task, and draws a default training task on
    the first reset if none was given (from the train stream picked by ``env.np_random``, so
    ``reset(seed=s)`` makes it reproducible).
    """

    task_family: TaskFamily
    _task: Task | None = None
    _pending_task: Task | None = None

    def sample_tasks(self, n: int, split: str = "train", seed: int | None = None) -> list[Task]:
        """See :meth:`TaskFamily.sample_tasks`."""
        return self.task_family.sample_tasks(n, split=split, seed=seed)

    def set_task(self, task: Task | Mapping[str, Any]) -> None:
        """Validate ``task`` and make it the task from the next ``reset()`` on."""
        self._pending_task = self.task_family.validate_task(task)

    def get_task(self) -> Task:
        """The task set most recently (the current one, or the one the next reset applies)."""
        if self._pending_task is not None:
            return self._pending_task
        if self._task is None:
            raise RuntimeError("no task yet: call set_task(task) or reset() first")
        return self._task

    @property
    def task(self) -> Task | None:
        """Get or set the task (setting takes effect at the next reset).

        Unlike :meth:`get_task`, reading it before any task exists gives None instead of
        raising, so that ``hasattr(env, "task")`` is True and Gymnasium's
        ``VectorEnv.set_attr("task", tasks)`` reaches the env before its first reset.
        """
        if self._pending_task is not None:
            return self._pending_task
        return self._task

    @task.setter
    def task(self, task: Task | Mapping[str, Any]) -> None:
        self.set_task(task)

    def _apply_task(self, task: Task) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _reset_task(self, options: Mapping[str, Any] | None) -> None:
        """Call at the start of ``reset`` *after* ``super().reset(seed=seed)``."""
        if options is not None and "task" in options:
            self.set_task(options["task"])
        if self._pending_task is None and self._task is None:
            seed = int(self.np_random.integers(0, 2**31 - 1))  # type: ignore[attr-defined]
            self._pending_task = self.task_family.sample_tasks(1, "train", seed=seed)[0]
        if self._pending_task is not None:
            task = self._pending_task
            self._apply_task(task)
            self._task = task
            self._pending_task = None


def check_tasks_disjoint(train: Sequence[Task], test: Sequence[Task]) -> None:
    """Raise ``AssertionError`` if any train task has the content of a test task."""
    test_keys = {t.content_key() for t in test}
    clash = [t for t in train if t.content_key() in test_keys]
    if clash:
        raise AssertionError(f"{len(clash)} train tasks equal test tasks, e.g. {clash[0]}")
