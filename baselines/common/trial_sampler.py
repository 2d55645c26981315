"""Batched RL² trial samplers: many trials of one task each, stepped in lockstep.

A *trial* is ``episodes_per_trial`` episodes of one task (see
:class:`krazy_gym.wrappers.TrialWrapper`). Every sampler here runs ``B`` trials at once and
hands the agent, at each step, the TrialWrapper input vector::

    [ flattened observation | previous action (one-hot if discrete, raw if continuous)
      | previous reward | episode-done flag ]

(all zeros but the observation at a trial start), built by :class:`TrialInputLayout`.

* :class:`BanditTrials` and :class:`TabularMDPTrials` are *native* vectorised samplers for
  ``KrazyGym/Bandit-v0`` and ``KrazyGym/TabularMDP-v0``: the whole batch is one numpy
  operation per step, which is what lets RL² training reach tens of thousands of env-steps per
  second (one Python-level env step per trial would cost more than the GRU). Their dynamics are
  those of the registered envs (tests compare them on deterministic tasks); their randomness
  comes from one ``numpy.random.Generator``.
* :class:`VectorEnvTrials` runs any meta-env through gymnasium's vector API (the env's native
  ``VectorEnv`` when it has one), one task per sub-env, resetting each sub-env into its next
  episode until its trial is over; trials of unequal length are padded (``valid == 0``).

Tasks come from a *task pool* (a list drawn once from the family's training stream), from which
each new trial draws one uniformly with the sampler's generator: generating and hashing a fresh
task per trial costs more than simulating it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from krazy_gym.wrappers.flatten import SpaceEncoder


@dataclass(frozen=True)
class TrialInputLayout:
    """How one step's network input is laid out (the TrialWrapper convention).

    Args:
        observation_space: the *base* env's observation space (flattened with
            ``gymnasium.spaces.flatten``: a ``Discrete`` becomes a one-hot vector).
        action_space: the base env's action space (``Discrete`` → one-hot, ``Box`` → raw).
    """

    observation_space: spaces.Space
    action_space: spaces.Space

    @functools.cached_property
    def obs_encoder(self) -> SpaceEncoder:
        """The TrialWrapper's encoder of the observation (one-hot for discrete spaces)."""
        return SpaceEncoder(self.observation_space)

    @property
    def obs_dim(self) -> int:
        return int(self.obs_encoder.size)

    @property
    def discrete(self) -> bool:
        return isinstance(self.action_space, spaces.Discrete)

    @property
    def action_dim(self) -> int:
        """Number of actions (discrete) or action dimensions (continuous)."""
        if isinstance(self.action_space, spaces.Discrete):
            return int(self.action_space.n)
        if isinstance(self.action_space, spaces.Box):
            return int(np.prod(self.action_space.shape))
        raise TypeError(
            f"action_space must be Discrete or Box for RL², got {type(self.action_space).__name__}"
        )

    @property
    def input_dim(self) -> int:
        return self.obs_dim + self.action_dim + 2

    def flatten_obs(self, obs: Any) -> np.ndarray:
        """A batch of base-env observations ``[B, ...]`` as ``[B, obs_dim]`` float32, encoded
        exactly as :class:`~krazy_gym.wrappers.TrialWrapper` encodes them."""
        encoder = self.obs_encoder
        if encoder._batchable:
            return encoder.encode_batch(obs)
        return np.stack([encoder.encode(o) for o in obs])

    def build(
        self,
        obs_flat: np.ndarray,
        prev_action: np.ndarray,
        prev_reward: np.ndarray,
        done: np.ndarray,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """The ``[B, input_dim]`` float32 inputs. ``prev_action`` is ``[B]`` ints (discrete;
        ``-1`` = no previous action, encoded as all zeros) or ``[B, action_dim]`` floats; at a
        trial start pass ``-1``/zeros for the action and zeros for reward and done."""
        n = obs_flat.shape[0]
        x = np.zeros((n, self.input_dim), dtype=np.float32) if out is None else out
        o, a = self.obs_dim, self.action_dim
        x[:, :o] = obs_flat
        x[:, o : o + a] = 0.0
        if self.discrete:
            acts = np.asarray(prev_action, dtype=np.int64).reshape(-1)
            has = acts >= 0  # -1 = no previous action (trial start)
            x[np.nonzero(has)[0], o + acts[has]] = 1.0
        else:
            x[:, o : o + a] = np.asarray(prev_action, dtype=np.float32).reshape(n, a)
        x[:, o + a] = prev_reward
        x[:, o + a + 1] = done
        return x


@dataclass
class StepResult:
    """What a batched trial sampler returns for one lockstep step."""

    inputs: np.ndarray  #: ``[B, input_dim]`` the next network inputs
    rewards: np.ndarray  #: ``[B]`` float32 true rewards (0 for trials already over)
    episode_index: np.ndarray  #: ``[B]`` int episode number (in its trial) of the step taken
    trial_done: np.ndarray  #: ``[B]`` bool: this step was the last of its trial
    episode_done: np.ndarray  #: ``[B]`` bool: this step ended an episode


class BanditTrials:
    """``B`` lockstep trials of ``KrazyGym/Bandit-v0`` (one pull per episode).

    Args:
        task_pool: bandit tasks (``probs`` of equal length ``k``).
        episodes_per_trial: pulls per trial.
        rng: the generator for task draws and rewards.
    """

    def __init__(self, task_pool: Sequence[Any], episodes_per_trial: int, rng: np.random.Generator):
        self.pool = np.asarray([t.probs for t in task_pool], dtype=np.float64)
        self.k = self.pool.shape[1]
        self.episodes_per_trial = int(episodes_per_trial)
        self.rng = rng
        self.layout = TrialInputLayout(
            spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32), spaces.Discrete(self.k)
        )
        self.max_steps = self.episodes_per_trial

    def reset(self, num_trials: int) -> np.ndarray:
        """Start ``num_trials`` new trials (new tasks); return their first inputs."""
        self.probs = self.pool[self.rng.integers(0, len(self.pool), size=num_trials)]
        self.t = 0
        obs = np.zeros((num_trials, 1), dtype=np.float32)
        zeros = np.zeros(num_trials, dtype=np.float32)
        return self.layout.build(obs, np.full(num_trials, -1), zeros, zeros)

    def step(self, actions: np.ndarray) -> StepResult:
        n = self.probs.shape[0]
        actions = np.asarray(actions, dtype=np.int64)
        rewards = (self.rng.random(n) < self.probs[np.arange(n), actions]).astype(np.float32)
        episode_index = np.full(n, self.t, dtype=np.int64)
        self.t += 1
        ones = np.ones(n, dtype=np.float32)
        inputs = self.layout.build(np.zeros((n, 1), dtype=np.float32), actions, rewards, ones)
        trial_done = np.full(n, self.t >= self.episodes_per_trial)
        return StepResult(inputs, rewards, episode_index, trial_done, np.ones(n, dtype=bool))


