"""Native batched ``VectorEnv``s of the MuJoCo meta-task families (``gym.make_vec``).

    >>> import gymnasium as gym, krazy_gym
    >>> envs = gym.make_vec("KrazyGym/HalfCheetahDir-v0", num_envs=800)     # num_threads=2
    >>> tasks = envs.unwrapped.sample_tasks(40, split="train", seed=0)
    >>> obs, info = envs.reset(seed=0, options={"task": [t for t in tasks for _ in range(20)]})
    >>> obs, rewards, terminated, truncated, info = envs.step(envs.action_space.sample())

The physics, two engines with the same trajectories:

* **``mujoco.batch.Batch``** (MuJoCo >= 4.0), for the robots whose observations and rewards
  need only ``qpos`` and ``qvel`` (HalfCheetah, Walker2d, Hopper and the body-parameter
  families): every env is one ``mjSTATE_INTEGRATION`` row of the batch (warm start
  included), and one call, ``Batch.step(nstep=frame_skip)``, runs all envs on ``num_threads``
  threads in C++ without the GIL, loading each row into a per-thread ``MjData`` (so the
  working set stays in cache); MuJoCo documents its results as bit-identical to a loop over
  one ``MjData`` per simulation. The body-parameter families pass one ``MjModel`` per env
  (``Batch.set_models``).
* **a loop over one ``MjData`` per env** (Ant and Humanoid, which read contact forces computed
  by ``mj_rnePostConstraint`` after the step, and every robot under MuJoCo < 4.0): a step
  writes each env's action into its ``data.ctrl`` and calls
  ``mujoco.mj_step(model, data, nstep=frame_skip)``; the envs are split into ``num_threads``
  contiguous chunks stepped by a small thread pool (``mj_step`` releases the GIL, so the
  chunks' physics runs in parallel), and each chunk copies the state it needs (``qpos``,
  ``qvel``, contact forces, body positions ...) into ``(N, ...)`` arrays.

From those ``(N, ...)`` arrays the observations, rewards, terminations and infos of all envs
are computed with whole-batch numpy operations. ``num_threads`` defaults to the usable cores
(``os.sched_getaffinity``), capped at ``num_envs``.

The trajectories are exactly those of ``num_envs`` single envs made with ``gym.make`` (same
tasks, seeds ``seed + i`` and actions; ``tests/mujoco/test_mujoco_vector.py`` compares them
step by step with ``SyncVectorEnv``, infos included):

* start states: ``mj_resetData`` and the single env's noise draws from each env's own
  generator (seeded like the single env's ``np_random``), then ``mj_forward``;
* the reward terms are :mod:`krazy_gym.mujoco.rewards`, the functions the single envs call;
  gymnasium's terms (contact costs, centre of mass, healthy ranges, observations) are
  recomputed here per row with the same operations (elementwise, or reductions over each
  env's contiguous row, which numpy adds in the same order as for one env's array);
* ``mj_rnePostConstraint`` (contact forces) runs only for the robots that use them (Ant,
  Humanoid): it computes derived quantities and never changes the dynamics;
* episodes are truncated after ``max_episode_steps`` (``gym.make_vec`` passes the id's horizon;
  ``TimeLimit``'s rule) and ``AutoresetMode.SAME_STEP``: an env whose episode ends is reset
  within the same step; ``info["final_obs"]`` is an ``[N, obs_dim]`` array whose row ``i`` is
  env ``i``'s last observation where ``info["_final_obs"][i]``, ``info["final_info"]`` its
  last step's info, and, as in ``SyncVectorEnv``, ``info`` shows the reset's info for envs
  that were reset (:func:`krazy_gym.vector_tasks.same_step_info`).

Tasks, as for the other native vector envs: ``reset(options={"task": tasks})`` (one per env,
or one for all) applies them at once, ``set_attr("task", tasks)`` at each env's next reset,
the automatic one included; an env reset without any task takes the default training task
the single env would (peeked from its generator, which it leaves unchanged).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from krazy_gym.mujoco.ant import AntDir2DEnv, AntDirEnv, AntGoalEnv
from krazy_gym.mujoco.half_cheetah import HalfCheetahDirEnv, HalfCheetahVelEnv
from krazy_gym.mujoco.humanoid import HumanoidDir2DEnv, HumanoidDirEnv
from krazy_gym.mujoco.params import HopperParamsEnv, Walker2dParamsEnv, apply_body_params
from krazy_gym.mujoco.rewards import (
    direction2d_term,
    direction_term,
    goal_term,
    squared_norm,
    velocity_term,
)
from krazy_gym.mujoco.walker2d import Walker2dDirEnv, Walker2dVelEnv
from krazy_gym.tasks import Task
from krazy_gym.vector_tasks import PerEnvTasksMixin, same_step_info

try:  # MuJoCo >= 4.0: many simulations of one model stepped in C++ on a thread pool
    from mujoco.batch import Batch as _Batch
except ImportError:  # pragma: no cover - older MuJoCo: the per-env MjData loop
    _Batch = None


def usable_cores() -> int:
    """The number of cores this process may run on (``os.sched_getaffinity`` where it exists)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _check_int(name: str, value: Any, low: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        none = "None or " if allow_none else ""
        raise ValueError(f"{name} must be {none}an int >= {low}, got {value!r}")
    return int(value)


class MujocoVectorEnv(PerEnvTasksMixin, VectorEnv):
    """Shared machinery: per-env ``MjData``, the thread pool, tasks, time limit, autoreset.

    A subclass names its single-env class (``env_class``) and gives ``_fields`` (the extra
    ``MjData`` arrays to copy after each step), ``_observe()``, ``_before()`` (what the reward
    needs from before the step) and ``_step_terms(before, ctrl_sq)`` (rewards, terminated,
    the step's info), plus ``_load_task(i, task)``.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}
    env_class: type[gym.Env]
    #: the start noise of qvel: "uniform" (U(−s, s)) or "normal" (s · N(0, 1)), as the robot's
    #: gymnasium ``reset_model``
    _qvel_noise = "uniform"
    #: run ``mj_rnePostConstraint`` after the step (contact forces ``cfrc_ext`` are used)
    _post_constraint = False
    #: step with ``mujoco.batch.Batch`` where the robot allows it (see the module docstring);
    #: False forces the per-env ``MjData`` loop (the tests compare both)
    use_batch = True

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        num_threads: int | None = None,
        **kwargs: Any,
    ) -> None:
        n = _check_int("num_envs", num_envs, 1)
        horizon = _check_int("max_episode_steps", max_episode_steps, 1, allow_none=True)
        threads = _check_int("num_threads", num_threads, 1, allow_none=True)
        if render_mode is not None:
            raise ValueError(
                f"render_mode must be None for {type(self).__name__} (render a single env made "
                f"with gym.make(..., render_mode='rgb_array')), got {render_mode!r}"
            )
        template = self.env_class(**kwargs)  # checks kwargs with the single env's messages
        self._template = template
        self.task_family = template.task_family
        self.num_envs = n
        self.max_episode_steps = horizon
        self.num_threads = min(threads or usable_cores(), n)
        self.render_mode = None
        self.single_observation_space = template.observation_space
        self.single_action_space = template.action_space
        self.observation_space = batch_space(self.single_observation_space, n)
        self.action_space = batch_space(self.single_action_space, n)

        model = template.model
        self._model = model  # the template's (for the parameter families: the original) model
        self._frame_skip = int(template.frame_skip)
        self._dt = template.dt
        self._init_qpos = template.init_qpos.copy()
        self._init_qvel = template.init_qvel.copy()
        self._noise_scale = template._reset_noise_scale
        self._nq, self._nv, self._nu = int(model.nq), int(model.nv), int(model.nu)
        self._fields_all = self._all_fields()
        self._act = np.zeros((n, self._nu))
        self._models = [model] * n
        self._models_changed = False
        self._batch = None
        if self.use_batch and _Batch is not None and not self._post_constraint and not self._fields():
            self._batch = _Batch(model, n, nthread=self.num_threads)
            self._bind_batch()
        else:
            scratch = mujoco.MjData(model)
            self._arrays = {
                name: np.zeros((n, *get(scratch).shape)) for name, get in self._fields_all.items()
            }
            self._datas = [mujoco.MjData(model) for _ in range(n)]
            self._bound = [()] * n
            for i in range(n):
                self._bind(i)
        self._init_tasks(n)
        self._init_family(template)
        self._t = np.zeros(n, dtype=np.int64)
        self._has_reset = False
        self._pool: ThreadPoolExecutor | None = None
        self._chunks = [c.tolist() for c in np.array_split(np.arange(n), self.num_threads)]

    # -- family-specific parts (subclasses) ----------------------------------------------------
    def _fields(self) -> dict[str, Any]:
        """Extra ``MjData`` arrays copied after each step: name -> ``data -> view``."""
        return {}

    def _all_fields(self) -> dict[str, Any]:
        return {"qpos": (lambda d: d.qpos), "qvel": (lambda d: d.qvel), **self._fields()}

    def _init_family(self, template: gym.Env) -> None:
        """Per-env task arrays and constants read from the single env ``template``."""

    def _observe(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _before(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _step_terms(
        self, before: Any, ctrl_sq: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _reset_info(self) -> dict[str, np.ndarray]:
        """The reset info of every row (``_get_reset_info`` of the robot)."""
        return {"x_position": self._arrays["qpos"][:, 0].copy()}

    @property
    def engine(self) -> str:
        """``"batch"`` (``mujoco.batch.Batch``) or ``"loop"`` (one ``MjData`` per env)."""
        return "loop" if self._batch is None else "batch"

    # -- mujoco.batch engine -------------------------------------------------------------------
    def _bind_batch(self) -> None:
        """``qpos``/``qvel``: live ``(N, ...)`` views of the batch's state rows; ``ctrl`` too."""
        batch = self._batch
        self._arrays = {"qpos": batch.bind("qpos"), "qvel": batch.bind("qvel")}
        self._ctrl_rows = batch.bind("ctrl")

    def _sync_models(self) -> None:
        """Hand the envs' models (changed by a task) to the batch before its next call."""
        if self._models_changed:
            self._batch.set_models(self._models)
            self._models_changed = False

    def _physics_step(self) -> None:
        if self._batch is None:
            self._parallel(self._step_rows)
            return
        self._sync_models()
        np.copyto(self._ctrl_rows, self._act)
        self._batch.step(nstep=self._frame_skip)

    def _physics_reset(self, rows: np.ndarray) -> None:
        if self._batch is None:
            self._parallel(self._reset_rows, rows)
            return
        if len(rows) == 0:
            return
        self._sync_models()
        ids = np.unique(np.asarray(rows, dtype=np.int64))
        batch = self._batch
        batch.reset(ids, stage=mujoco.mjtStage.mjSTAGE_NONE)  # mj_resetData per row
        qpos, qvel = self._arrays["qpos"], self._arrays["qvel"]
        for i in ids:
            qpos[i], qvel[i] = self._start_state(int(i))
        batch.forward(ids)

    def _start_state(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Env ``i``'s start ``qpos``, ``qvel``: ``reset_model``'s draws from its generator."""
        low, high = -self._noise_scale, self._noise_scale
        rng = self._rngs[i]
        qpos = self._init_qpos + rng.uniform(low=low, high=high, size=self._nq)
        if self._qvel_noise == "normal":
            qvel = self._init_qvel + self._noise_scale * rng.standard_normal(self._nv)
        else:
            qvel = self._init_qvel + rng.uniform(low=low, high=high, size=self._nv)
        return qpos, qvel

    # -- per-env MjData engine -----------------------------------------------------------------
    def _bind(self, i: int) -> None:
        """Cache env ``i``'s views: its ``MjData``'s ctrl and copied arrays, its batch rows."""
        data = self._datas[i]
        copies = tuple((self._arrays[name][i], get(data)) for name, get in self._fields_all.items())
        self._bound[i] = (self._models[i], data, data.ctrl, self._act[i], copies)

    def _step_rows(self, rows: list[int]) -> None:
        """Physics of the envs ``rows`` (one thread's chunk): ctrl, ``mj_step``, copy out."""
        step, post = mujoco.mj_step, mujoco.mj_rnePostConstraint
        nstep, need_post, copyto, bound = self._frame_skip, self._post_constraint, np.copyto, self._bound
        for i in rows:
            model, data, ctrl, act, copies = bound[i]
            copyto(ctrl, act)
            step(model, data, nstep=nstep)
            if need_post:
                post(model, data)
            for dst, src in copies:
                copyto(dst, src)

    def _reset_rows(self, rows: list[int]) -> None:
        """Start states of the envs ``rows``: gymnasium's ``reset`` + ``reset_model``, with each
        env's generator drawing what the single env's ``np_random`` draws, in its order."""
        copyto = np.copyto
        for i in rows:
            model, data, _, _, copies = self._bound[i]
            mujoco.mj_resetData(model, data)
            qpos, qvel = self._start_state(i)
            data.qpos[:] = qpos
            data.qvel[:] = qvel
            mujoco.mj_forward(model, data)
            for dst, src in copies:
                copyto(dst, src)

    def _parallel(self, work: Any, rows: np.ndarray | None = None) -> None:
        """Run ``work(chunk)`` over the envs (or ``rows``) split into ``num_threads`` chunks: the
        first chunk on this thread, the others on the pool; worker errors are re-raised."""
        if rows is None:
            chunks = self._chunks
        elif len(rows) == 0:
            return
        else:
            chunks = [c.tolist() for c in np.array_split(rows, min(self.num_threads, len(rows)))]
        if len(chunks) == 1:
            work(chunks[0])
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.num_threads - 1, thread_name_prefix="krazy-mujoco")
        futures = [self._pool.submit(work, chunk) for chunk in chunks[1:]]
        try:
            work(chunks[0])
        finally:
            for future in futures:
                future.result()

    # -- tasks ---------------------------------------------------------------------------------
    def _default_task(self, i: int) -> Task:
        """The single env's default task: the train stream picked by ``np_random``, *peeked*
        (the generator's state is restored, so the start state is gymnasium's)."""
        bit_generator = self._rngs[i].bit_generator
        saved = bit_generator.state
        stream = int(self._rngs[i].integers(0, 2**31 - 1))
        bit_generator.state = saved
        return self.task_family.sample_tasks(1, "train", seed=stream)[0]

    # -- gymnasium API -------------------------------------------------------------------------
    def _check_actions(self, actions: Any) -> None:
        """Copy ``actions`` into the float64 action buffer; all checked before anything moves."""
        a = np.asarray(actions)
        shape = (self.num_envs, self._nu)
        if a.shape != shape:
            raise ValueError(f"actions must have shape {shape}, got {a.shape}")
        if a.dtype.kind not in "fiu":
            raise ValueError(f"actions must be numbers, got dtype {a.dtype}")
        finite = np.isfinite(a).all(axis=1)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise ValueError(f"actions must be finite (no NaN or inf), got {a[bad].tolist()} for env {bad}")
        np.copyto(self._act, a, casting="unsafe")

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset all envs (or those in ``options["reset_mask"]``); env i is seeded ``seed + i``."""
        self._check_open()
        idx = self._begin_reset(seed, options)
        self._t[idx] = 0
        self._physics_reset(idx)
        self._has_reset = True
        mask = np.zeros(self.num_envs, dtype=np.bool_)
        mask[idx] = True
        info: dict[str, Any] = {}
        for key, value in self._reset_info().items():
            m = mask.reshape(mask.shape + (1,) * (value.ndim - 1))
            info[key], info[f"_{key}"] = np.where(m, value, np.zeros_like(value)), mask.copy()
        return self._observe(), info

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every env; finished envs are reset in the same step (see the module docstring)."""
        self._check_open()
        if not self._has_reset:
            raise RuntimeError("call reset() before step()")
        self._check_actions(actions)
        before = self._before()
        ctrl_sq = squared_norm(self._act)
        self._physics_step()
        rewards, terminated, step_info = self._step_terms(before, ctrl_sq)
        self._t += 1
        if self.max_episode_steps is None:
            truncated = np.zeros(self.num_envs, dtype=np.bool_)
        else:
            truncated = self._t >= self.max_episode_steps
        obs = self._observe()
        done = terminated | truncated
        if not done.any():
            return obs, rewards, terminated, truncated, same_step_info(step_info, done)
        idx = np.flatnonzero(done)
        self._take_pending_at_autoreset(idx)  # tasks set with set_attr take effect here
        self._t[idx] = 0
        self._physics_reset(idx)
        info = same_step_info(step_info, done, self._reset_info())
        info["final_obs"] = obs
        info["_final_obs"] = done
        return self._observe(), rewards, terminated, truncated, info

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError(f"{type(self).__name__} is closed")

    def close_extras(self, **kwargs: Any) -> None:
        """Stop the thread pools and close the template env."""
        self._batch = None
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=True)
            self._pool = None
        template = getattr(self, "_template", None)
        if template is not None:
            template.close()

    # -- pickling ------------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """Everything but the thread pools and the cached views (rebuilt on unpickling). Each
        ``MjData`` pickles its whole state, and a batch's state rows are its whole integration
        state, so the clone continues exactly like the original."""
        state = self.__dict__.copy()
        state["_pool"] = None
        state["_fields_all"] = None
        if self._batch is None:
            state["_bound"] = None
        else:
            state["_batch"] = self._batch.state.copy()
            for key in ("_arrays", "_ctrl_rows"):
                state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._fields_all = self._all_fields()
        if self._batch is None:
            self._bound = [()] * self.num_envs
            for i in range(self.num_envs):
                self._bind(i)
            return
        rows = self._batch
        self._batch = _Batch(self._model, self.num_envs, nthread=self.num_threads)
        self._batch.state[...] = rows
        self._bind_batch()
        self._models_changed = any(m is not self._model for m in self._models)


# -- HalfCheetah -----------------------------------------------------------------------------
class _DirectionTasks:
    """Per-env ±1 direction tasks: the task term is ``direction_term(d, v_x)`` (Ant and
    Humanoid override it with their own signature)."""

    num_envs: int

    def _init_family(self, template: gym.Env) -> None:
        super()._init_family(template)  # type: ignore[misc]
        self._direction = np.ones(self.num_envs)

    def _load_task(self, i: int, task: Task) -> None:
        self._direction[i] = task.direction  # type: ignore[attr-defined]

    def _task_term(self, x_velocity: np.ndarray) -> np.ndarray:
        return direction_term(self._direction, x_velocity)


class _Direction2DTasks:
    """Per-env unit 2-D direction tasks, stored as ``(2, num_envs)`` (dx row, dy row); the
    family defines the task term (Ant and Humanoid take different velocities)."""

    num_envs: int

    def _init_family(self, template: gym.Env) -> None:
        super()._init_family(template)  # type: ignore[misc]
        self._direction = np.zeros((2, self.num_envs))
        self._direction[0] = 1.0

    def _load_task(self, i: int, task: Task) -> None:
        self._direction[:, i] = task.direction  # type: ignore[attr-defined]


class _VelocityTasks:
    """Per-env target-velocity tasks: the task term is ``velocity_term(v*, v_x)``."""

    num_envs: int

    def _init_family(self, template: gym.Env) -> None:
        super()._init_family(template)  # type: ignore[misc]
        self._target_velocity = np.zeros(self.num_envs)

    def _load_task(self, i: int, task: Task) -> None:
        self._target_velocity[i] = task.target_velocity  # type: ignore[attr-defined]

    def _task_term(self, x_velocity: np.ndarray) -> np.ndarray:
        return velocity_term(self._target_velocity, x_velocity)


class _HalfCheetahVectorEnv(MujocoVectorEnv):
    """:class:`~krazy_gym.mujoco.half_cheetah._HalfCheetahTaskEnv`'s step, as arrays."""

    _qvel_noise = "normal"

    def _init_family(self, template: gym.Env) -> None:
        self._skip = 1 if template._exclude_current_positions_from_observation else 0
        self._forward_weight = template._forward_reward_weight
        self._ctrl_weight = template._ctrl_cost_weight

    def _observe(self) -> np.ndarray:
        return np.concatenate((self._arrays["qpos"][:, self._skip:], self._arrays["qvel"]), axis=1)

    def _before(self) -> np.ndarray:
        return self._arrays["qpos"][:, 0].copy()

    def _task_term(self, x_velocity: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _step_terms(self, before, ctrl_sq):
        x_after = self._arrays["qpos"][:, 0].copy()
        x_velocity = (x_after - before) / self._dt
        task_reward = self._forward_weight * self._task_term(x_velocity)
        ctrl_cost = self._ctrl_weight * ctrl_sq
        reward = task_reward - ctrl_cost
        info = {"x_position": x_after, "x_velocity": x_velocity, "reward_forward": task_reward,
                "reward_ctrl": -ctrl_cost}  # fmt: skip
        return reward, np.zeros(self.num_envs, dtype=np.bool_), info


class HalfCheetahDirVectorEnv(_DirectionTasks, _HalfCheetahVectorEnv):
    """``num_envs`` :class:`~krazy_gym.mujoco.half_cheetah.HalfCheetahDirEnv`."""

    env_class = HalfCheetahDirEnv


class HalfCheetahVelVectorEnv(_VelocityTasks, _HalfCheetahVectorEnv):
    """``num_envs`` :class:`~krazy_gym.mujoco.half_cheetah.HalfCheetahVelEnv`."""

    env_class = HalfCheetahVelEnv


# -- Walker2d, Hopper --------------------------------------------------------------------------
class _PlanarWalkerVectorEnv(MujocoVectorEnv):
    """:class:`~krazy_gym.mujoco.base.PlanarWalkerStepMixin`'s step, as arrays (gymnasium's
    Walker2d healthy range; Hopper adds its state range)."""

    _hopper = False

    def _init_family(self, template: gym.Env) -> None:
        self._skip = 1 if template._exclude_current_positions_from_observation else 0
        self._forward_weight = template._forward_reward_weight
        self._ctrl_weight = template._ctrl_cost_weight
        self._survive = float(template._healthy_reward)
        self._terminate = bool(template._terminate_when_unhealthy)
        self._z_range = template._healthy_z_range
        self._angle_range = template._healthy_angle_range
        self._state_range = getattr(template, "_healthy_state_range", None)
        self._init_z = self._init_qpos[1]

    def _observe(self) -> np.ndarray:
        qpos, qvel = self._arrays["qpos"], self._arrays["qvel"]
        return np.concatenate((qpos[:, self._skip:], np.clip(qvel, -10, 10)), axis=1)

    def _before(self) -> np.ndarray:
        return self._arrays["qpos"][:, 0].copy()

    def _task_term(self, x_velocity: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _healthy(self) -> np.ndarray:
        qpos = self._arrays["qpos"]
        z, angle = qpos[:, 1], qpos[:, 2]
        (min_z, max_z), (min_a, max_a) = self._z_range, self._angle_range
        healthy = (min_z < z) & (z < max_z) & (min_a < angle) & (angle < max_a)
        if self._hopper:
            state = np.concatenate((qpos, self._arrays["qvel"]), axis=1)[:, 2:]
            low, high = self._state_range
            healthy &= np.all((low < state) & (state < high), axis=1)
        return healthy

    def _step_terms(self, before, ctrl_sq):
        qpos = self._arrays["qpos"]
        x_after = qpos[:, 0].copy()
        x_velocity = (x_after - before) / self._dt
        task_reward = self._forward_weight * self._task_term(x_velocity)
        ctrl_cost = self._ctrl_weight * ctrl_sq
        survive = np.full(self.num_envs, self._survive)
        reward = task_reward + survive - ctrl_cost
        terminated = ~self._healthy() if self._terminate else np.zeros(self.num_envs, np.bool_)
        info = {
            "x_position": x_after,
            "z_distance_from_origin": qpos[:, 1] - self._init_z,
            "x_velocity": x_velocity,
            "reward_forward": task_reward,
            "reward_ctrl": -ctrl_cost,
            "reward_survive": survive,
        }
        return reward, terminated, info

    def _reset_info(self) -> dict[str, np.ndarray]:
        qpos = self._arrays["qpos"]
        return {"x_position": qpos[:, 0].copy(), "z_distance_from_origin": qpos[:, 1] - self._init_z}


class Walker2dDirVectorEnv(_DirectionTasks, _PlanarWalkerVectorEnv):
    """``num_envs`` :class:`~krazy_gym.mujoco.walker2d.Walker2dDirEnv`."""

    env_class = Walker2dDirEnv


class Walker2dVelVectorEnv(_VelocityTasks, _PlanarWalkerVectorEnv):
    """``num_envs`` :class:`~krazy_gym.mujoco.walker2d.Walker2dVelEnv`."""

    env_class = Walker2dVelEnv


class _BodyParamsVectorEnv(_PlanarWalkerVectorEnv):
    """One ``MjModel`` per distinct task, built once (a copy of the original model with the
    task applied by :func:`~krazy_gym.mujoco.params.apply_body_params`, as the single env
    applies it) and shared by the envs with that task; an env whose model changes gets a new
    ``MjData`` (the batch engine: its row runs on the new model), reset before its next step. A
    model no env uses any more is dropped."""

    def _init_family(self, template: gym.Env) -> None:
        super()._init_family(template)
        self._original_params = template.original_params
        self._cache: dict[Task, list] = {}  # task -> [model, number of envs using it]
        self._model_task: list[Task | None] = [None] * self.num_envs

    def _load_task(self, i: int, task: Task) -> None:
        old = self._model_task[i]
        if old == task:
            return
        entry = self._cache.get(task)
        if entry is None:
            model = copy.copy(self._model)
            apply_body_params(model, mujoco.MjData(model), self._original_params, task)  # type: ignore[arg-type]
            entry = self._cache[task] = [model, 0]
        entry[1] += 1
        if old is not None:
            previous = self._cache[old]
            previous[1] -= 1
            if previous[1] == 0:
                del self._cache[old]
        self._model_task[i] = task
        self._models[i] = entry[0]
        if self._batch is None:
            self._datas[i] = mujoco.MjData(entry[0])
            self._bind(i)
        else:
            self._models_changed = True

    def _task_term(self, x_velocity: np.ndarray) -> np.ndarray:
        return x_velocity


class HopperParamsVectorEnv(_BodyParamsVectorEnv):
    """``num_envs`` :class:`~krazy_gym.mujoco.params.HopperParamsEnv`."""

    env_class = HopperParamsEnv
    _hopper = True


class Walker2dParamsVectorEnv(_BodyParamsVectorEnv):
    """``num_envs`` :class:`~krazy_gym.mujoco.params.Walker2dParamsEnv`."""

    env_class = Walker2dParamsEnv


# -- Ant ---------------------------------------------------------------------------------------
class _AntVectorEnv(MujocoVectorEnv):
    """:class:`~krazy_gym.mujoco.ant._AntTaskEnv`'s step, as arrays."""

    _qvel_noise = "normal"
    _post_constraint = True
    _task_reward_key = "reward_forward"

    def _fields(self) -> dict[str, Any]:
        torso = self._torso_id()
        return {"torso_xy": (lambda d: d.xpos[torso, :2]), "cfrc_ext": (lambda d: d.cfrc_ext)}

    def _torso_id(self) -> int:
        return int(self._template._torso_id)

    def _init_family(self, template: gym.Env) -> None:
        self._skip = 2 if template._exclude_current_positions_from_observation else 0
        self._include_cfrc = bool(template._include_cfrc_ext_in_observation)
        self._forward_weight = template._forward_reward_weight
        self._ctrl_weight = template._ctrl_cost_weight
        self._contact_weight = template._contact_cost_weight
        self._contact_range = template._contact_force_range
        self._survive = float(template._healthy_reward)
        self._terminate = bool(template._terminate_when_unhealthy)
        self._z_range = template._healthy_z_range

    def _contact_forces(self) -> np.ndarray:
        low, high = self._contact_range
        return np.clip(self._arrays["cfrc_ext"], low, high)

    def _observe(self) -> np.ndarray:
        qpos, qvel = self._arrays["qpos"], self._arrays["qvel"]
        parts = [qpos[:, self._skip:], qvel]
        if self._include_cfrc:
            parts.append(self._contact_forces()[:, 1:].reshape(self.num_envs, -1))
        return np.concatenate(parts, axis=1)

    def _before(self) -> np.ndarray:
        return self._arrays["torso_xy"].copy()

    def _task_term(self, xy_after, x_velocity, y_velocity):  # pragma: no cover - abstract
        raise NotImplementedError

    def _step_terms(self, before, ctrl_sq):
        n = self.num_envs
        xy_after = self._arrays["torso_xy"].copy()
        velocity = (xy_after - before) / self._dt
        x_velocity, y_velocity = velocity[:, 0].copy(), velocity[:, 1].copy()
        task_reward = self._forward_weight * self._task_term(xy_after, x_velocity, y_velocity)
        ctrl_cost = self._ctrl_weight * ctrl_sq
        forces = self._contact_forces()
        contact_cost = self._contact_weight * np.sum(np.square(forces).reshape(n, -1), axis=1)
        survive = np.full(n, self._survive)
        reward = task_reward + survive - ctrl_cost - contact_cost
        qpos, qvel = self._arrays["qpos"], self._arrays["qvel"]
        if self._terminate:
            min_z, max_z = self._z_range
            finite = np.isfinite(qpos).all(axis=1) & np.isfinite(qvel).all(axis=1)
            terminated = ~(finite & (min_z <= qpos[:, 2]) & (qpos[:, 2] <= max_z))
        else:
            terminated = np.zeros(n, dtype=np.bool_)
        info = {
            "x_position": qpos[:, 0].copy(),
            "y_position": qpos[:, 1].copy(),
            "distance_from_origin": np.hypot(qpos[:, 0], qpos[:, 1]),
            "x_velocity": x_velocity,
            "y_velocity": y_velocity,
            self._task_reward_key: task_reward,
            "reward_ctrl": -ctrl_cost,
            "reward_contact": -contact_cost,
            "reward_survive": survive,
        }
        return reward, terminated, info

    def _reset_info(self) -> dict[str, np.ndarray]:
        qpos = self._arrays["qpos"]
        xy = np.ascontiguousarray(qpos[:, :2])
        return {"x_position": qpos[:, 0].copy(), "y_position": qpos[:, 1].copy(),
                # np.linalg.norm(qpos[0:2], ord=2) of one env: the sqrt of numpy's dot
                "distance_from_origin": np.sqrt(squared_norm(xy))}  # fmt: skip


class AntDirVectorEnv(_DirectionTasks, _AntVectorEnv):
    """``num_envs`` :class:`~krazy_gym.mujoco.ant.AntDirEnv`."""

    env_class = AntDirEnv

    def _task_term(self, xy_after, x_velocity, y_velocity):
        return direction_term(self._direction, x_velocity)


class AntDir2DVectorEnv(_Direction2DTasks, _AntVectorEnv):
    """``num_envs`` :class:`~krazy_gym.mujoco.ant.AntDir2DEnv`."""

    env_class = AntDir2DEnv

    def _task_term(self, xy_after, x_velocity, y_velocity):
        dx, dy = self._direction
        return direction2d_term(dx, dy, x_velocity, y_velocity)


class AntGoalVectorEnv(_AntVectorEnv):
    """``num_envs`` :class:`~krazy_gym.mujoco.ant.AntGoalEnv`."""

    env_class = AntGoalEnv
    _task_reward_key = "reward_goal"

    def _init_family(self, template: gym.Env) -> None:
        super()._init_family(template)
        self._goal = np.zeros((2, self.num_envs))

    def _load_task(self, i: int, task: Task) -> None:
        self._goal[:, i] = task.goal  # type: ignore[attr-defined]

    def _task_term(self, xy_after, x_velocity, y_velocity):
        gx, gy = self._goal
        return goal_term(gx, gy, xy_after[:, 0], xy_after[:, 1])


# -- Humanoid ----------------------------------------------------------------------------------
class _HumanoidVectorEnv(MujocoVectorEnv):
    """:class:`~krazy_gym.mujoco.humanoid._HumanoidTaskEnv`'s step, as arrays."""

    _post_constraint = True

    def _fields(self) -> dict[str, Any]:
        return {
            "xipos": lambda d: d.xipos,
            "cinert": lambda d: d.cinert,
            "cvel": lambda d: d.cvel,
            "qfrc_actuator": lambda d: d.qfrc_actuator,
            "cfrc_ext": lambda d: d.cfrc_ext,
            "ten_length": lambda d: d.ten_length,
            "ten_velocity": lambda d: d.ten_velocity,
        }

    def _init_family(self, template: gym.Env) -> None:
        t = template
        self._skip = 2 if t._exclude_current_positions_from_observation else 0
        self._include = {
            "cinert": t._include_cinert_in_observation is True,
            "cvel": t._include_cvel_in_observation is True,
            "qfrc_actuator": t._include_qfrc_actuator_in_observation is True,
            "cfrc_ext": t._include_cfrc_ext_in_observation is True,
        }
        self._forward_weight = t._forward_reward_weight
        self._ctrl_weight = t._ctrl_cost_weight
        self._contact_weight = t._contact_cost_weight
        self._contact_cost_range = t._contact_cost_range
        self._survive = float(t._healthy_reward)
        self._terminate = bool(t._terminate_when_unhealthy)
        self._z_range = t._healthy_z_range
        # gymnasium's mass_center: mass-weighted mean of the bodies' xipos
        self._mass = np.expand_dims(self._model.body_mass, axis=1).copy()
        self._total_mass = np.sum(self._mass)

    def _mass_center(self) -> np.ndarray:
        """``mass_center(model, data)[:2]`` of every env: ``np.sum(mass * xipos, axis=0)`` of one
        env adds the bodies in order, so the rows are added body after body here too."""
        weighted = self._mass[None] * self._arrays["xipos"]
        total = weighted[:, 0].copy()
        for body in range(1, weighted.shape[1]):
            total += weighted[:, body]
        return (total / self._total_mass)[:, 0:2].copy()

    def _observe(self) -> np.ndarray:
        a, n = self._arrays, self.num_envs
        parts = [a["qpos"][:, self._skip:], a["qvel"]]
        if self._include["cinert"]:
            parts.append(a["cinert"][:, 1:].reshape(n, -1))
        if self._include["cvel"]:
            parts.append(a["cvel"][:, 1:].reshape(n, -1))
        if self._include["qfrc_actuator"]:
            parts.append(a["qfrc_actuator"][:, 6:])
        if self._include["cfrc_ext"]:
            parts.append(a["cfrc_ext"][:, 1:].reshape(n, -1))
        return np.concatenate(parts, axis=1)

    def _before(self) -> np.ndarray:
        return self._mass_center()

    def _task_velocity(self, x_velocity, y_velocity):  # pragma: no cover - abstract
        raise NotImplementedError

    def _step_terms(self, before, ctrl_sq):
        a, n = self._arrays, self.num_envs
        velocity = (self._mass_center() - before) / self._dt
        x_velocity, y_velocity = velocity[:, 0].copy(), velocity[:, 1].copy()
        forward = self._forward_weight * self._task_velocity(x_velocity, y_velocity)
        ctrl_cost = self._ctrl_weight * ctrl_sq
        contact = self._contact_weight * np.sum(np.square(a["cfrc_ext"]).reshape(n, -1), axis=1)
        contact_cost = np.clip(contact, *self._contact_cost_range)
        survive = np.full(n, self._survive)
        reward = forward + survive - ctrl_cost - contact_cost
        qpos = a["qpos"]
        if self._terminate:
            min_z, max_z = self._z_range
            terminated = ~((min_z < qpos[:, 2]) & (qpos[:, 2] < max_z))
        else:
            terminated = np.zeros(n, dtype=np.bool_)
        info = {
            "x_position": qpos[:, 0].copy(),
            "y_position": qpos[:, 1].copy(),
            "tendon_length": a["ten_length"].copy(),
            "tendon_velocity": a["ten_velocity"].copy(),
            "distance_from_origin": np.hypot(qpos[:, 0], qpos[:, 1]),
            "x_velocity": x_velocity,
            "y_velocity": y_velocity,
            "reward_survive": survive,
            "reward_forward": forward,
            "reward_ctrl": -ctrl_cost,
            "reward_contact": -contact_cost,
        }
        return reward, terminated, info

    def _reset_info(self) -> dict[str, np.ndarray]:
        a = self._arrays
        qpos = a["qpos"]
        xy = np.ascontiguousarray(qpos[:, :2])
        return {"x_position": qpos[:, 0].copy(), "y_position": qpos[:, 1].copy(),
                "tendon_length": a["ten_length"].copy(), "tendon_velocity": a["ten_velocity"].copy(),
                "distance_from_origin": np.sqrt(squared_norm(xy))}  # fmt: skip


class HumanoidDirVectorEnv(_DirectionTasks, _HumanoidVectorEnv):
    """``num_envs`` :class:`~krazy_gym.mujoco.humanoid.HumanoidDirEnv`."""

    env_class = HumanoidDirEnv

    def _task_velocity(self, x_velocity, y_velocity):
        return direction_term(self._direction, x_velocity)


class HumanoidDir2DVectorEnv(_Direction2DTasks, _HumanoidVectorEnv):
    """``num_envs`` :class:`~krazy_gym.mujoco.humanoid.HumanoidDir2DEnv`."""

    env_class = HumanoidDir2DEnv

    def _task_velocity(self, x_velocity, y_velocity):
        dx, dy = self._direction
        return direction2d_term(dx, dy, x_velocity, y_velocity)


__all__ = [
    "AntDir2DVectorEnv",
    "AntDirVectorEnv",
    "AntGoalVectorEnv",
    "HalfCheetahDirVectorEnv",
    "HalfCheetahVelVectorEnv",
    "HopperParamsVectorEnv",
    "HumanoidDir2DVectorEnv",
    "HumanoidDirVectorEnv",
    "MujocoVectorEnv",
    "Walker2dDirVectorEnv",
    "Walker2dParamsVectorEnv",
    "Walker2dVelVectorEnv",
    "usable_cores",
]
