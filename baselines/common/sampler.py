"""Collect per-task episode batches from a vector env with one policy forward per step.

``MetaSampler`` owns one Gymnasium vector env of ``num_tasks × envs_per_task`` sub-envs:
the native batched env where the id has one (Krazy World, Maze, the classic and MuJoCo
families: ``gym.make_vec`` picks its ``vector_entry_point``; no pipes, no processes), else
``SyncVectorEnv`` or ``AsyncVectorEnv`` (``vectorization``).
Sub-env ``i`` runs task ``i // envs_per_task``; tasks are set with
``envs.set_attr("task", [...])`` and take effect at the ``reset`` that starts each round.
A round runs every sub-env for one episode (sub-envs that finish early are masked until all
are done); ``episodes_per_task / envs_per_task`` rounds give the batch. Every step is one
batched policy call for the sub-envs (a :class:`~baselines.common.policies.BatchActor`:
parameters unpacked once, ``inference_mode``, only the live episodes' rows evaluated) and one
``envs.step``: there is no Python loop over envs. The env runs with ``copy=False`` where it
can; observations go once into preallocated ``(T, N, ...)`` storage, whose rows are the
policy's input, and actions into a preallocated array that is the env's input.

Reproducibility: sub-env seeds come from the caller's ``numpy.random.Generator`` and action
noise from its ``torch.Generator`` (the draws of all ``N`` rows every step, live or not), so
the same generators give the same batch: the batch of the plain loop (``policy.sample`` on
``policy.dist_info`` of all rows, checked in ``tests/baselines/test_sampler.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from baselines.common.policies import BatchActor, MLPPolicy, Params


@dataclasses.dataclass
class EpisodeBatch:
    """Episodes grouped by task; every array is ``(K, E, T, ...)`` (K tasks, E episodes, T steps).

    ``mask`` is 1.0 on real steps and 0.0 after an episode ended. ``actions`` are the policy's
    raw actions (for Box spaces in its ``±action_scale`` space, before :class:`ActionAdapter`
    clips and maps them to the env's bounds), so log-likelihoods are exact.
    ``advantages`` and ``returns`` are filled in by the algorithm's sample processing.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    mask: np.ndarray
    advantages: np.ndarray | None = None
    returns: np.ndarray | None = None

    @property
    def num_tasks(self) -> int:
        return int(self.obs.shape[0])

    def episode_returns(self) -> np.ndarray:
        """Undiscounted return of every episode, ``(K, E)``."""
        return (self.rewards * self.mask).sum(-1)

    def to_torch(self, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        """Tensors shaped ``(K, E*T, ...)`` (steps of a task flattened) for the objectives."""
        k = self.num_tasks

        def flat(a: np.ndarray, dt: torch.dtype) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(a.reshape(k, -1, *a.shape[3:])), dtype=dt)

        act_dtype = torch.long if np.issubdtype(self.actions.dtype, np.integer) else dtype
        out = {
            "obs": flat(self.obs, dtype),
            "actions": flat(self.actions, act_dtype),
            "mask": flat(self.mask, dtype),
            "rewards": flat(self.rewards, dtype),
        }
        if self.advantages is not None:
            out["advantages"] = flat(self.advantages, dtype)
        return out


def obs_to_array(obs: Any, space: spaces.Space) -> np.ndarray:
    """Batched observations ``(N, ...)`` as float32 ``(N, obs_dim)`` (Box flattened, Discrete one-hot)."""
    if isinstance(space, spaces.Box):
        arr = np.asarray(obs, dtype=np.float32)
        return arr.reshape(arr.shape[0], -1)
    if isinstance(space, spaces.Discrete):
        idx = np.asarray(obs, dtype=np.int64) - int(space.start)
        return np.eye(int(space.n), dtype=np.float32)[idx]
    raise TypeError(f"observation space must be Box or Discrete, got {type(space).__name__}")


#: the half-width of the policy's action space for Box actions (ProMP's normalised env,
#: ``normalization_scale`` of pytorch-maml-rl): with ``init_std`` 1 a fresh Gaussian policy's
#: std is a tenth of the half-range of the env's actions
DEFAULT_ACTION_SCALE = 10.0


def check_action_scale(action_scale: float) -> float:
    """``action_scale`` as a float; ``ValueError`` unless it is a finite number > 0."""
    if isinstance(action_scale, bool) or not isinstance(action_scale, (int, float, np.floating)):
        raise ValueError(f"action_scale must be a number > 0, got {action_scale!r}")
    if not 0 < float(action_scale) < float("inf"):
        raise ValueError(f"action_scale must be a finite number > 0, got {action_scale!r}")
    return float(action_scale)


class ActionAdapter:
    """Policy actions → env actions (ProMP's ``normalized_env``).

    Discrete: offset by ``space.start``. Box with finite bounds: the policy acts in
    ``[-s, s]`` (``s = action_scale``), mapped affinely onto ``[low, high]``::

        env_action = low + (clip(a, -s, s) + s) · (0.5 / s) · (high − low)   (then clipped to
                                                                              [low, high])

    which is ProMP's ``lb + (a + s) · (ub − lb) / (2s)`` clipped to the bounds (clipping
    before or after an increasing affine map is the same). ``s = 1`` is the former mapping
    (clip to [-1, 1], rescale), bit for bit. Unbounded Box: ``a / s``.
    """

    def __init__(self, space: spaces.Space, action_scale: float = DEFAULT_ACTION_SCALE) -> None:
        self.space = space
        self.action_scale = check_action_scale(action_scale)
        if isinstance(space, spaces.Box):
            finite = bool(np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high)))
            self.low = space.low.astype(np.float64) if finite else None
            self.high = space.high.astype(np.float64) if finite else None

    def __call__(self, actions: np.ndarray) -> np.ndarray:
        space, s = self.space, self.action_scale
        if isinstance(space, spaces.Discrete):
            return actions.astype(np.int64) + int(space.start)
        if self.low is None:
            return (actions / s if s != 1.0 else actions).astype(space.dtype)
        scaled = self.low + (np.clip(actions, -s, s) + s) * (0.5 / s) * (self.high - self.low)
        return np.clip(scaled, self.low, self.high).astype(space.dtype)


