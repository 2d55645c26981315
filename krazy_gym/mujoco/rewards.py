"""The task terms of the MuJoCo meta-task rewards, for one env or a batch (numpy only).

The single envs (``half_cheetah``, ``ant``, ``humanoid``, ``walker2d``, ``params``) call
these with Python floats; the native vector envs (:mod:`krazy_gym.mujoco.vector`) with
``(N,)`` arrays. Each function is a few elementwise IEEE operations in a fixed order, so both
give the same bits; :func:`squared_norm` is the one reduction, and it runs numpy's dot kernel
on every row, as ``a @ a`` does on one action.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def direction_term(direction: Any, velocity: Any) -> Any:
    """``d · v`` (run along ±x)."""
    return direction * velocity


def velocity_term(target_velocity: Any, velocity: Any) -> Any:
    """``−|v − v*|`` (run at a target speed)."""
    return -abs(velocity - target_velocity)


def direction2d_term(dx: Any, dy: Any, vx: Any, vy: Any) -> Any:
    """``d · (v_x, v_y)`` (run along a planar unit direction)."""
    return dx * vx + dy * vy


def goal_term(gx: Any, gy: Any, x: Any, y: Any) -> Any:
    """``−‖(x, y) − g‖₁`` (walk to a goal position)."""
    return -(abs(x - gx) + abs(y - gy))


def squared_norm(a: np.ndarray) -> Any:
    """``‖row‖²`` over the last axis (a float64 scalar for a 1-D ``a``, ``(N,)`` for rows).

    ``np.vecdot`` runs numpy's dot kernel on each row, the kernel of ``a @ a`` for one
    vector, so one env and a batch round alike (a plain sum of squares would not).
    """
    return np.vecdot(a, a)
