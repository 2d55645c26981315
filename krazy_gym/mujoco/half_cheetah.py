"""HalfCheetah meta-tasks: run forward/backward (HalfCheetahDir) or at a target speed
(HalfCheetahVel), on gymnasium's ``HalfCheetahEnv`` v5."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

from krazy_gym.mujoco.base import MujocoTaskEnvMixin
from krazy_gym.mujoco.rewards import direction_term, velocity_term
from krazy_gym.mujoco.tasks import DirectionFamily, DirectionTask, VelocityFamily, VelocityTask


class _HalfCheetahTaskEnv(MujocoTaskEnvMixin, HalfCheetahEnv):
    """Shared step: ``x_velocity`` from copied ``qpos[0]`` before/after, ProMP control cost."""

    def __init__(self, ctrl_cost_weight: float = 0.05, **kwargs: Any) -> None:
        HalfCheetahEnv.__init__(self, ctrl_cost_weight=ctrl_cost_weight, **kwargs)
        self._init_task_env(self._make_family(), {"ctrl_cost_weight": ctrl_cost_weight, **kwargs})

    def _make_family(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _task_reward(self, x_velocity: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        ctrl_sq = self._checked_ctrl_sq(action)
        x_before = float(self.data.qpos[0])
        self.do_simulation(action, self.frame_skip)
        x_after = float(self.data.qpos[0])
        x_velocity = (x_after - x_before) / self.dt
        observation = self._get_obs()
        task_reward = self._forward_reward_weight * self._task_reward(x_velocity)
        ctrl_cost = self._ctrl_cost_weight * ctrl_sq
        reward = task_reward - ctrl_cost
        info = {
            "x_position": x_after,
            "x_velocity": x_velocity,
            "reward_forward": task_reward,
            "reward_ctrl": -ctrl_cost,
        }
        if self.render_mode == "human":
            self.render()
        return observation, reward, False, False, info


class HalfCheetahDirEnv(_HalfCheetahTaskEnv):
    """HalfCheetah that must run in the direction ``d ∈ {+1, -1}`` of its task.

    Reward per step (ProMP ``HalfCheetahRandDirecEnv``, Rothfuss et al. 2018)::

        r = d · v_x − 0.05 · ‖a‖²,     v_x = (x_after − x_before) / dt

    with ``x = qpos[0]`` (the root slide joint) and ``dt = 0.05`` s (5 frames of 0.01 s).
    Never terminates; the registered horizon is 100 steps. Observations, start noise and
    every other keyword are gymnasium's ``HalfCheetah-v5`` (``ctrl_cost_weight`` defaults
    to ProMP's 0.05 instead of 0.1). ``info["reward_forward"]`` is ``d · v_x``.
    """

    def _make_family(self) -> DirectionFamily:
        return DirectionFamily("HalfCheetahDir")

    def _apply_task(self, task: DirectionTask) -> None:
        self._direction = task.direction

    def _task_reward(self, x_velocity: float) -> float:
        return direction_term(self._direction, x_velocity)


class HalfCheetahVelEnv(_HalfCheetahTaskEnv):
    """HalfCheetah that must run forward at the target velocity ``v*`` of its task.

    Reward per step (ProMP ``HalfCheetahRandVelEnv``, Rothfuss et al. 2018; MAML)::

        r = −|v_x − v*| − 0.05 · ‖a‖²,     v* ~ U(0, 3)

    ``v_x`` as in :class:`HalfCheetahDirEnv`. Never terminates; horizon 100 steps.
    ``info["reward_forward"]`` is ``−|v_x − v*|``.
    """

    def _make_family(self) -> VelocityFamily:
        return VelocityFamily("HalfCheetahVel", max_velocity=3.0)

    def _apply_task(self, task: VelocityTask) -> None:
        self._target_velocity = task.target_velocity

    def _task_reward(self, x_velocity: float) -> float:
        return velocity_term(self._target_velocity, x_velocity)
