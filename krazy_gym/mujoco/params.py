"""Random-physics meta-tasks (rand_param_envs, as used by MAML and ProMP): Hopper and
Walker2d whose body masses, inertias, friction and joint damping change from task to task,
on gymnasium's ``HopperEnv`` / ``Walker2dEnv`` v5."""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np
from gymnasium.envs.mujoco.hopper_v5 import HopperEnv
from gymnasium.envs.mujoco.walker2d_v5 import Walker2dEnv

from krazy_gym.mujoco.base import MujocoTaskEnvMixin, PlanarWalkerStepMixin
from krazy_gym.mujoco.tasks import BODY_PARAM_NAMES, BodyParamsFamily, BodyParamsTask


def apply_body_params(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    original_params: dict[str, np.ndarray],
    task: BodyParamsTask,
) -> None:
    """Write ``original * multiplier`` of ``task`` into ``model`` and recompute its derived
    constants (``mj_setConst``, with ``data`` as its workspace). Shared by the single env
    and the vector env (one model per distinct task), so both build the same model."""
    multipliers = task.multipliers()
    values = {name: original_params[name] * multipliers[name] for name in BODY_PARAM_NAMES}
    for name, value in values.items():
        getattr(model, name)[...] = value
    mujoco.mj_setConst(model, data)


class BodyParamsMixin(PlanarWalkerStepMixin, MujocoTaskEnvMixin):
    """Applies :class:`BodyParamsTask` multipliers to the model without compounding.

    At construction the original ``body_mass``, ``body_inertia``, ``geom_friction`` and
    ``dof_damping`` are copied once (``np.array(..., copy=True)``, never a view of MuJoCo's
    memory). A task writes ``original * multiplier`` into the model's arrays, then
    ``mujoco.mj_setConst`` recomputes the derived constants (subtree masses, inverse
    weights), so applying a task any number of times, after any other task, leaves the
    model in the same state. The new values are visible in ``env.unwrapped.model`` from the
    next ``reset()`` on.
    """

    _family_name = ""

    def _init_params_env(self, kwargs: dict[str, Any]) -> None:
        model = self.model  # type: ignore[attr-defined]
        self.original_params: dict[str, np.ndarray] = {
            name: np.array(getattr(model, name), dtype=np.float64, copy=True)
            for name in BODY_PARAM_NAMES
        }
        for array in self.original_params.values():
            array.flags.writeable = False
        shapes = {name: array.shape for name, array in self.original_params.items()}
        self._init_task_env(BodyParamsFamily(self._family_name, shapes=shapes), kwargs)

    def _apply_task(self, task: BodyParamsTask) -> None:
        apply_body_params(self.model, self.data, self.original_params, task)  # type: ignore[attr-defined]

    def _task_reward(self, x_velocity: float) -> float:
        return x_velocity  # the forward speed itself: no task term


class HopperParamsEnv(BodyParamsMixin, HopperEnv):
    """Hopper with task-specific body masses, inertias, friction and joint damping.

    Reward per step (rand_param_envs ``HopperRandParamsEnv``, used by MAML and ProMP)::

        r = v_x + 1 − 1e-3 · ‖a‖²,     v_x = (x_after − x_before) / dt

    with ``x = qpos[0]``; the survival bonus 1 is paid on every step. Task: each element of
    ``body_mass``, ``body_inertia``, ``geom_friction`` is multiplied by 1.5^U(−3, 3) and each
    of ``dof_damping`` by 1.3^U(−3, 3), one draw per element. Terminates outside gymnasium
    v5's healthy range (|state[2:]| < 100, height > 0.7, |angle| < 0.2, as rand_param_envs);
    horizon 200. Observations are gymnasium's ``Hopper-v5``.
    """

    _family_name = "HopperParams"

    def __init__(self, **kwargs: Any) -> None:
        HopperEnv.__init__(self, **kwargs)
        self._init_params_env(kwargs)


class Walker2dParamsEnv(BodyParamsMixin, Walker2dEnv):
    """Walker2d with task-specific body masses, inertias, friction and joint damping.

    Reward per step (rand_param_envs ``Walker2DRandParamsEnv``)::

        r = v_x + 1 − 1e-3 · ‖a‖²

    Task distribution as :class:`HopperParamsEnv`. Terminates when the torso height leaves
    (0.8, 2) or its angle leaves (−1, 1) (gymnasium v5's healthy range); horizon 200.
    Observations are gymnasium's ``Walker2d-v5``.
    """

    _family_name = "Walker2dParams"

    def __init__(self, **kwargs: Any) -> None:
        Walker2dEnv.__init__(self, **kwargs)
        self._init_params_env(kwargs)
