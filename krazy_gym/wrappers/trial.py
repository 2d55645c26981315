"""RL² trials: k episodes of one task, with the previous action, reward and done flag observed.

A *trial* (Duan et al. 2016, "RL²", arXiv 1611.02779) is ``episodes_per_trial`` consecutive
episodes of one task. A recurrent agent keeps its hidden state across the episodes of a trial
and learns, from what it observes, to explore in the first episodes and exploit later.
:class:`TrialWrapper` (one env) and :class:`TrialVectorWrapper` (a Gymnasium ``VectorEnv``)
turn a krazy_gym meta-env into a trial env: one *wrapper* episode is one trial.

Observation layout (flat ``float32`` vector, for both wrappers)::

    [ obs (obs_dim) | prev_action (action_dim) | prev_reward (1) | episode_done (1) ]

* ``obs``: the inner observation flattened; ``Discrete``/``MultiDiscrete`` observations are
  one-hot encoded (see :class:`~krazy_gym.wrappers.flatten.SpaceEncoder`).
* ``prev_action``: the action taken at the previous step, one-hot for ``Discrete`` (and
  per-component one-hot for ``MultiDiscrete``), raw for ``Box``; zeros at the trial start.
* ``prev_reward``: the reward of the previous step; 0 at the trial start.
* ``episode_done``: 1.0 when the previous step ended an inner episode, so that this
  observation is the first of the next episode of the same trial; 0 otherwise (and at the
  trial start).

The slices are available as ``wrapper.obs_slice``, ``wrapper.action_slice``,
``wrapper.reward_index`` and ``wrapper.done_index``; ``wrapper.layout`` (a
:class:`TrialLayout`) builds the same observations for code outside a wrapper.

Episode bookkeeping: an inner episode that terminates or truncates is reset at once *inside*
the wrapper (same task), and the step returns the first observation of the next episode with
``terminated = truncated = False``. After the k-th inner episode the trial ends:
``terminated=True`` (the trial end is the only terminal of an RL² trial). ``info`` gives

* ``"episode_in_trial"``: index (0..k-1) of the episode in which this step's reward was earned
  (at ``reset``: 0);
* ``"episode_done"``: this step ended that episode; ``"episode_return"``: its undiscounted
  return (meaningful where ``episode_done``);
* ``"trial_done"``: this step ended the trial;
* ``"episode_final_obs"``: the inner env's last observation of an episode that ended
  mid-trial (single wrapper: present only on those steps);
* every key of the inner env's step info.

Tasks: at every trial start a new task is chosen: from ``tasks`` if given (``task_order=
"cycle"`` goes through the list in order, trial after trial; ``"sample"`` draws uniformly with
replacement), otherwise ``env.unwrapped.sample_tasks(1, "train", seed=s)[0]`` with a fresh
stream ``s``. Both draws use the wrapper's own generator ``wrapper.trial_rng``, seeded by
``reset(seed=...)`` (from ``SeedSequence(seed)`` with its own spawn key, so it is independent of
the inner env's ``np_random``), so a seeded run picks the same tasks. ``reset(options={"task":
t})`` forces the task of the trial that starts.

    >>> import gymnasium as gym, krazy_gym
    >>> from krazy_gym.wrappers import TrialWrapper
    >>> env = TrialWrapper(gym.make("KrazyGym/Bandit-v0"), episodes_per_trial=10)
    >>> obs, info = env.reset(seed=0)     # obs = [0 | 0 0 0 0 0 | 0 | 0]
    >>> obs, r, terminated, truncated, info = env.step(1)   # terminated after the 10th pull
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.vector.utils import batch_space, iterate

from krazy_gym.tasks import Task, TaskFamily
from krazy_gym.wrappers.flatten import SpaceEncoder

TASK_ORDERS: tuple[str, ...] = ("cycle", "sample")
#: spawn key that separates the wrapper's task generator from an env seeded with the same seed
_TRIAL_SPAWN_KEY = (0x7121A1,)


def _check_episodes_per_trial(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"episodes_per_trial must be an int >= 1, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"episodes_per_trial must be an int >= 1, got {k}")
    return int(k)


def _check_task_order(task_order: Any) -> str:
    if task_order not in TASK_ORDERS:
        raise ValueError(f"task_order must be one of {list(TASK_ORDERS)}, got {task_order!r}")
    return task_order


def _trial_rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=_TRIAL_SPAWN_KEY))


class _TaskSchedule:
    """Chooses the task of each new trial (see the module docstring)."""

    def __init__(
        self, family: TaskFamily, tasks: Sequence[Task | Mapping] | None, task_order: str
    ) -> None:
        self.family = family
        self.task_order = _check_task_order(task_order)
        if tasks is not None:
            if isinstance(tasks, (Task, Mapping)) or not isinstance(tasks, Sequence):
                raise TypeError("tasks must be None or a sequence of tasks")
            if len(tasks) == 0:
                raise ValueError("tasks must be None or a non-empty sequence of tasks")
            tasks = [family.validate_task(t) for t in tasks]
        self.tasks: list[Task] | None = tasks
        self.cursor = 0

    def next(self, rng: np.random.Generator) -> Task:
        if self.tasks is None:
            stream = int(rng.integers(0, 2**31 - 1))
            return self.family.sample_tasks(1, "train", seed=stream)[0]
        if self.task_order == "sample":
            return self.tasks[int(rng.integers(len(self.tasks)))]
        task = self.tasks[self.cursor % len(self.tasks)]
        self.cursor += 1
        return task


def _trial_box(obs_enc: SpaceEncoder, act_enc: SpaceEncoder) -> spaces.Box:
    big = np.finfo(np.float32).max
    low = np.concatenate([obs_enc.low, act_enc.low, [-big, 0.0]]).astype(np.float32)
    high = np.concatenate([obs_enc.high, act_enc.high, [big, 1.0]]).astype(np.float32)
    return spaces.Box(low, high, dtype=np.float32)


class TrialLayout:
    """The trial observation layout of one (observation space, action space) pair.

    Both wrappers build their observations with it, and so can code that makes the same
    inputs outside a wrapper (the harness's stable-baselines3 agent feeds a model trained on
    trials from its own record of the previous action, reward and episode end)::

        layout = TrialLayout(env.observation_space, env.action_space)
        x = layout.build(layout.encode_obs(obs), layout.encode_actions(prev_actions),
                         prev_rewards, prev_dones)       # (n, layout.size) float32

    Attributes:
        obs_encoder, action_encoder: the :class:`SpaceEncoder` of each space.
        obs_slice, action_slice, reward_index, done_index: where each part sits.
        size: length of a trial observation; ``observation_space``: its ``Box``.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        self.obs_encoder = SpaceEncoder(observation_space)
        self.action_encoder = SpaceEncoder(action_space)
        o, a = self.obs_encoder.size, self.action_encoder.size
        self.obs_slice = slice(0, o)
        self.action_slice = slice(o, o + a)
        self.reward_index = o + a
        self.done_index = o + a + 1
        self.size = o + a + 2
        self.observation_space = _trial_box(self.obs_encoder, self.action_encoder)

    @staticmethod
    def _encode(encoder: SpaceEncoder, values: Any, n: int | None) -> np.ndarray:
        if encoder._batchable:
            return encoder.encode_batch(values)
        if n is None:
            raise ValueError(f"encoding a batch of {type(encoder.space).__name__} values needs n")
        return encoder.encode_batch(list(iterate(batch_space(encoder.space, n), values)))

    def encode_obs(self, obs: Any, n: int | None = None) -> np.ndarray:
        """A batch of observations (leading axis = env) as ``(n, obs_dim)`` float32; ``n``
        (the batch size) is needed only for spaces without a vectorised encoding (Dict ...)."""
        return self._encode(self.obs_encoder, obs, n)

    def encode_actions(self, actions: Any, n: int | None = None) -> np.ndarray:
        """A batch of actions as ``(n, action_dim)`` float32 (one-hot for discrete spaces)."""
        return self._encode(self.action_encoder, actions, n)

    def build(self, obs_enc: np.ndarray, act_enc: np.ndarray, reward: Any, done: Any) -> np.ndarray:
        """The ``(n, size)`` trial observations from encoded observations and previous actions,
        the previous rewards and the episode-done flags (all zero at a trial start)."""
        return np.concatenate(
            [obs_enc, act_enc, np.asarray(reward, np.float32)[:, None],
             np.asarray(done, np.float32)[:, None]],
            axis=1,
        )


