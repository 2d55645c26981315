"""Humanoid meta-tasks: run along ±x (HumanoidDir) or along a planar direction
(HumanoidDir2D), on gymnasium's ``HumanoidEnv`` v5."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.envs.mujoco.humanoid_v5 import HumanoidEnv, mass_center

from krazy_gym.mujoco.base import MujocoTaskEnvMixin
from krazy_gym.mujoco.rewards import direction2d_term, direction_term
from krazy_gym.mujoco.tasks import (
    Direction2DFamily,
    Direction2DTask,
    DirectionFamily,
    DirectionTask,
)


class _HumanoidTaskEnv(MujocoTaskEnvMixin, HumanoidEnv):
    """Shared step: centre of mass (x, y) copied before/after the simulation, ProMP costs."""

    def __init__(self, **kwargs: Any) -> None:
        HumanoidEnv.__init__(self, **kwargs)
        self._init_task_env(self._make_family(), kwargs)

    def _make_family(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _task_velocity(self, x_velocity: float, y_velocity: float) -> float:  # pragma: no cover
        raise NotImplementedError

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        ctrl_sq = self._checked_ctrl_sq(action)
        xy_before = mass_center(self.model, self.data)  # a fresh array, not a view
        self.do_simulation(action, self.frame_skip)
        xy_after = mass_center(self.model, self.data)
        x_velocity, y_velocity = ((xy_after - xy_before) / self.dt).tolist()
        observation = self._get_obs()

        forward_reward = self._forward_reward_weight * self._task_velocity(x_velocity, y_velocity)
        ctrl_cost = self._ctrl_cost_weight * ctrl_sq
        contact_cost = float(self.contact_cost)
        survive_reward = float(self._healthy_reward)
        reward = forward_reward + survive_reward - ctrl_cost - contact_cost
        terminated = self._terminate_when_unhealthy and not self.is_healthy

        qpos = self.data.qpos
        info = {
            "x_position": float(qpos[0]),
            "y_position": float(qpos[1]),
            "tendon_length": self.data.ten_length.copy(),
            "tendon_velocity": self.data.ten_velocity.copy(),
            "distance_from_origin": float(np.hypot(qpos[0], qpos[1])),
            "x_velocity": x_velocity,
            "y_velocity": y_velocity,
            "reward_survive": survive_reward,
            "reward_forward": forward_reward,
            "reward_ctrl": -ctrl_cost,
            "reward_contact": -contact_cost,
        }
        if self.render_mode == "human":
            self.render()
        return observation, reward, bool(terminated), False, info


class HumanoidDirEnv(_HumanoidTaskEnv):
    """Humanoid that must run along x in the direction ``d ∈ {+1, -1}`` of its task.

    Reward per step (ProMP ``HumanoidRandDirecEnv``, Rothfuss et al. 2018)::

        r = 1.25 · d · v_com,x − 0.1 · ‖a‖² − min(5e-7 · ‖cfrc_ext‖², 10) + 5

    ``v_com`` from the mass-weighted centre of the bodies (gymnasium's ``mass_center``)
    before and after the step, ``dt = 0.015`` s. ProMP writes the forward term as
    ``0.25 · Δx / timestep``, which is the same ``1.25 · Δx / dt`` with 5 frames per step.
    The survival bonus 5 is paid on every step. Terminates when the torso height leaves
    (1, 2); horizon 200. Observations are gymnasium's ``Humanoid-v5``.
    """

    def _make_family(self) -> DirectionFamily:
        return DirectionFamily("HumanoidDir")

    def _apply_task(self, task: DirectionTask) -> None:
        self._direction = task.direction

    def _task_velocity(self, x_velocity: float, y_velocity: float) -> float:
        return direction_term(self._direction, x_velocity)


class HumanoidDir2DEnv(_HumanoidTaskEnv):
    """Humanoid that must run in the planar direction ``d`` (a unit vector) of its task.

    Reward per step (ProMP ``HumanoidRandDirec2DEnv``)::

        r = 1.25 · d · (v_com,x, v_com,y) − 0.1 · ‖a‖² − min(5e-7 · ‖cfrc_ext‖², 10) + 5

    Termination, horizon and observations as :class:`HumanoidDirEnv`.
    """

    def _make_family(self) -> Direction2DFamily:
        return Direction2DFamily("HumanoidDir2D")

    def _apply_task(self, task: Direction2DTask) -> None:
        self._direction = task.direction

    def _task_velocity(self, x_velocity: float, y_velocity: float) -> float:
        dx, dy = self._direction
        return direction2d_term(dx, dy, x_velocity, y_velocity)
