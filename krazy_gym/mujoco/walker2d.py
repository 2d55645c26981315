"""Walker2d meta-tasks: walk forward/backward (Walker2dDir) or at a target speed
(Walker2dVel), on gymnasium's ``Walker2dEnv`` v5."""

from __future__ import annotations

from typing import Any

from gymnasium.envs.mujoco.walker2d_v5 import Walker2dEnv

from krazy_gym.mujoco.base import MujocoTaskEnvMixin, PlanarWalkerStepMixin
from krazy_gym.mujoco.rewards import direction_term, velocity_term
from krazy_gym.mujoco.tasks import DirectionFamily, DirectionTask, VelocityFamily, VelocityTask


class Walker2dDirEnv(PlanarWalkerStepMixin, MujocoTaskEnvMixin, Walker2dEnv):
    """Walker2d that must walk along x in the direction ``d ∈ {+1, -1}`` of its task.

    Reward per step (ProMP ``Walker2DRandDirecEnv``, Rothfuss et al. 2018)::

        r = d · v_x + 1 − 1e-3 · ‖a‖²,     v_x = (x_after − x_before) / dt

    with ``x = qpos[0]``; the survival bonus 1 is paid on every step. Terminates when the
    torso height leaves (0.8, 2) or its angle leaves (−1, 1) (the healthy range of ProMP and
    gymnasium v5); horizon 200. Observations and timing are gymnasium's ``Walker2d-v5``
    (``dt = 0.008`` s; ProMP used 8 frames per step, ``frame_skip=8`` reproduces that).
    """

    def __init__(self, **kwargs: Any) -> None:
        Walker2dEnv.__init__(self, **kwargs)
        self._init_task_env(DirectionFamily("Walker2dDir"), kwargs)

    def _apply_task(self, task: DirectionTask) -> None:
        self._direction = task.direction

    def _task_reward(self, x_velocity: float) -> float:
        return direction_term(self._direction, x_velocity)


class Walker2dVelEnv(PlanarWalkerStepMixin, MujocoTaskEnvMixin, Walker2dEnv):
    """Walker2d that must walk forward at the target velocity ``v*`` of its task.

    Reward per step (ProMP ``Walker2DRandVelEnv``)::

        r = −|v_x − v*| + 15 − 1e-3 · ‖a‖²,     v* ~ U(0, 10)

    (survival bonus 15 = ``healthy_reward``, paid on every step). ``v_x``, termination,
    horizon and observations as :class:`Walker2dDirEnv`.
    """

    def __init__(self, healthy_reward: float = 15.0, **kwargs: Any) -> None:
        Walker2dEnv.__init__(self, healthy_reward=healthy_reward, **kwargs)
        self._init_task_env(
            VelocityFamily("Walker2dVel", max_velocity=10.0),
            {"healthy_reward": healthy_reward, **kwargs},
        )

    def _apply_task(self, task: VelocityTask) -> None:
        self._target_velocity = task.target_velocity

    def _task_reward(self, x_velocity: float) -> float:
        return velocity_term(self._target_velocity, x_velocity)