def make_vector_env(
    env_id: str, num_envs: int, vectorization: str = "auto", copy: bool = True, **env_kwargs: Any
):
    """A vector env of ``num_envs`` copies of ``env_id``.

    ``vectorization``: ``"auto"`` (the id's native batched env if it has one, else ``"sync"``),
    ``"native"``, ``"sync"`` or ``"async"`` (``AsyncVectorEnv``: one process per sub-env).
    ``copy=False``: ``step``/``reset`` may return the env's own buffers, overwritten by the
    next call (gymnasium's ``copy`` option; native envs whose constructor takes ``copy``);
    for callers that copy what they keep, such as :class:`MetaSampler`.
    """
    import krazy_gym  # noqa: F401  (registers the ids)

    spec = gym.spec(env_id)
    if vectorization not in ("auto", "native", "sync", "async"):
        raise ValueError(
            f"vectorization must be one of auto, native, sync, async; got {vectorization!r}"
        )
    mode = vectorization
    if mode == "auto":
        mode = "native" if spec.vector_entry_point is not None else "sync"
    if mode == "native":
        if spec.vector_entry_point is None:
            raise ValueError(f"{env_id} has no native vector env; use sync or async")
        if not copy and "copy" not in env_kwargs and _takes_copy(spec.vector_entry_point):
            env_kwargs = {**env_kwargs, "copy": False}
        return gym.make_vec(
            env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **env_kwargs
        )
    vector_kwargs = None if copy else {"copy": False}
    return gym.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode=mode,
        vector_kwargs=vector_kwargs,
        **env_kwargs,
    )


def _takes_copy(entry_point: Any) -> bool:
    import inspect

    from gymnasium.envs.registration import load_env_creator

    creator = load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
    try:
        return "copy" in inspect.signature(creator).parameters
    except (TypeError, ValueError):
        return False


def horizon_of(env_id: str) -> int:
    """The registered ``max_episode_steps`` (the number of steps a round runs at most)."""
    import krazy_gym  # noqa: F401

    spec = gym.spec(env_id)
    steps = spec.max_episode_steps
    if steps is None:
        steps = spec.kwargs.get("max_episode_steps") or spec.kwargs.get("horizon")
    if steps is None:
        env = gym.make(env_id)
        steps = getattr(env.unwrapped, "horizon", None) or getattr(env.unwrapped, "max_steps", None)
        env.close()
    if steps is None:
        raise ValueError(f"{env_id}: cannot find the episode horizon; set max_episode_steps")
    return int(steps)


