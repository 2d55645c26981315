"""Tasks and task families of the MuJoCo meta-task envs (numpy only; no ``mujoco`` import).

The distributions are those of ProMP (Rothfuss et al. 2018, arXiv 1810.06784,
``meta_policy_search/envs/mujoco_envs``) and of ``rand_param_envs`` (used by MAML and ProMP):

=====================================  ==============================================================
family                                 task
=====================================  ==============================================================
HalfCheetahDir, AntDir, HumanoidDir,   :class:`DirectionTask`: ``direction`` is +1.0 (run forward)
Walker2dDir                            or -1.0 (run backward), each with probability 1/2
HalfCheetahVel, Walker2dVel            :class:`VelocityTask`: ``target_velocity`` ~ U(0, 3) / U(0, 10)
AntDir2D, HumanoidDir2D                :class:`Direction2DTask`: ``direction`` a unit 2-D vector,
                                       uniform on the circle (a normalised Gaussian draw)
AntGoal                                :class:`GoalTask`: ``goal`` uniform in the disc of radius 3
HopperParams, Walker2dParams           :class:`BodyParamsTask`: per-element multipliers of
                                       ``body_mass``, ``body_inertia``, ``geom_friction``
                                       (1.5^U(-3, 3)) and ``dof_damping`` (1.3^U(-3, 3))
=====================================  ==============================================================

Direction ±1 families have exactly two tasks, so the hash partition of
:class:`~krazy_gym.tasks.TaskFamily` cannot keep train and test disjoint: their families set
``splittable = False``, the test split is then a fixed sequence of ±1 draws and the two splits
necessarily share their two tasks.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import numpy as np

from krazy_gym.tasks import Task, TaskFamily

#: the model arrays a :class:`BodyParamsTask` scales, in the order they are drawn
BODY_PARAM_NAMES: tuple[str, ...] = ("body_mass", "body_inertia", "geom_friction", "dof_damping")
#: base of the log-uniform multiplier of each array (rand_param_envs: 1.5, damping 1.3)
BODY_PARAM_BASES: dict[str, float] = {
    "body_mass": 1.5,
    "body_inertia": 1.5,
    "geom_friction": 1.5,
    "dof_damping": 1.3,
}

#: natural logarithms of the bases, as literals (not computed by the C library at run time)
_LOG_BASES: dict[float, float] = {1.5: 0.4054651081081644, 1.3: 0.26236426446749106}

_UNIT_TOLERANCE = 1e-9


def portable_cos_sin(angle: float) -> tuple[float, float]:
    """``(cos(angle), sin(angle))`` for ``angle`` in [0, 2π], with IEEE ``+``, ``*``, ``/`` only
    (the C library's ``cos``/``sin`` may pick CPU-specific variants that round differently).

    ``a = angle − π`` lies in [−π, π]; the Taylor series of sin and cos (degree 19 and 20) at
    ``a/4`` (|a/4| ≤ 0.79, truncation error < 1e-20), two double-angle steps, and the signs of
    ``cos(a + π) = −cos a``, ``sin(a + π) = −sin a``. Error: a few 1e-16.

    >>> c, s = portable_cos_sin(math.pi / 3)
    >>> round(c, 15), round(s, 15) == round(math.sqrt(3) / 2, 15)
    (0.5, True)
    """
    if not 0.0 <= angle <= 2.0 * math.pi:
        raise ValueError(f"angle must be in [0, 2*pi], got {angle!r}")
    x = (angle - math.pi) / 4.0
    x2 = x * x
    sin, cos = 1.0, 1.0
    for k in range(19, 1, -2):  # sin x = x (1 - x²/(2·3) (1 - x²/(4·5) (...)))
        sin = 1.0 - x2 / (k * (k - 1)) * sin
    sin = x * sin
    for k in range(20, 0, -2):  # cos x = 1 - x²/(1·2) (1 - x²/(3·4) (...))
        cos = 1.0 - x2 / (k * (k - 1)) * cos
    for _ in range(2):
        sin, cos = 2.0 * sin * cos, cos * cos - sin * sin
    return -cos, -sin


def portable_pow(base: float, exponent: np.ndarray) -> np.ndarray:
    """``base ** exponent`` for the bases of :data:`BODY_PARAM_BASES`, computed with IEEE
    ``+``, ``*`` and ``/`` only, so that it gives the same bits on every machine.

    ``np.power`` dispatches to SIMD kernels chosen by the CPU, and its AVX-512 and AVX2 kernels
    round about 5% of these values differently in the last bit, which made HopperParams' and
    Walker2dParams' test tasks (and so their benchmark hashes) depend on the machine. Here
    ``exp(x)`` with ``x = exponent · ln(base)`` is ``(Taylor_16(x / 8))^8``: the series'
    truncation error is below 1e-27 for |x| ≤ 1.3 and the three squarings leave a relative error
    of a few 1e-16, far below anything a multiplier of 1.5^U(−3, 3) could care about.

    >>> float(portable_pow(1.5, np.array(2.0)))  # doctest: +ELLIPSIS
    2.25000000000000...
    """
    if base not in _LOG_BASES:
        raise ValueError(f"base must be one of {sorted(_LOG_BASES)}, got {base!r}")
    y = np.asarray(exponent, dtype=np.float64) * _LOG_BASES[base] / 8.0
    result = np.ones_like(y)
    for k in range(16, 0, -1):  # Horner: 1 + y/1 (1 + y/2 (1 + ... (1 + y/16)))
        result = 1.0 + y / k * result
    for _ in range(3):
        result = result * result
    return result


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _set_field(task: Task, name: str, value: Any) -> None:
    """Normalise a field of a frozen task during ``validate`` (e.g. int 1 -> float 1.0)."""
    object.__setattr__(task, name, value)


# -- tasks ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DirectionTask(Task):
    """Run forward (``direction=+1.0``) or backward (``direction=-1.0``) along x."""

    direction: float = 1.0

    FAMILIES: ClassVar[tuple[str, ...]] = ("HalfCheetahDir", "AntDir", "HumanoidDir", "Walker2dDir")

    def validate(self) -> None:
        if not _is_real(self.direction) or float(self.direction) not in (1.0, -1.0):
            raise ValueError(f"direction must be +1.0 or -1.0, got {self.direction!r}")
        _set_field(self, "direction", float(self.direction))


@dataclasses.dataclass(frozen=True)
class VelocityTask(Task):
    """Run forward at ``target_velocity`` (m/s, >= 0)."""

    target_velocity: float = 0.0

    FAMILIES: ClassVar[tuple[str, ...]] = ("HalfCheetahVel", "Walker2dVel")

    def validate(self) -> None:
        if not _is_real(self.target_velocity):
            raise TypeError(
                f"target_velocity must be a real number, got {type(self.target_velocity).__name__}"
            )
        if self.target_velocity < 0:
            raise ValueError(f"target_velocity must be >= 0, got {self.target_velocity!r}")
        _set_field(self, "target_velocity", float(self.target_velocity))


def _check_vector2(name: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, tuple) or len(value) != 2 or not all(_is_real(v) for v in value):
        raise ValueError(f"{name} must be a pair of real numbers (x, y), got {value!r}")
    return float(value[0]), float(value[1])


@dataclasses.dataclass(frozen=True)
class Direction2DTask(Task):
    """Run in the planar direction ``direction`` (a unit vector (x, y))."""

    direction: tuple = (1.0, 0.0)

    FAMILIES: ClassVar[tuple[str, ...]] = ("AntDir2D", "HumanoidDir2D")

    def validate(self) -> None:
        vec = _check_vector2("direction", self.direction)
        norm = math.hypot(*vec)
        if abs(norm - 1.0) > _UNIT_TOLERANCE:
            raise ValueError(f"direction must be a unit vector, got {vec} with norm {norm!r}")
        _set_field(self, "direction", vec)


@dataclasses.dataclass(frozen=True)
class GoalTask(Task):
    """Walk to the planar position ``goal`` (x, y)."""

    goal: tuple = (0.0, 0.0)

    FAMILIES: ClassVar[tuple[str, ...]] = ("AntGoal",)

    def validate(self) -> None:
        _set_field(self, "goal", _check_vector2("goal", self.goal))


def _as_positive_array(name: str, value: Any, ndim: int) -> np.ndarray:
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as err:  # ragged nesting, strings
        raise ValueError(f"{name} must be a rectangular array of numbers: {err}") from None
    if array.ndim != ndim or (ndim == 2 and array.shape[1] != 3):
        want = "(n,)" if ndim == 1 else "(n, 3)"
        raise ValueError(f"{name} must have shape {want}, got shape {array.shape}")
    if not np.all(array > 0):
        raise ValueError(f"{name} multipliers must be > 0, got min {array.min()!r}")
    return array


@dataclasses.dataclass(frozen=True)
class BodyParamsTask(Task):
    """Multipliers of the model's original physical parameters, one per array element.

    ``body_mass`` has shape (nbody,), ``body_inertia`` (nbody, 3), ``geom_friction``
    (ngeom, 3) and ``dof_damping`` (nv,), stored as nested tuples. The env writes
    ``original * multiplier`` onto the model (never compounding); the env checks the shapes
    against its model when the task is set.
    """

    body_mass: tuple = ()
    body_inertia: tuple = ()
    geom_friction: tuple = ()
    dof_damping: tuple = ()

    FAMILIES: ClassVar[tuple[str, ...]] = ("HopperParams", "Walker2dParams")

    def validate(self) -> None:
        for name, ndim in zip(BODY_PARAM_NAMES, (1, 2, 2, 1)):
            _as_positive_array(name, getattr(self, name), ndim)

    def multipliers(self) -> dict[str, np.ndarray]:
        """The four multiplier arrays as float64 numpy arrays (fresh copies)."""
        return {name: np.array(getattr(self, name), dtype=np.float64) for name in BODY_PARAM_NAMES}


# -- families ------------------------------------------------------------------------------------
class _NamedFamily(TaskFamily):
    """A family whose name is given at construction (one class serves several robots)."""

    def __init__(self, name: str, **config: Any) -> None:
        if name not in self.task_class.FAMILIES:
            raise ValueError(
                f"{type(self).__name__}: name must be one of {list(self.task_class.FAMILIES)}, "
                f"got {name!r}"
            )
        self.name = name
        super().__init__(**config)


class DirectionFamily(_NamedFamily):
    """direction ∈ {+1, -1} with probability 1/2 each (ProMP ``*_rand_direc``).

    ``splittable = False``: with two tasks, train and test cannot be disjoint; the test split
    is the fixed sequence of draws of the test stream.
    """

    task_class = DirectionTask
    splittable = False

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"direction": 1.0 if rng.random() < 0.5 else -1.0}


class VelocityFamily(_NamedFamily):
    """target_velocity ~ U(0, max_velocity) (ProMP: 3 for HalfCheetah, 10 for Walker2d)."""

    task_class = VelocityTask

    def __init__(self, name: str, max_velocity: float) -> None:
        if not _is_real(max_velocity) or not max_velocity > 0:
            raise ValueError(f"max_velocity must be > 0, got {max_velocity!r}")
        super().__init__(name, max_velocity=float(max_velocity))

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"target_velocity": float(rng.uniform(0.0, self.config["max_velocity"]))}


class Direction2DFamily(_NamedFamily):
    """direction uniform on the unit circle (a normalised N(0, I) draw, as in ProMP)."""

    task_class = Direction2DTask

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        while True:
            vec = rng.standard_normal(2)
            norm = math.hypot(vec[0], vec[1])
            if norm > 1e-12:
                return {"direction": (float(vec[0] / norm), float(vec[1] / norm))}


class GoalFamily(_NamedFamily):
    """goal uniform in the disc of radius ``radius`` (ProMP AntRandGoal: angle U(0, 2π),
    distance radius·sqrt(U(0, 1)))."""

    task_class = GoalTask

    def __init__(self, name: str = "AntGoal", radius: float = 3.0) -> None:
        if not _is_real(radius) or not radius > 0:
            raise ValueError(f"radius must be > 0, got {radius!r}")
        super().__init__(name, radius=float(radius))

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        angle = rng.uniform(0.0, 2.0 * math.pi)
        dist = self.config["radius"] * math.sqrt(rng.uniform(0.0, 1.0))
        cos, sin = portable_cos_sin(angle)
        return {"goal": (dist * cos, dist * sin)}


class BodyParamsFamily(_NamedFamily):
    """Per-element multipliers base^U(-log_scale_limit, log_scale_limit) (rand_param_envs).

    Args:
        name: ``"HopperParams"`` or ``"Walker2dParams"``.
        shapes: the model's array shapes, ``{"body_mass": (nbody,), "body_inertia":
            (nbody, 3), "geom_friction": (ngeom, 3), "dof_damping": (nv,)}``; part of the
            configuration, so a different model gives a different task stream.
        log_scale_limit: 3.0 as in MAML/ProMP.
    """

    task_class = BodyParamsTask

    def __init__(
        self, name: str, shapes: dict[str, tuple[int, ...]], log_scale_limit: float = 3.0
    ) -> None:
        if set(shapes) != set(BODY_PARAM_NAMES):
            raise ValueError(f"shapes must have exactly the keys {list(BODY_PARAM_NAMES)}")
        if not _is_real(log_scale_limit) or not log_scale_limit >= 0:
            raise ValueError(f"log_scale_limit must be >= 0, got {log_scale_limit!r}")
        clean = {k: tuple(int(n) for n in shapes[k]) for k in BODY_PARAM_NAMES}
        super().__init__(name, shapes=clean, log_scale_limit=float(log_scale_limit))
        self.shapes = clean

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        limit = self.config["log_scale_limit"]
        return {
            name: portable_pow(
                BODY_PARAM_BASES[name], rng.uniform(-limit, limit, size=self.shapes[name])
            )
            for name in BODY_PARAM_NAMES
        }

    def check_compatible(self, task: Task) -> None:
        for name in BODY_PARAM_NAMES:
            shape = np.shape(getattr(task, name))
            if shape != self.shapes[name]:
                raise ValueError(
                    f"{name} has shape {shape}, but the {self.name} model needs {self.shapes[name]}"
                )
