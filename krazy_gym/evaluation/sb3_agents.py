"""stable-baselines3 / sb3-contrib models as harness agents (:func:`sb3_agent`).

A model trained through :func:`krazy_gym.wrappers.to_sb3` is scored without glue code::

    # my_agents.py, then: krazy-gym evaluate --agent my_agents:make --benchmark Bandit ...
    from krazy_gym.evaluation.agents import sb3_agent

    def make(seed=0):                 # the harness passes one seed per batch of tasks
        return sb3_agent("bandit_rppo.zip", "RecurrentPPO", seed=seed)

**Inputs.** The model's observation space says what it was trained on, and :meth:`reset`
(which receives the benchmark's spaces) picks the layout (``trial=`` forces one):

* *flat* — the benchmark's observation as it is (a model trained on
  ``to_sb3(gym.make_vec(env_id, n))``);
* *trial* — the RL² input ``[obs | previous action | previous reward | episode done]`` of
  :class:`~krazy_gym.wrappers.TrialWrapper` (a model trained on ``to_sb3(make_trial_vec(env_id,
  n, episodes_per_trial=...))``). The agent builds it itself with the wrappers'
  :class:`~krazy_gym.wrappers.TrialLayout` from what ``observe`` reports: zeros at
  :meth:`reset` (a trial start), then the previous step's action (one-hot if discrete, raw if
  continuous), reward and whether it ended an episode. The harness's explore and exploit
  episodes of a task are one trial, so train with ``episodes_per_trial`` equal to the
  benchmark's ``explore_episodes + exploit_episodes`` (e.g. Bandit 10, Krazy World 5).

A model that fits neither gets a ``ValueError`` naming its observation shape and both
expected ones.

**Recurrent state** (sb3-contrib ``RecurrentPPO``): one LSTM state per task row. With trial
inputs it is kept across all episodes of the task and zeroed at :meth:`reset`, as in training,
where one SB3 episode is one trial; with flat inputs it is zeroed at every episode start, as
SB3 does when it trains on the plain env. Rows the harness marks idle (``active=False``) are
not computed at all: their state and previous-step inputs stay as they were.

**Actions.** ``deterministic=True`` (default) takes the mode of the policy's action
distribution (what ``model.predict(..., deterministic=True)`` returns); ``False`` samples it
with the agent's own ``torch.Generator`` seeded by ``seed`` (never torch's or numpy's global
generator), which needs an on-policy actor-critic (PPO, A2C, RecurrentPPO, TRPO, MaskablePPO
without gSDE). Box actions are clipped (or unscaled, for squashed policies) as ``predict``
does. Other models (DQN, SAC, TD3, anything with a ``predict``) run deterministically through
``predict``. The policy never changes: ``adapt()`` does nothing.

Observations go to the policy as the harness gives them: a model trained under SB3's
``VecNormalize`` would also need its saved statistics, which this agent does not apply.
torch and stable-baselines3 are imported only when a model is loaded or its policy is run.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

#: the algorithms of stable-baselines3 and of sb3-contrib, by class name
SB3_ALGOS = ("A2C", "DDPG", "DQN", "PPO", "SAC", "TD3")
SB3_CONTRIB_ALGOS = ("ARS", "CrossQ", "MaskablePPO", "QRDQN", "RecurrentPPO", "TQC", "TRPO")


def _shape(space: Any) -> Any:
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        return f"Discrete({int(space.n)})"
    return getattr(space, "shape", None)


def _same_space(a: Any, b: Any) -> bool:
    """Same kind and shape (bounds and dtype may differ: SB3 casts)."""
    from gymnasium import spaces

    if isinstance(a, spaces.Dict) and isinstance(b, spaces.Dict):
        return a.keys() == b.keys() and all(_same_space(a[k], b[k]) for k in a.keys())
    if isinstance(a, spaces.Discrete) and isinstance(b, spaces.Discrete):
        return int(a.n) == int(b.n) and int(a.start) == int(b.start)
    if isinstance(a, spaces.MultiDiscrete) and isinstance(b, spaces.MultiDiscrete):
        return np.array_equal(a.nvec, b.nvec)
    return type(a) is type(b) and getattr(a, "shape", None) == getattr(b, "shape", None)


def _rows(x: Any, idx: np.ndarray) -> Any:
    return {k: v[idx] for k, v in x.items()} if isinstance(x, dict) else x[idx]


class SB3PolicyAgent:
    """A trained stable-baselines3 model (anything with ``predict``) as a ``MetaAgent``.

    See the module docstring for the input layouts, the recurrent state and the actions.

    Args:
        model: an SB3 / sb3-contrib model (or any object with ``predict``).
        deterministic: the most likely action (True) or a sample from the policy.
        trial: None (detect from ``model.observation_space`` at :meth:`reset`), True (the RL²
            trial inputs) or False (the benchmark's observation as it is).
        seed: seeds the generator of sampled actions (the harness passes one per batch).
        name: the display name in results files (default: the class name).
    """

    def __init__(
        self,
        model: Any,
        deterministic: bool = True,
        trial: bool | None = None,
        seed: int | None = 0,
        name: str | None = None,
    ) -> None:
        if not callable(getattr(model, "predict", None)):
            raise TypeError(f"model must have a predict() method, got {type(model).__name__}")
        if trial is not None and not isinstance(trial, bool):
            raise ValueError(f"trial must be None, True or False, got {trial!r}")
        if not isinstance(deterministic, (bool, np.bool_)):
            raise TypeError(f"deterministic must be a bool, got {deterministic!r}")
        self.model = model
        self.deterministic = bool(deterministic)
        self.trial = trial
        self.seed = 0 if seed is None else int(seed)
        if name is not None:
            self.name = str(name)
        policy = getattr(model, "policy", None)
        # the distribution path (our own generator) needs an SB3 actor-critic policy
        self._policy = policy if (
            callable(getattr(policy, "get_distribution", None))
            and callable(getattr(policy, "obs_to_tensor", None))
        ) else None
        self.recurrent = self._policy is not None and hasattr(policy, "lstm_hidden_state_shape")
        if not self.deterministic:
            self._check_sampling()
        self._generator: Any = None
        self.num_tasks = 0
        self.layout: Any = None  # TrialLayout in trial mode, None in flat mode
        self.uses_trial_inputs: bool | None = None

    def _check_sampling(self) -> None:
        kind = type(getattr(self._policy, "action_dist", None)).__name__
        if self._policy is None or kind not in _SAMPLERS:
            what = type(self.model).__name__ if self._policy is None else f"its {kind}"
            raise ValueError(
                "deterministic=False samples actions with the agent's own generator, which "
                "needs an SB3 actor-critic policy with a Categorical, MultiCategorical, "
                f"Bernoulli or (squashed) diagonal Gaussian distribution; {what} is not one "
                "(use deterministic=True)"
            )

    # -- MetaAgent protocol ------------------------------------------------------------------
    def reset(self, num_tasks: int, observation_space: Any, action_space: Any) -> None:
        """New tasks begin: choose (and check) the input layout, zero the per-task memory."""
        from krazy_gym.wrappers.trial import TrialLayout

        n = int(num_tasks)
        model_space = getattr(self.model, "observation_space", None)
        try:
            layout = TrialLayout(observation_space, action_space)
        except TypeError:  # spaces without a flat encoding: only the flat layout is possible
            if self.trial:
                raise
            layout = None
        if model_space is None:  # a duck-typed model: nothing to check against
            use_trial = bool(self.trial)
        else:
            flat_ok = _same_space(model_space, observation_space)
            trial_ok = layout is not None and _same_space(model_space, layout.observation_space)
            wanted = {None: flat_ok or trial_ok, True: trial_ok, False: flat_ok}[self.trial]
            if not wanted and layout is None:
                raise ValueError(f"the SB3 model's observation space is {model_space}, the "
                                 f"benchmark's is {observation_space}")
            if not wanted:
                raise ValueError(self._layout_error(model_space, observation_space, layout))
            use_trial = trial_ok if self.trial is None else self.trial
        model_actions = getattr(self.model, "action_space", None)
        if model_actions is not None and not _same_space(model_actions, action_space):
            raise ValueError(
                f"the SB3 model's action space is {model_actions}, the benchmark's is "
                f"{action_space}"
            )
        self.num_tasks = n
        self.action_space = action_space
        self.uses_trial_inputs = use_trial
        self.layout = layout if use_trial else None
        if use_trial:
            self.prev_action = layout.action_encoder.zeros(n)
            self.prev_reward = np.zeros(n, dtype=np.float32)
            self.prev_done = np.zeros(n, dtype=np.float32)
        self._episode_start = np.ones(n, dtype=bool)  # flat recurrent: zero the state there
        self._pending: Any = None
        self._state: Any = None
        if self._policy is not None:
            import torch

            self._policy.set_training_mode(False)  # as predict() does (dropout, batch norm)
            if self._generator is None:
                self._generator = torch.Generator().manual_seed(self.seed)
            if self.recurrent:
                layers, _, hidden = self._policy.lstm_hidden_state_shape
                zeros = torch.zeros((layers, n, hidden), dtype=torch.float32,
                                    device=self._policy.device)
                self._state = (zeros, zeros.clone())

    def _layout_error(self, model_space: Any, observation_space: Any, layout: Any) -> str:
        o, a = layout.obs_encoder.size, layout.action_encoder.size
        flat = f"the benchmark's observation {_shape(observation_space)}"
        trial = (f"its RL² trial input ({layout.size},) = {o} observation + {a} previous action"
                 " + 1 reward + 1 done")
        got = f"the SB3 model was trained on observations of shape {_shape(model_space)}"
        if self.trial is True:
            return f"trial=True, but {got}, not {trial} (make_trial_vec on this benchmark's env)"
        if self.trial is False:
            return f"trial=False, but {got}, not {flat}"
        return (f"{got}, which matches neither {flat} (a model trained on the env itself) nor "
                f"{trial} (a model trained on make_trial_vec)")

    def inputs(self, obs: Any) -> Any:
        """The model's input for this step: ``obs`` itself (flat) or the trial inputs."""
        if self.layout is None:
            return obs
        return self.layout.build(self.layout.encode_obs(obs, self.num_tasks), self.prev_action,
                                 self.prev_reward, self.prev_done)

    def act(self, obs: Any, active: np.ndarray | None = None) -> np.ndarray:
        """One action per row; idle rows (``active`` False) are not computed (action 0)."""
        if self.uses_trial_inputs is None:
            raise RuntimeError("SB3PolicyAgent.act called before reset()")
        x = self.inputs(obs)
        n = self.num_tasks
        idx = None if active is None or np.all(active) else np.flatnonzero(active)
        if idx is not None:
            if not len(idx):  # no row acts: nothing to compute, no state to advance
                shape = tuple(self.action_space.shape or ())
                return np.zeros((n, *shape), dtype=self.action_space.dtype or np.int64)
            x = _rows(x, idx)
        if self._policy is None:
            actions, _ = self.model.predict(x, deterministic=self.deterministic)
            actions = np.asarray(actions)
        else:
            actions = self._policy_actions(x, idx)
        if idx is None:
            return actions
        out = np.zeros((n, *actions.shape[1:]), dtype=actions.dtype)
        out[idx] = actions
        return out

    def _policy_actions(self, x: Any, idx: np.ndarray | None) -> np.ndarray:
        import torch
        from gymnasium import spaces

        policy = self._policy
        obs_t, _ = policy.obs_to_tensor(x)
        with torch.no_grad():
            if self.recurrent:
                h, c = self._state
                sel = slice(None) if idx is None else torch.as_tensor(idx)
                starts = self._episode_start if self.layout is None else np.zeros(self.num_tasks)
                starts = starts if idx is None else starts[idx]
                dist, (h2, c2) = policy.get_distribution(
                    obs_t, (h[:, sel], c[:, sel]),
                    torch.as_tensor(starts, dtype=torch.float32, device=policy.device),
                )
                new_h, new_c = h.clone(), c.clone()
                new_h[:, sel], new_c[:, sel] = h2, c2
                self._pending = (new_h, new_c)
            else:
                dist = policy.get_distribution(obs_t)
            if self.deterministic:
                actions = dist.get_actions(deterministic=True)
            else:
                actions = _SAMPLERS[type(dist).__name__](dist, self._generator)
        actions = actions.cpu().numpy().reshape((-1, *policy.action_space.shape))
        if isinstance(policy.action_space, spaces.Box):
            if policy.squash_output:
                actions = policy.unscale_action(actions)
            else:
                actions = np.clip(actions, policy.action_space.low, policy.action_space.high)
        elif isinstance(policy.action_space, spaces.Discrete):
            actions = actions.astype(np.int64)
        return actions

    def observe(self, obs, action, reward, next_obs, terminated, truncated,
                active: np.ndarray | None = None) -> None:
        """Commit the step of the active rows: LSTM state, previous action/reward/done."""
        if self.uses_trial_inputs is None:
            raise RuntimeError("SB3PolicyAgent.observe called before reset()")
        n = self.num_tasks
        rows = np.ones(n, dtype=bool) if active is None else np.asarray(active, dtype=bool)
        done = np.logical_or(terminated, truncated)
        if self._pending is not None:
            import torch

            keep = torch.as_tensor(rows, device=self._pending[0].device).view(1, -1, 1)
            h, c = self._state
            self._state = (torch.where(keep, self._pending[0], h),
                           torch.where(keep, self._pending[1], c))
            self._pending = None
        self._episode_start = np.where(rows, done, self._episode_start)
        if self.layout is not None:
            enc = self.layout.encode_actions(action, n)
            self.prev_action = np.where(rows[:, None], enc, self.prev_action)
            self.prev_reward = np.where(rows, np.asarray(reward, np.float32), self.prev_reward)
            self.prev_done = np.where(rows, done.astype(np.float32), self.prev_done)

    def adapt(self) -> None:
        """The policy does not adapt between explore and exploit (its memory may)."""
        return None


def _sample_categorical(dist: Any, g: Any) -> Any:
    import torch

    return torch.multinomial(dist.distribution.probs, 1, generator=g)[:, 0]


def _sample_multicategorical(dist: Any, g: Any) -> Any:
    import torch

    return torch.stack(
        [torch.multinomial(d.probs, 1, generator=g)[:, 0] for d in dist.distribution], dim=1
    )


def _sample_bernoulli(dist: Any, g: Any) -> Any:
    import torch

    probs = dist.distribution.probs
    return (torch.rand(probs.shape, generator=g, dtype=probs.dtype) < probs).to(probs.dtype)


def _sample_gaussian(dist: Any, g: Any) -> Any:
    import torch

    normal = dist.distribution
    noise = torch.randn(normal.mean.shape, generator=g, dtype=normal.mean.dtype)
    return normal.mean + normal.stddev * noise


def _sample_squashed(dist: Any, g: Any) -> Any:
    import torch

    return torch.tanh(_sample_gaussian(dist, g))


#: SB3 distribution class name -> sampler with an explicit torch.Generator
_SAMPLERS = {
    "CategoricalDistribution": _sample_categorical,
    "MultiCategoricalDistribution": _sample_multicategorical,
    "BernoulliDistribution": _sample_bernoulli,
    "DiagGaussianDistribution": _sample_gaussian,
    "SquashedDiagGaussianDistribution": _sample_squashed,
}


def sb3_algo_class(algo: str) -> type:
    """The class of an SB3 / sb3-contrib algorithm by name (``"PPO"``, ``"RecurrentPPO"``)."""
    known = SB3_ALGOS + SB3_CONTRIB_ALGOS
    if algo not in known:
        raise ValueError(f"algo must be one of {', '.join(known)}, got {algo!r}")
    module = "sb3_contrib" if algo in SB3_CONTRIB_ALGOS else "stable_baselines3"
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"algo {algo!r} needs {module.replace('_', '-')}: pip install 'krazy_gym[sb3]'"
        ) from exc
    cls = getattr(mod, algo, None)
    if cls is None:  # an older release without it
        raise ValueError(f"algo {algo!r} is not in the installed {module}")
    return cls


def sb3_agent(
    path: str,
    algo: str = "PPO",
    deterministic: bool = True,
    trial: bool | None = None,
    seed: int | None = 0,
) -> SB3PolicyAgent:
    """Load an SB3 / sb3-contrib model file (on the CPU) as a harness agent.

    ``sb3_agent("bandit.zip", "RecurrentPPO", seed=seed)``: ``trial`` None detects the input
    layout from the model (see :class:`SB3PolicyAgent`), ``seed`` seeds sampled actions.
    """
    cls = sb3_algo_class(algo)
    model = cls.load(path, device="cpu")
    return SB3PolicyAgent(model, deterministic=deterministic, trial=trial, seed=seed,
                          name=f"sb3:{algo}")
