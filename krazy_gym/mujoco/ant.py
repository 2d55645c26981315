"""Ant meta-tasks: run along ±x (AntDir), along a planar direction (AntDir2D), or walk to a
goal position (AntGoal), on gymnasium's ``AntEnv`` v5."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.envs.mujoco.ant_v5 import AntEnv

from krazy_gym.mujoco.base import MujocoTaskEnvMixin
from krazy_gym.mujoco.rewards import direction2d_term, direction_term, goal_term
from krazy_gym.mujoco.tasks import (
    Direction2DFamily,
    Direction2DTask,
    DirectionFamily,
    DirectionTask,
    GoalFamily,
    GoalTask,
)


class _AntTaskEnv(MujocoTaskEnvMixin, AntEnv):
    """Shared step: torso (x, y) copied before/after the simulation, ProMP costs.

    Subclasses give :meth:`_task_reward` (the task term, from the torso's position after
    the step and its velocity) and the key under which ``info`` reports it.
    """

    _task_reward_key = "reward_forward"

    def __init__(self, **kwargs: Any) -> None:
        AntEnv.__init__(self, **kwargs)
        self._torso_id = int(self.data.body(self._main_body).id)
        self._init_task_env(self._make_family(), kwargs)

    def _make_family(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _task_reward(
        self, xy_after: np.ndarray, x_velocity: float, y_velocity: float
    ) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        ctrl_sq = self._checked_ctrl_sq(action)
        xy_before = self.data.xpos[self._torso_id, :2].copy()
        self.do_simulation(action, self.frame_skip)
        xy_after = self.data.xpos[self._torso_id, :2].copy()
        x_velocity, y_velocity = ((xy_after - xy_before) / self.dt).tolist()
        observation = self._get_obs()

        task_reward = self._forward_reward_weight * self._task_reward(
            xy_after, x_velocity, y_velocity
        )
        ctrl_cost = self._ctrl_cost_weight * ctrl_sq
        contact_cost = float(self.contact_cost)
        survive_reward = float(self._healthy_reward)
        reward = task_reward + survive_reward - ctrl_cost - contact_cost
        terminated = self._terminate_when_unhealthy and not self.is_healthy

        qpos = self.data.qpos
        info = {
            "x_position": float(qpos[0]),
            "y_position": float(qpos[1]),
            "distance_from_origin": float(np.hypot(qpos[0], qpos[1])),
            "x_velocity": x_velocity,
            "y_velocity": y_velocity,
            self._task_reward_key: task_reward,
            "reward_ctrl": -ctrl_cost,
            "reward_contact": -contact_cost,
            "reward_survive": survive_reward,
        }
        if self.render_mode == "human":
            self.render()
        return observation, reward, bool(terminated), False, info


class AntDirEnv(_AntTaskEnv):
    """Ant that must run along x in the direction ``d ∈ {+1, -1}`` of its task.

    Reward per step (ProMP ``AntRandDirecEnv``, Rothfuss et al. 2018)::

        r = d · v_x − 0.5 · ‖a‖² − 5e-4 · ‖clip(cfrc_ext, −1, 1)‖² + 1

    ``v_x`` from the torso position copied before and after the step (``dt = 0.05`` s). The
    survival bonus 1 is paid on every step, as in ProMP. Terminates when the state is not
    finite or the torso height leaves [0.2, 1.0] (gymnasium v5's healthy range); horizon 200.
    Observations are gymnasium's ``Ant-v5`` (x, y excluded, clipped contact forces included).
    """

    def _make_family(self) -> DirectionFamily:
        return DirectionFamily("AntDir")

    def _apply_task(self, task: DirectionTask) -> None:
        self._direction = task.direction

    def _task_reward(self, xy_after: np.ndarray, x_velocity: float, y_velocity: float) -> float:
        return direction_term(self._direction, x_velocity)


class AntDir2DEnv(_AntTaskEnv):
    """Ant that must run in the planar direction ``d`` (a unit vector) of its task.

    Reward per step (ProMP ``AntRandDirec2DEnv``)::

        r = d · (v_x, v_y) − 0.5 · ‖a‖² − 5e-4 · ‖clip(cfrc_ext, −1, 1)‖² + 1

    Termination, horizon and observations as :class:`AntDirEnv`.
    """

    def _make_family(self) -> Direction2DFamily:
        return Direction2DFamily("AntDir2D")

    def _apply_task(self, task: Direction2DTask) -> None:
        self._direction = task.direction

    def _task_reward(self, xy_after: np.ndarray, x_velocity: float, y_velocity: float) -> float:
        dx, dy = self._direction
        return direction2d_term(dx, dy, x_velocity, y_velocity)


class AntGoalEnv(_AntTaskEnv):
    """Ant that must walk to the goal position ``g`` of its task (a disc of radius 3).

    Reward per step (ProMP ``AntRandGoalEnv``)::

        r = −‖xy − g‖₁ − 0.1 · ‖a‖² − 5e-4 · ‖clip(cfrc_ext, −1, 1)‖²

    with ``xy`` the torso position after the step. As in ProMP it never terminates
    (``terminate_when_unhealthy=False``, no survival bonus) and the observation includes the
    torso's x, y (``exclude_current_positions_from_observation=False``): without them the
    goal cannot be located. Horizon 200. ``info["reward_goal"]`` is ``−‖xy − g‖₁``.
    """

    _task_reward_key = "reward_goal"

    def __init__(
        self,
        ctrl_cost_weight: float = 0.1,
        healthy_reward: float = 0.0,
        terminate_when_unhealthy: bool = False,
        exclude_current_positions_from_observation: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            ctrl_cost_weight=ctrl_cost_weight,
            healthy_reward=healthy_reward,
            terminate_when_unhealthy=terminate_when_unhealthy,
            exclude_current_positions_from_observation=exclude_current_positions_from_observation,
            **kwargs,
        )

    def _make_family(self) -> GoalFamily:
        return GoalFamily("AntGoal", radius=3.0)

    def _apply_task(self, task: GoalTask) -> None:
        self._goal = task.goal

    def _task_reward(self, xy_after: np.ndarray, x_velocity: float, y_velocity: float) -> float:
        gx, gy = self._goal
        return goal_term(gx, gy, float(xy_after[0]), float(xy_after[1]))
