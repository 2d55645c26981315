"""A trained gradient-based meta-policy (MAML, E-MAML, ProMP, ...) as a harness ``MetaAgent``.

Protocol (``krazy_gym.evaluation``): ``reset(num_tasks, observation_space, action_space)``
starts new tasks, ``act(obs)`` returns one action per task, ``observe(...)`` reports each step,
``adapt()`` is called between the explore and the exploit episodes.

* explore episodes are played by the **pre-update** policy θ (the meta-learned initialisation);
* ``adapt()`` takes the algorithm's inner gradient step(s) for every task at once on that
  task's explore episodes (per-task linear baseline, GAE, normalised advantages — the same
  processing as in training); with several inner steps, all of them use these episodes;
* exploit episodes are played by the adapted policy θ'_k.

Actions are sampled (``deterministic=False``, as in MAML/ProMP's evaluation) from a
``torch.Generator`` seeded by ``seed``, so evaluations are reproducible, and mapped to the
env's action space as in training (:class:`~baselines.common.sampler.ActionAdapter` with the
checkpoint's ``action_scale``).

Example::

    from baselines.agents import load
    agent = load("runs/nav-promp")
    agent.reset(num_tasks=4, observation_space=env.single_observation_space,
                action_space=env.single_action_space)
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from baselines.common.checkpoint import load_checkpoint
from baselines.common.config import config_from_dict
from baselines.common.meta_learning import process_batch
from baselines.common.objectives import inner_step
from baselines.common.policies import MLPPolicy, expand_params, flat_obs_dim, make_policy
from baselines.common.sampler import (
    DEFAULT_ACTION_SCALE,
    ActionAdapter,
    EpisodeBatch,
    check_action_scale,
    obs_to_array,
)


class GradientMetaAgent:
    """Explore with θ, ``adapt()`` = inner gradient step(s), exploit with θ'."""

    def __init__(
        self,
        policy: MLPPolicy,
        inner_kind: str,
        inner_lr: float,
        inner_steps: int = 1,
        gamma: float = 0.99,
        gae_lambda: float = 1.0,
        normalize_advantages: bool = True,
        seed: int = 0,
        deterministic: bool = False,
        name: str = "gradient-meta-agent",
        action_scale: float = DEFAULT_ACTION_SCALE,
    ) -> None:
        self.policy = policy
        self.action_scale = check_action_scale(action_scale)
        self.inner_kind = inner_kind
        self.inner_lr = float(inner_lr)
        self.inner_steps = int(inner_steps)
        self.gamma = float(gamma)
        self.gae_lambda = float(gae_lambda)
        self.normalize_advantages = bool(normalize_advantages)
        self.deterministic = bool(deterministic)
        self.name = name
        self.generator = torch.Generator().manual_seed(int(seed))
        self.num_tasks = 0
        self.params: dict[str, torch.Tensor] = {}
        self.adapted = False

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike[str],
        config_cls: type,
        seed: int = 0,
        deterministic: bool = False,
    ) -> GradientMetaAgent:
        """Rebuild the policy of a training checkpoint and its inner-step settings."""
        import gymnasium as gym

        import krazy_gym  # noqa: F401

        ckpt = load_checkpoint(path)
        cfg = config_from_dict(config_cls, ckpt.config)
        env = gym.make(cfg.env_id)
        with torch.random.fork_rng(devices=[]):
            policy = make_policy(
                env.observation_space,
                env.action_space,
                cfg.hidden_sizes,
                cfg.activation,
                cfg.init_std,
            )
        env.close()
        policy.load_state_dict(ckpt.state["policy"])
        kind = getattr(cfg, "inner_objective", None)
        if kind is None:  # ProMP family
            kind = "dice" if getattr(cfg, "objective", "") == "dice" else "lvc"
        return cls(
            policy,
            kind,
            cfg.inner_lr,
            cfg.inner_steps,
            cfg.gamma,
            cfg.gae_lambda,
            cfg.normalize_advantages,
            seed=seed,
            deterministic=deterministic,
            name=f"baselines:{ckpt.algo}",
            action_scale=cfg.action_scale,  # 1.0 for checkpoints from before the setting
        )

    # -- MetaAgent protocol -----------------------------------------------------------------------
    def reset(
        self, num_tasks: int, observation_space: spaces.Space, action_space: spaces.Space
    ) -> None:
        """New tasks begin: back to the pre-update parameters, forget the explore episodes."""
        if flat_obs_dim(observation_space) != self.policy.obs_dim:
            raise ValueError(
                f"{self.name}: observation_space has {flat_obs_dim(observation_space)} dims, "
                f"the policy was trained on {self.policy.obs_dim}"
            )
        self.num_tasks = int(num_tasks)
        self.obs_space = observation_space
        self.to_env = ActionAdapter(action_space, self.action_scale)
        theta = {n: p.detach() for n, p in self.policy.parameters_dict().items()}
        self.params = expand_params(theta, self.num_tasks)
        self.adapted = False
        self._steps: list[tuple[np.ndarray, ...]] = []
        self._last_raw: np.ndarray | None = None

    @torch.no_grad()
    def act(self, obs: Any, active: np.ndarray | None = None) -> np.ndarray:
        """One action per task row (idle rows get an action too; the runner ignores it)."""
        o = obs_to_array(obs, self.obs_space)
        info = self.policy.dist_info(
            self.params, torch.from_numpy(o).reshape(self.num_tasks, 1, -1)
        )
        raw = (
            self.policy.mode(info)
            if self.deterministic
            else self.policy.sample(info, self.generator)
        )
        self._last_raw = raw[:, 0].numpy()
        return self.to_env(self._last_raw)

    def observe(
        self, obs, action, reward, next_obs, terminated, truncated, active: np.ndarray | None = None
    ) -> None:
        """Record explore steps (with the policy's raw actions from the preceding ``act``).

        ``active`` (passed by the harness) marks rows still playing; idle rows' steps are
        dropped so they do not extend the task's last explore episode.
        """
        if self.adapted:
            return
        o = obs_to_array(obs, self.obs_space)
        raw = self._last_raw if self._last_raw is not None else np.asarray(action)
        done = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
        live = np.ones(self.num_tasks, bool) if active is None else np.asarray(active, dtype=bool)
        self._steps.append((o, raw, np.asarray(reward, dtype=np.float32), done, live))

    def adapt(self) -> None:
        """Inner gradient step(s) for every task on its explore episodes."""
        if not self._steps:
            self.adapted = True
            return
        batch = self._episode_batch()
        data, _ = process_batch(
            batch, self.gamma, self.gae_lambda, self.normalize_advantages, self.inner_kind != "dice"
        )
        params = {n: p.detach().requires_grad_(True) for n, p in self.params.items()}
        for _ in range(self.inner_steps):
            params = inner_step(self.inner_kind, self.policy, params, data, self.inner_lr, False)
            params = {n: p.detach().requires_grad_(True) for n, p in params.items()}
        self.params = {n: p.detach() for n, p in params.items()}
        self.adapted = True

    # -- helpers ---------------------------------------------------------------------------------
    def _episode_batch(self) -> EpisodeBatch:
        """Split the recorded steps of each task into episodes, padded to (K, E, T)."""
        obs = np.stack([s[0] for s in self._steps])  # (S, K, d)
        act = np.stack([s[1] for s in self._steps])
        rew = np.stack([s[2] for s in self._steps])
        done = np.stack([s[3] for s in self._steps])
        live = np.stack([s[4] for s in self._steps])
        k = self.num_tasks
        episodes: list[list[np.ndarray]] = []  # per task: the step indices of each episode
        for task in range(k):
            steps = np.flatnonzero(live[:, task])
            ends = np.flatnonzero(done[steps, task]) + 1
            parts = np.split(steps, ends)
            episodes.append([p for p in parts if len(p)] or [steps[:0]])
        e_max = max(len(e) for e in episodes)
        t_max = max(1, max(len(idx) for e in episodes for idx in e))
        out_obs = np.zeros((k, e_max, t_max, obs.shape[-1]), np.float32)
        out_act = np.zeros((k, e_max, t_max, *act.shape[2:]), act.dtype)
        out_rew = np.zeros((k, e_max, t_max), np.float32)
        mask = np.zeros((k, e_max, t_max), np.float32)
        for task, eps in enumerate(episodes):
            for e, idx in enumerate(eps):
                n = len(idx)
                out_obs[task, e, :n] = obs[idx, task]
                out_act[task, e, :n] = act[idx, task]
                out_rew[task, e, :n] = rew[idx, task]
                mask[task, e, :n] = 1.0
        return EpisodeBatch(obs=out_obs, actions=out_act, rewards=out_rew, mask=mask)