class TabularMDPTrials:
    """``B`` lockstep trials of ``KrazyGym/TabularMDP-v0`` (episodes of ``horizon`` steps from
    state 0; reward ``N(mu[s, a], 1)``; next state from the task's transition rows).

    Args:
        task_pool: TabularMDP tasks of equal shape.
        episodes_per_trial: episodes per trial.
        rng: the generator for task draws, rewards and transitions.
        horizon: steps per episode (10 for the registered id).
    """

    def __init__(
        self,
        task_pool: Sequence[Any],
        episodes_per_trial: int,
        rng: np.random.Generator,
        horizon: int = 10,
    ):
        self.means_pool = np.asarray([t.reward_means for t in task_pool], dtype=np.float64)
        cdf = np.cumsum(np.asarray([t.transitions for t in task_pool], dtype=np.float64), axis=-1)
        cdf[..., -1] = 1.0  # as the env: guard the inverse-CDF draw against rounding
        self.cdf_pool = cdf
        _, self.n_states, self.n_actions = self.means_pool.shape
        self.episodes_per_trial = int(episodes_per_trial)
        self.horizon = int(horizon)
        self.rng = rng
        self.layout = TrialInputLayout(spaces.Discrete(self.n_states), spaces.Discrete(self.n_actions))
        self.max_steps = self.episodes_per_trial * self.horizon

    def reset(self, num_trials: int) -> np.ndarray:
        idx = self.rng.integers(0, len(self.means_pool), size=num_trials)
        self.means, self.cdf = self.means_pool[idx], self.cdf_pool[idx]
        self.state = np.zeros(num_trials, dtype=np.int64)
        self.t = 0
        zeros = np.zeros(num_trials, dtype=np.float32)
        return self.layout.build(self.layout.flatten_obs(self.state), np.full(num_trials, -1), zeros, zeros)

    def step(self, actions: np.ndarray) -> StepResult:
        n = self.state.shape[0]
        rows = np.arange(n)
        actions = np.asarray(actions, dtype=np.int64)
        mean = self.means[rows, self.state, actions]
        rewards = (mean + self.rng.standard_normal(n)).astype(np.float32)
        u = self.rng.random(n)
        # searchsorted(cdf, u, side="right") per row == number of cdf entries <= u
        next_state = (self.cdf[rows, self.state, actions] <= u[:, None]).sum(-1)
        episode_index = np.full(n, self.t // self.horizon, dtype=np.int64)
        self.t += 1
        episode_done = self.t % self.horizon == 0
        self.state = np.zeros(n, dtype=np.int64) if episode_done else next_state
        done_flag = np.full(n, float(episode_done), dtype=np.float32)
        inputs = self.layout.build(self.layout.flatten_obs(self.state), actions, rewards, done_flag)
        trial_done = np.full(n, self.t >= self.max_steps)
        return StepResult(inputs, rewards, episode_index, trial_done, np.full(n, episode_done))


class VectorEnvTrials:
    """``B`` lockstep trials of any meta-env through :func:`krazy_gym.wrappers.make_trial_vec`
    (the env's native ``VectorEnv`` when it has one, else a ``SyncVectorEnv``).

    Every :meth:`reset` starts a fresh trial (a task drawn from the pool) in each sub-env; the
    :class:`~krazy_gym.wrappers.TrialVectorWrapper` handles the episodes inside the trial and
    builds the inputs. A sub-env whose trial is over keeps stepping (the wrapper has already
    started its next trial) but those steps are reported as ``trial_done`` already and the
    caller treats them as padding.

    Args:
        env_id: a registered meta-env id.
        num_trials: ``B`` (fixed for this sampler).
        episodes_per_trial: episodes per trial.
        task_pool: tasks to draw from.
        rng: draws the tasks and the reset seeds.
    """

    def __init__(
        self,
        env_id: str,
        num_trials: int,
        episodes_per_trial: int,
        task_pool: Sequence[Any],
        rng: np.random.Generator,
        env_kwargs: dict[str, Any] | None = None,
    ):
        from krazy_gym.wrappers import make_trial_vec

        self.num_trials = int(num_trials)
        self.episodes_per_trial = int(episodes_per_trial)
        self.pool = list(task_pool)
        self.rng = rng
        single = gym.make(env_id, **(env_kwargs or {}))
        horizon = single.spec.max_episode_steps if single.spec is not None else None
        horizon = horizon or getattr(single.unwrapped, "horizon", None)
        if horizon is None:
            raise ValueError(f"{env_id}: cannot tell the episode horizon (no max_episode_steps)")
        self.max_steps = self.episodes_per_trial * int(horizon)
        self.layout = TrialInputLayout(single.observation_space, single.action_space)
        single.close()
        self.envs = make_trial_vec(
            env_id, self.num_trials, self.episodes_per_trial, tasks=self.pool,
            task_order="sample", **(env_kwargs or {}),
        )
        if self.envs.single_observation_space.shape != (self.layout.input_dim,):
            raise ValueError(
                f"TrialVectorWrapper inputs have shape {self.envs.single_observation_space.shape},"
                f" expected ({self.layout.input_dim},)"
            )

    def reset(self, num_trials: int) -> np.ndarray:
        if num_trials != self.num_trials:
            raise ValueError(f"num_trials must be {self.num_trials} for this sampler, got {num_trials}")
        tasks = [self.pool[i] for i in self.rng.integers(0, len(self.pool), size=num_trials)]
        seed = int(self.rng.integers(0, 2**31 - 1))
        obs, _ = self.envs.reset(seed=seed, options={"task": tasks})
        self.over = np.zeros(num_trials, dtype=bool)
        return np.asarray(obs, dtype=np.float32)

    def step(self, actions: np.ndarray) -> StepResult:
        env_actions = np.asarray(actions)
        if not self.layout.discrete:
            box = self.layout.action_space
            env_actions = np.clip(env_actions, box.low, box.high).astype(box.dtype)
        obs, rew, term, _, info = self.envs.step(env_actions)
        rewards = np.where(self.over, 0.0, rew).astype(np.float32)
        episode_done = np.asarray(info["episode_done"], dtype=bool) & ~self.over
        trial_done = np.asarray(term, dtype=bool) & ~self.over
        episode_index = np.asarray(info["episode_in_trial"], dtype=np.int64)
        self.over |= trial_done
        return StepResult(np.asarray(obs, dtype=np.float32), rewards, episode_index, trial_done,
                          episode_done)
