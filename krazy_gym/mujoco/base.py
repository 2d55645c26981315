"""What every MuJoCo meta-task env shares: task-aware reset, action checks, pickling.

The envs subclass gymnasium's v5 locomotion envs; :class:`MujocoTaskEnvMixin` goes first in
the bases (``class HalfCheetahDirEnv(MujocoTaskEnvMixin, HalfCheetahEnv)``) so that its
``reset`` wraps gymnasium's.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.utils import EzPickle

from krazy_gym.mujoco.rendering import check_render_backend
from krazy_gym.mujoco.rewards import squared_norm
from krazy_gym.tasks import TaskEnvMixin

#: MuJoCo compiler warnings about gymnasium's own bundled XML files that say nothing to users
#: (mujoco >= 3.3 deprecates ``settotalmass``, used by half_cheetah.xml).
_KNOWN_ASSET_WARNINGS = ("compiler attribute 'settotalmass' is deprecated",)


@contextlib.contextmanager
def mujoco_warnings_to_python() -> Iterator[None]:
    """Route MuJoCo's C-level warnings to Python's ``warnings`` while the block runs.

    Without this, MuJoCo writes each warning to ``MUJOCO_LOG.TXT`` in the working directory
    (for HalfCheetah: on every model load). Known warnings about gymnasium's bundled assets
    are dropped; any other becomes a ``RuntimeWarning``.
    """
    previous = mujoco.get_mju_user_warning()

    def forward(message: str) -> None:
        if not message.startswith(_KNOWN_ASSET_WARNINGS):
            warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)

    mujoco.set_mju_user_warning(forward)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)


class MujocoTaskEnvMixin(TaskEnvMixin):
    """Meta-env behaviour on top of a gymnasium ``MujocoEnv`` subclass.

    * ``reset(seed=s)`` seeds ``np_random``, picks a default training task if no task was
      ever set (without consuming ``np_random``: the start state of ``reset(seed=s)`` is
      gymnasium's own), applies a pending task, then runs gymnasium's reset.
    * :meth:`_checked_ctrl_sq` rejects NaN/inf actions *before* MuJoCo is touched and returns
      ``‖a‖²`` (computed once, in float64, from the action written to ``data.ctrl``, by
      :func:`~krazy_gym.mujoco.rewards.squared_norm`, as the vector envs do).
    * Pickling (and ``copy.deepcopy``) rebuilds the env from its constructor arguments
      (gymnasium's ``EzPickle``), re-applies the task and restores ``MjData``, ``np_random``
      and ``spec``: the clone continues exactly like the original.
    * MuJoCo's compiler warnings go to Python's ``warnings`` instead of ``MUJOCO_LOG.TXT``.
    * The first ``render()`` checks that the OpenGL backend can work (a clear error if not).
    """

    def _init_task_env(self, family: Any, ezpickle_kwargs: Mapping[str, Any]) -> None:
        """Call at the end of ``__init__``: set the family and the pickling arguments."""
        self.task_family = family
        self._task = None
        self._pending_task = None
        # gymnasium's __init__ recorded *its own* arguments; record ours instead.
        EzPickle.__init__(self, **ezpickle_kwargs)
        self._nu = int(self.model.nu)  # type: ignore[attr-defined]

    def _initialize_simulation(self):  # type: ignore[no-untyped-def]
        with mujoco_warnings_to_python():
            return super()._initialize_simulation()  # type: ignore[misc]

    def reset(
        self, *, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if options is not None and "task" in options:
            self.set_task(options["task"])  # validates: a bad task raises before anything changes
        gym.Env.reset(self, seed=seed)  # type: ignore[arg-type]
        if self._task is None and self._pending_task is None:
            self._pending_task = self._default_task()
        self._reset_task(None)
        return super().reset(seed=None, options=options)  # type: ignore[misc]

    def _default_task(self) -> Any:
        """The first task of a training stream picked by ``np_random``, *peeked*: the
        generator's state is restored afterwards, so ``reset(seed=s)`` gives the same start
        state as gymnasium's own env and as any later ``reset(seed=s)``."""
        bit_generator = self.np_random.bit_generator  # type: ignore[attr-defined]
        saved = bit_generator.state
        stream = int(self.np_random.integers(0, 2**31 - 1))  # type: ignore[attr-defined]
        bit_generator.state = saved
        return self.task_family.sample_tasks(1, "train", seed=stream)[0]

    def _checked_ctrl_sq(self, action: Any) -> float:
        """``‖action‖²`` in float64; ``ValueError`` for a wrong shape or non-finite entries."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (self._nu,):
            raise ValueError(f"action must have shape ({self._nu},), got {a.shape}")
        sq = float(squared_norm(a))
        if not sq < math.inf:  # NaN or inf somewhere
            raise ValueError(f"action must be finite (no NaN or inf), got {a.tolist()}")
        return sq

    def render(self) -> Any:
        """gymnasium's render, after checking once that MuJoCo's OpenGL backend can work
        (:func:`~krazy_gym.mujoco.rendering.check_render_backend`: a clear
        ``DependencyNotInstalled`` naming ``MUJOCO_GL=egl|osmesa`` instead of MuJoCo's crash)."""
        if not getattr(self, "_render_checked", False):
            check_render_backend(self.render_mode)  # type: ignore[attr-defined]
            self._render_checked = True
        return super().render()  # type: ignore[misc]

    # -- pickling ----------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """gymnasium's ``EzPickle`` state (constructor arguments) plus everything that makes
        the clone continue exactly like the original: the task, the full ``MjData`` (a copy,
        derived quantities included), ``np_random`` and ``spec``."""
        state = EzPickle.__getstate__(self)  # type: ignore[arg-type]
        state["krazy_gym_extra"] = {
            "task": self._task,
            "pending_task": self._pending_task,
            "mjdata": self.data,  # type: ignore[attr-defined]
            "np_random": self._np_random,  # type: ignore[attr-defined]
            "np_random_seed": self._np_random_seed,  # type: ignore[attr-defined]
            "spec": getattr(self, "spec", None),
        }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        extra = state.pop("krazy_gym_extra", {})
        EzPickle.__setstate__(self, state)  # type: ignore[arg-type]
        if extra.get("task") is not None:
            self._apply_task(extra["task"])
            self._task = extra["task"]
        self._pending_task = extra.get("pending_task")
        if extra.get("mjdata") is not None:
            # copy into the existing MjData: the renderer keeps a reference to it
            mujoco.mj_copyData(self.data, self.model, extra["mjdata"])  # type: ignore[attr-defined]
        self._np_random = extra.get("np_random")
        self._np_random_seed = extra.get("np_random_seed")
        self.spec = extra.get("spec")


class PlanarWalkerStepMixin:
    """``step`` for the planar robots with a healthy range (Walker2d, Hopper).

    ``r = task_term(v_x) + healthy_reward − ctrl_cost_weight · ‖a‖²`` with ``v_x`` from
    ``qpos[0]`` (root slide joint) copied before and after the simulation; the survival
    bonus is paid on every step, as in ProMP / rand_param_envs; terminates when gymnasium's
    ``is_healthy`` is False. Subclasses give :meth:`_task_reward`.
    """

    def _task_reward(self, x_velocity: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        ctrl_sq = self._checked_ctrl_sq(action)  # type: ignore[attr-defined]
        data = self.data  # type: ignore[attr-defined]
        x_before = float(data.qpos[0])
        self.do_simulation(action, self.frame_skip)  # type: ignore[attr-defined]
        x_after = float(data.qpos[0])
        x_velocity = (x_after - x_before) / self.dt  # type: ignore[attr-defined]
        observation = self._get_obs()  # type: ignore[attr-defined]

        task_reward = self._forward_reward_weight * self._task_reward(x_velocity)  # type: ignore[attr-defined]
        ctrl_cost = self._ctrl_cost_weight * ctrl_sq  # type: ignore[attr-defined]
        survive_reward = float(self._healthy_reward)  # type: ignore[attr-defined]
        reward = task_reward + survive_reward - ctrl_cost
        terminated = self._terminate_when_unhealthy and not self.is_healthy  # type: ignore[attr-defined]
        info = {
            "x_position": x_after,
            "z_distance_from_origin": float(data.qpos[1] - self.init_qpos[1]),  # type: ignore[attr-defined]
            "x_velocity": x_velocity,
            "reward_forward": task_reward,
            "reward_ctrl": -ctrl_cost,
            "reward_survive": survive_reward,
        }
        if self.render_mode == "human":  # type: ignore[attr-defined]
            self.render()  # type: ignore[attr-defined]
        return observation, reward, bool(terminated), False, info