class MetaSampler:
    """Samples ``episodes_per_task`` episodes of each of ``num_tasks`` tasks.

    Args:
        env_id: a registered id.
        num_tasks: tasks per batch (K).
        episodes_per_task: episodes per task (E).
        envs_per_task: sub-envs per task; ``E`` must be a multiple of it. 0 means ``E``
            (every episode of the batch in parallel: best for native batched envs).
        vectorization: see :func:`make_vector_env`.
        max_episode_steps: cap on the steps of a round (0: the id's registered horizon).
        action_scale: Box actions: the half-width of the policy's action space, mapped to the
            env's bounds (:class:`ActionAdapter`).
        env_kwargs: go to the env (e.g. ``num_threads`` of the MuJoCo vector envs).

    The step loop: the env runs with ``copy=False`` (its observation buffer is copied once,
    into the round's preallocated ``(T, N, ...)`` storage, whose row is then the policy's
    input without another copy); the policy is a :class:`~baselines.common.policies.BatchActor`
    (parameters unpacked once, one batched forward over the live sub-envs, actions written
    into a preallocated array that is handed to ``envs.step``); rewards are masked and the
    real steps counted once per round, not per step.
    """

    def __init__(
        self,
        env_id: str,
        num_tasks: int,
        episodes_per_task: int,
        envs_per_task: int = 0,
        vectorization: str = "auto",
        max_episode_steps: int = 0,
        action_scale: float = DEFAULT_ACTION_SCALE,
        **env_kwargs: Any,
    ) -> None:
        envs_per_task = envs_per_task or episodes_per_task
        self.action_scale = check_action_scale(action_scale)
        if num_tasks < 1 or episodes_per_task < 1:
            raise ValueError("num_tasks and episodes_per_task must be >= 1")
        if episodes_per_task % envs_per_task:
            raise ValueError(
                f"episodes_per_task ({episodes_per_task}) must be a multiple of "
                f"envs_per_task ({envs_per_task})"
            )
        self.env_id = env_id
        self.num_tasks = num_tasks
        self.episodes_per_task = episodes_per_task
        self.envs_per_task = envs_per_task
        self.rounds = episodes_per_task // envs_per_task
        self.num_envs = num_tasks * envs_per_task
        self.horizon = int(max_episode_steps) or horizon_of(env_id)
        self.envs = make_vector_env(env_id, self.num_envs, vectorization, copy=False, **env_kwargs)
        self.obs_space = self.envs.single_observation_space
        self.action_space = self.envs.single_action_space
        self.adapt_action = ActionAdapter(self.action_space, self.action_scale)
        self.env_steps = 0  # real (unmasked) env steps taken so far
        self._tasks: list[Any] | None = None  # the tasks currently assigned to the sub-envs
        self.sub_env_steps = 0  # envs.step calls × num_envs (includes finished, masked envs)
        self._storage: dict[str, np.ndarray] | None = None  # the rounds' (T, N, ...) buffers

    def close(self) -> None:
        self.envs.close()

    def _buffers(self, policy: MLPPolicy) -> dict[str, np.ndarray]:
        """Per-round storage ``(T, N, ...)``, allocated once (a batch copies out of it)."""
        n, horizon = self.num_envs, self.horizon
        discrete = isinstance(self.action_space, spaces.Discrete)
        act_shape = () if discrete else (self.action_space.shape[0],)
        shapes = {
            "obs": ((horizon, n, policy.obs_dim), np.float32),
            "actions": ((horizon, n, *act_shape), np.int64 if discrete else np.float32),
            "rewards": ((horizon, n), np.float32),
            "alive": ((horizon, n), np.bool_),
            "act": ((n, *act_shape), np.int64 if discrete else np.float32),
        }
        st = self._storage
        if st is None or any(st[key].shape != shape for key, (shape, _) in shapes.items()):
            st = {key: np.zeros(shape, dtype) for key, (shape, dtype) in shapes.items()}
            self._storage = st
        return st

    def sample(
        self,
        policy: MLPPolicy,
        params: Params,
        tasks: Sequence[Any],
        rng: np.random.Generator,
        generator: torch.Generator,
    ) -> EpisodeBatch:
        """One batch: ``params`` are per task (leading dim K) or shared (no task dim)."""
        k, m = self.num_tasks, self.envs_per_task
        if len(tasks) != k:
            raise ValueError(f"expected {k} tasks, got {len(tasks)}")
        actor = BatchActor(policy, params, k, m)
        # (re)assigning tasks makes the envs rebuild them at reset: skip it when the same tasks
        # are sampled again (the post-update batch, more rounds)
        if (
            self._tasks is None
            or len(self._tasks) != k
            or any(a is not b for a, b in zip(self._tasks, tasks))
        ):
            self.envs.set_attr("task", [t for t in tasks for _ in range(m)])
            self._tasks = list(tasks)
        buffers = self._buffers(policy)
        rounds = []
        for i in range(self.rounds):
            r = self._run_round(actor, buffers, rng, generator)
            if i + 1 < self.rounds:  # the next round reuses the buffers
                r = {key: v[: r["steps"]].copy() if key != "steps" else v for key, v in r.items()}
            rounds.append(r)

        # each round: arrays (T, N, ...) -> (K, m, T, ...), cut to the longest episode of the
        # batch (steps after every episode ended are all padding); rounds stack along episodes
        length = max(r["steps"] for r in rounds)

        def gather(key: str) -> np.ndarray:
            # a new array (never a view of the buffers) in the (T, ...)-major layout of the
            # buffers; the concatenation as before, so that reductions over it add in the
            # same order (to_torch makes the torch tensors contiguous)
            parts = []
            for r in rounds:
                a = r[key][: r["steps"]]
                if r["steps"] < length:
                    padded = np.zeros((length, *a.shape[1:]), a.dtype)
                    padded[: r["steps"]] = a
                    a = padded
                parts.append(np.moveaxis(a.reshape(length, k, m, *a.shape[2:]), 0, 2))
            return np.concatenate(parts, axis=1)

        return EpisodeBatch(
            obs=gather("obs"), actions=gather("actions"), rewards=gather("rewards"),
            mask=gather("mask"),
        )  # fmt: skip

    def _run_round(
        self,
        actor: BatchActor,
        buffers: dict[str, np.ndarray],
        rng: np.random.Generator,
        generator: torch.Generator,
    ) -> dict[str, Any]:
        n, horizon, envs = self.num_envs, self.horizon, self.envs
        obs_buf, act_buf = buffers["obs"], buffers["actions"]
        rew_buf, alive_buf, act = buffers["rewards"], buffers["alive"], buffers["act"]
        obs_t = torch.from_numpy(obs_buf)
        box_obs = isinstance(self.obs_space, spaces.Box)
        # Discrete actions starting at 0 go to the env as they are (no conversion per step)
        raw_actions = (
            isinstance(self.action_space, spaces.Discrete) and int(self.action_space.start) == 0
        )
        seeds = rng.integers(0, 2**31 - 1, size=n)
        obs, _ = envs.reset(seed=[int(s) for s in seeds])
        act.fill(0)
        alive = np.ones(n, dtype=bool)
        live_mask: np.ndarray | None = None  # None: every sub-env is live
        steps = horizon
        for t in range(horizon):
            if box_obs:
                np.copyto(obs_buf[t], np.reshape(obs, (n, -1)), casting="unsafe")
            else:
                obs_buf[t] = obs_to_array(obs, self.obs_space)
            actor(obs_t[t], live_mask, generator, act)
            act_buf[t] = act
            alive_buf[t] = alive
            obs, reward, terminated, truncated, _ = envs.step(
                act if raw_actions else self.adapt_action(act)
            )
            rew_buf[t] = reward
            done = np.logical_or(terminated, truncated)
            if done.any():
                alive &= ~done
                live_mask = alive
                if not alive.any():
                    steps = t + 1
                    break
        self.sub_env_steps += steps * n
        mask = alive_buf[:steps]
        np.copyto(rew_buf[:steps], 0.0, where=~mask)
        np.copyto(act_buf[:steps], 0, where=~mask.reshape(mask.shape + (1,) * (act_buf.ndim - 2)))
        self.env_steps += int(np.count_nonzero(mask))
        return {
            "obs": obs_buf,
            "actions": act_buf,
            "rewards": rew_buf,
            "mask": mask.astype(np.float32),
            "steps": steps,
        }