class _LayoutMixin:
    """The :class:`TrialLayout` of a wrapper and its slices as attributes (both wrappers)."""

    layout: TrialLayout

    def _init_layout(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        self.layout = layout = TrialLayout(observation_space, action_space)
        self._obs_enc, self._act_enc = layout.obs_encoder, layout.action_encoder
        self.obs_slice = layout.obs_slice
        self.action_slice = layout.action_slice
        self.reward_index = layout.reward_index
        self.done_index = layout.done_index


class TrialWrapper(_LayoutMixin, gym.Wrapper):
    """Turns one krazy_gym meta-env into an RL² trial env (see the module docstring).

    Args:
        env: a krazy_gym env (``env.unwrapped`` has the task API).
        episodes_per_trial: k >= 1 (``ValueError`` naming ``episodes_per_trial`` otherwise).
        tasks: None (a new training task per trial from ``sample_tasks``) or a sequence of
            tasks (or their dicts) to use, in ``task_order``.
        task_order: ``"cycle"`` (default) or ``"sample"``, for a given ``tasks`` list.
    """

    def __init__(
        self,
        env: gym.Env,
        episodes_per_trial: int,
        tasks: Sequence[Task | Mapping] | None = None,
        task_order: str = "cycle",
    ) -> None:
        if isinstance(env, VectorEnv):
            raise TypeError("TrialWrapper wraps one env; use TrialVectorWrapper for a VectorEnv")
        self.episodes_per_trial = _check_episodes_per_trial(episodes_per_trial)
        family = getattr(env.unwrapped, "task_family", None)
        if not isinstance(family, TaskFamily):
            raise TypeError("env.unwrapped must be a krazy_gym meta-env (with a task_family)")
        super().__init__(env)
        self._schedule = _TaskSchedule(family, tasks, task_order)
        self._init_layout(env.observation_space, env.action_space)
        self.observation_space = self.layout.observation_space
        self.trial_rng = _trial_rng(None)
        self._episode = 0
        self._episode_return = 0.0

    @property
    def tasks(self) -> list[Task] | None:
        """The task list given at construction (None: tasks are sampled)."""
        return self._schedule.tasks

    @property
    def task_order(self) -> str:
        return self._schedule.task_order

    def _augment(self, obs: Any, action: Any, reward: float, done: bool) -> np.ndarray:
        out = np.empty(self.observation_space.shape, dtype=np.float32)
        out[self.obs_slice] = self._obs_enc.encode(obs)
        out[self.action_slice] = (
            self._act_enc.zeros() if action is None else self._act_enc.encode(action)
        )
        out[self.reward_index] = reward
        out[self.done_index] = float(done)
        return out

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new trial: choose its task, reset the inner env, zero the extra inputs."""
        if seed is not None:
            self.trial_rng = _trial_rng(seed)
            self._schedule.cursor = 0
        options = dict(options or {})
        if "task" in options:
            task = self.env.unwrapped.task_family.validate_task(options["task"])
        else:
            task = self._schedule.next(self.trial_rng)
        options["task"] = task
        obs, info = self.env.reset(seed=seed, options=options)
        self._episode = 0
        self._episode_return = 0.0
        info = dict(info)
        info.update(episode_in_trial=0, episode_done=False, trial_done=False)
        return self._augment(obs, None, 0.0, False), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        reward = float(reward)
        self._episode_return += reward
        episode_done = bool(terminated or truncated)
        info = dict(info)
        info.update(
            episode_in_trial=self._episode,
            episode_done=episode_done,
            trial_done=False,
            episode_return=self._episode_return,
        )
        if not episode_done:
            return self._augment(obs, action, reward, False), reward, False, False, info
        if self._episode + 1 >= self.episodes_per_trial:
            info["trial_done"] = True
            return self._augment(obs, action, reward, True), reward, True, False, info
        info["episode_final_obs"] = obs
        obs, _ = self.env.reset()
        self._episode += 1
        self._episode_return = 0.0
        return self._augment(obs, action, reward, True), reward, False, False, info


class TrialVectorWrapper(_LayoutMixin, VectorWrapper):
    """RL² trials over a Gymnasium ``VectorEnv``, every sub-env running its own trials.

    Same observation layout, bookkeeping and task choice as :class:`TrialWrapper`, per sub-env
    (info values are arrays over the envs). The inner vector env must autoreset in
    ``SAME_STEP`` mode (krazy_gym's native vector envs do; for ``gym.make_vec`` with
    ``"sync"``/``"async"`` pass ``vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}``
    or use :func:`make_trial_vec`). The wrapper is itself a ``SAME_STEP`` vector env whose
    episodes are trials: when a trial ends, ``terminated[i]`` is True, the returned
    observation is already the first of the next trial and ``info["final_obs"][i]`` /
    ``info["final_info"]`` hold the trial's last (augmented) observation and info.

    How the task changes at the trial boundary: in the step where sub-env ``i``'s trial ends,
    the wrapper draws its next task, hands it over with ``set_attr("task", ...)`` (the other
    sub-envs get their current task again, which changes nothing) and resets just the ended
    sub-envs with ``reset(options={"reset_mask": ...})``, so the returned observation is the
    first of the new task. The inner vector env must therefore accept ``reset_mask``
    (gymnasium's Sync/Async vector envs and krazy_gym's native ones do).
    Inner mid-trial episode ends are reported as ``info["episode_final_obs"]`` /
    ``info["episode_final_info"]`` (with ``_episode_final_obs`` masks).

    Args:
        env: a ``VectorEnv`` of krazy_gym meta-envs with SAME_STEP autoreset.
        episodes_per_trial, tasks, task_order: as for :class:`TrialWrapper`; each trial of each
            sub-env takes the next task of the schedule (in env order at each step).
    """

    def __init__(
        self,
        env: VectorEnv,
        episodes_per_trial: int,
        tasks: Sequence[Task | Mapping] | None = None,
        task_order: str = "cycle",
    ) -> None:
        if not isinstance(env, VectorEnv):
            raise TypeError("TrialVectorWrapper wraps a gymnasium VectorEnv; use TrialWrapper")
        self.episodes_per_trial = _check_episodes_per_trial(episodes_per_trial)
        mode = env.metadata.get("autoreset_mode")
        if mode is not None and AutoresetMode(mode) != AutoresetMode.SAME_STEP:
            raise ValueError(
                "TrialVectorWrapper needs a vector env with autoreset_mode=SAME_STEP, got "
                f"{AutoresetMode(mode)}; e.g. gym.make_vec(id, n, vector_kwargs="
                '{"autoreset_mode": gymnasium.vector.AutoresetMode.SAME_STEP})'
            )
        super().__init__(env)
        family = getattr(env.unwrapped, "task_family", None)
        if not isinstance(family, TaskFamily):
            family = env.unwrapped.get_attr("task_family")[0]
        self._schedule = _TaskSchedule(family, tasks, task_order)
        self._family = family
        self._init_layout(env.single_observation_space, env.single_action_space)
        self.single_observation_space = self.layout.observation_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.trial_rng = _trial_rng(None)
        n = self.num_envs
        self._episode = np.zeros(n, dtype=np.int64)
        self._episode_return = np.zeros(n, dtype=np.float64)
        self._current: list[Task] = []

    @property
    def metadata(self) -> dict[str, Any]:
        return {**self.env.metadata, "autoreset_mode": AutoresetMode.SAME_STEP}

    @property
    def tasks(self) -> list[Task] | None:
        return self._schedule.tasks

    # Gymnasium's VectorWrapper does not forward these; they reach the base vector env.
    def get_attr(self, name: str) -> tuple[Any, ...]:
        """``get_attr`` of the base vector env (e.g. ``"task"``: the sub-envs' tasks)."""
        return self.env.unwrapped.get_attr(name)

    def set_attr(self, name: str, values: Any) -> None:
        """``set_attr`` of the base vector env (a set task is replaced at the next trial start)."""
        self.env.unwrapped.set_attr(name, values)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """``call`` of the base vector env."""
        return self.env.unwrapped.call(name, *args, **kwargs)

    def get_trial_tasks(self) -> list[Task]:
        """The task of every sub-env's current trial."""
        return list(self._current)

    # -- encoding ------------------------------------------------------------------------------
    def _encode_obs(self, obs: Any) -> np.ndarray:
        return self.layout.encode_obs(obs, self.num_envs)

    def _encode_actions(self, actions: Any) -> np.ndarray:
        return self.layout.encode_actions(actions, self.num_envs)

    def _augment(self, obs_enc, act_enc, reward, done) -> np.ndarray:
        return self.layout.build(obs_enc, act_enc, reward, done)

    # -- task hand-over ------------------------------------------------------------------------
    def _start_new_trials(self, ended: np.ndarray) -> np.ndarray:
        """Give the ended sub-envs their next task and reset them; return their observations."""
        idx = np.flatnonzero(ended)
        for i in idx:
            self._current[i] = self._schedule.next(self.trial_rng)
        base = self.env.unwrapped
        base.set_attr("task", list(self._current))
        obs, _ = self.env.reset(options={"reset_mask": ended.copy()})
        return self._encode_obs(obs)[idx]

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new trial in every sub-env (``options={"task": [...]}`` forces the tasks)."""
        if seed is not None:
            first = seed if isinstance(seed, (int, np.integer)) else seed[0]
            self.trial_rng = _trial_rng(None if first is None else int(first))
            self._schedule.cursor = 0
        options = dict(options or {})
        if "task" in options:
            forced = options.pop("task")
            if isinstance(forced, (Task, Mapping)) or len(forced) != self.num_envs:
                raise ValueError(f"options['task'] must list one task per env ({self.num_envs})")
            tasks = [self._family.validate_task(t) for t in forced]
        else:
            tasks = [self._schedule.next(self.trial_rng) for _ in range(self.num_envs)]
        self.env.unwrapped.set_attr("task", tasks)
        obs, info = self.env.reset(seed=seed, options=options or None)
        self._current = list(tasks)
        self._episode[:] = 0
        self._episode_return[:] = 0.0
        n = self.num_envs
        out = self._augment(self._encode_obs(obs), self._act_enc.zeros(n), np.zeros(n), np.zeros(n))
        info = dict(info)
        info.update(
            episode_in_trial=np.zeros(n, dtype=np.int64),
            episode_done=np.zeros(n, dtype=bool),
            trial_done=np.zeros(n, dtype=bool),
        )
        return out, info

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        obs, reward, terminated, truncated, info = self.env.step(actions)
        reward = np.asarray(reward, dtype=np.float64)
        info = dict(info)
        inner_final_obs = info.pop("final_obs", None)
        inner_final_info = info.pop("final_info", None)
        info.pop("_final_obs", None)
        info.pop("_final_info", None)
        n, k = self.num_envs, self.episodes_per_trial
        self._episode_return += reward
        episode_done = np.logical_or(terminated, truncated)
        trial_done = episode_done & (self._episode + 1 >= k)
        act = self._encode_actions(actions)
        obs_enc = self._encode_obs(obs)
        info.update(
            episode_in_trial=self._episode.copy(),
            episode_done=episode_done.copy(),
            trial_done=trial_done.copy(),
            episode_return=self._episode_return.copy(),
        )
        out = self._augment(obs_enc, act, reward, episode_done)
        if np.any(episode_done):
            mid = episode_done & ~trial_done
            if np.any(mid) and inner_final_obs is not None:
                info["episode_final_obs"] = inner_final_obs
                info["_episode_final_obs"] = mid.copy()
                info["episode_final_info"] = inner_final_info
                info["_episode_final_info"] = mid.copy()
        if np.any(trial_done):
            # the trial's last observation is the inner episode's final one, augmented
            final = np.zeros_like(out)
            idx = np.flatnonzero(trial_done)
            last_obs = [inner_final_obs[i] for i in idx] if inner_final_obs is not None else []
            if last_obs:
                enc = (self._obs_enc.encode_batch(np.stack(last_obs))
                       if self._obs_enc._batchable
                       else self._obs_enc.encode_batch(last_obs))
                final[idx] = self._augment(enc, act[idx], reward[idx], np.ones(len(idx)))
            final_obs = np.empty(n, dtype=object)
            final_obs[:] = [final[i] if trial_done[i] else None for i in range(n)]
            info["final_obs"] = final_obs
            info["_final_obs"] = trial_done.copy()
            info["final_info"] = {
                key: value for key, value in info.items() if not key.startswith("final")
            }
            info["_final_info"] = trial_done.copy()
            # the new trial's first observation: new task, no previous action/reward/done flag
            out[idx, self.obs_slice] = self._start_new_trials(trial_done)
            out[idx, self.action_slice] = 0.0
            out[idx, self.reward_index] = 0.0
            out[idx, self.done_index] = 0.0
        # advance the counters
        self._episode[episode_done] += 1
        self._episode[trial_done] = 0
        self._episode_return[episode_done] = 0.0
        terminated_out = trial_done.copy()
        truncated_out = np.zeros(n, dtype=bool)
        return out, reward, terminated_out, truncated_out, info


def make_trial_vec(
    env_id: str,
    num_envs: int,
    episodes_per_trial: int,
    tasks: Sequence[Task | Mapping] | None = None,
    task_order: str = "cycle",
    vectorization_mode: str | None = None,
    **env_kwargs: Any,
) -> TrialVectorWrapper:
    """``gym.make_vec`` with SAME_STEP autoreset, wrapped in :class:`TrialVectorWrapper`.

    ``vectorization_mode`` as in ``gym.make_vec`` (None: the id's native vector env if it has
    one, else ``"sync"``).
    """
    spec = gym.spec(env_id)
    if vectorization_mode is None:
        vectorization_mode = "vector_entry_point" if spec.vector_entry_point else "sync"
    vector_kwargs = None
    if vectorization_mode in ("sync", "async"):
        vector_kwargs = {"autoreset_mode": AutoresetMode.SAME_STEP}
    envs = gym.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode=vectorization_mode,
        vector_kwargs=vector_kwargs,
        **env_kwargs,
    )
    return TrialVectorWrapper(envs, episodes_per_trial, tasks=tasks, task_order=task_order)

