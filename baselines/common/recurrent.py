"""GRU actor-critic and recurrent-PPO helpers over whole RL² trials.

RL² (Duan et al. 2016, arXiv 1611.02779) trains a recurrent policy whose hidden state lives
across the ``k`` episodes of one task (a *trial*). Everything here works on **whole trials**
laid out time-major as ``[T, B, ...]`` tensors (``T`` = longest trial in the batch, ``B`` =
trials), with a ``valid`` mask that is 1 on real steps and 0 on the padding after a trial ended.
Because every sequence starts at a trial start, the GRU's hidden state is reset exactly there
(``h0 = 0``) and nowhere else, and the PPO update runs the whole batch of sequences through
**one** ``nn.GRU`` call (no per-step Python loop).

* :class:`RecurrentActorCritic`: GRU core with a policy head (categorical logits, or a
  diagonal Gaussian with a state-independent log-std) and a value head; optionally
  (``separate_value=True``) the value head reads a second GRU of its own, as the RL² paper's
  RNN baseline does.
* :func:`gae_over_trials`: GAE in which episode boundaries *inside* a trial are not terminal;
  only the end of the trial is (its successor value is 0).
* :func:`explore_reward_mask` / :func:`training_rewards`: the E-RL² mask (Stadie et al. 2018):
  the training rewards of the first ``p`` episodes of each trial are zero, while the network's
  inputs keep the true rewards.
* :func:`ppo_loss`: PPO-clip surrogate + value loss + entropy bonus over the valid steps.

Example::

    model = RecurrentActorCritic(input_dim=8, action_dim=5, discrete=True, hidden_size=256)
    out, values, _ = model(inputs, model.initial_state(inputs.shape[1]))   # inputs [T, B, 8]
    adv, ret = gae_over_trials(rewards, values.detach(), valid, gamma=0.99, lam=0.95)
"""

from __future__ import annotations

import math

import torch
from torch import nn

WEIGHT_INITS = ("orthogonal", "uniform")


class RecurrentActorCritic(nn.Module):
    """A single-layer GRU with a policy head and a value head (or two GRUs, one per head).

    Args:
        input_dim: size of the per-step input vector (observation + previous action, previous
            reward and episode-done flag, as built by :class:`krazy_gym.wrappers.TrialWrapper`).
        action_dim: number of actions (discrete) or action dimensions (continuous).
        discrete: categorical policy over ``action_dim`` actions if True, else a diagonal
            Gaussian with mean from the head and a learned state-independent log-std.
        hidden_size: GRU units (the RL² paper uses 256).
        init_log_std: initial log-std of the Gaussian policy (continuous only).
        generator: the ``torch.Generator`` used to initialise the weights (default: seed 0),
            so that construction never touches torch's global RNG.
        update_gate_bias: initial bias of the GRU's update gate ``z`` (``h' = (1 - z) n + z h``):
            a positive value starts the network keeping its state over more steps (the
            "forget bias" trick for long trials); only the initialisation changes.
        separate_value: give the value head its own GRU ``value_gru`` (same ``input_dim`` and
            ``hidden_size``) instead of reading the policy's ``gru``. The RL² paper (Duan et
            al. 2016) fits "a baseline represented as an RNN" separate from the policy: the
            value regression then sends no gradient into the policy's recurrent weights (with
            a shared GRU, ``value_coef * value_loss`` also shapes the policy's features, so
            its weight, and ``reward_scale`` in :mod:`baselines.rl2`, trade the value fit
            against the policy). It costs a second GRU (about twice the recurrent compute).
            The hidden state that :meth:`forward`, :meth:`step` and :meth:`initial_state`
            pass around is then ``[1, B, 2 * hidden_size]``: the policy GRU's state in the
            first half, the value GRU's in the second (see :attr:`state_size`), so callers
            that only carry, mask or reset the state work unchanged. ``value_gru`` is
            initialised after the GRU and the heads, from the same ``generator``, so with
            ``separate_value=False`` the weights are exactly those of a model without the
            option.
        input_embedding: if > 0, each input vector first goes through a fully connected
            layer of this many ReLU units (the RL² paper's embedding ``phi(s, a, r, d)``),
            whose output the GRU reads; 0 (default) feeds the raw TrialWrapper vector to the
            GRU. With ``separate_value`` the value GRU gets an embedding layer of its own
            (the value loss then still reaches no policy weight). The embedding layers are
            registered and drawn last.
        weight_init: ``"orthogonal"`` (default): orthogonal GRU weights (gain 1 per gate),
            a small policy head (gain 0.01), ReLU layers with gain sqrt(2), zero biases.
            ``"uniform"``: PyTorch's own default scheme (every GRU weight and bias
            ``U(-1/sqrt(hidden), 1/sqrt(hidden))``; every linear layer's weight and bias
            ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``), drawn from ``generator``. In imitation runs on
            the tabular MDP the network found its state-keyed memory sooner from the
            uniform scheme (docs/results.md, tabular MDP). ``update_gate_bias`` applies to both.
    """

    def __init__(
        self,
        input_dim: int,
        action_dim: int,
        discrete: bool,
        hidden_size: int = 256,
        init_log_std: float = 0.0,
        generator: torch.Generator | None = None,
        update_gate_bias: float = 0.0,
        separate_value: bool = False,
        input_embedding: int = 0,
        weight_init: str = "orthogonal",
    ) -> None:
        super().__init__()
        if weight_init not in WEIGHT_INITS:
            raise ValueError(f"weight_init must be one of {WEIGHT_INITS}, got {weight_init!r}")
        self.weight_init = weight_init
        if not isinstance(separate_value, bool):
            raise ValueError(f"separate_value must be a bool, got {separate_value!r}")
        for name, value in (("input_dim", input_dim), ("action_dim", action_dim),
                            ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if (isinstance(input_embedding, bool) or not isinstance(input_embedding, int)
                or input_embedding < 0):
            raise ValueError(f"input_embedding must be an int >= 0, got {input_embedding!r}")
        self.input_dim = input_dim
        self.action_dim = action_dim
        self.discrete = bool(discrete)
        self.hidden_size = hidden_size
        # torch's default initialisers draw from the global RNG: restore it afterwards (the
        # weights are re-drawn from ``generator`` below anyway).
        gru_input = input_embedding or input_dim
        with torch.random.fork_rng(devices=[]):
            self.gru = nn.GRU(gru_input, hidden_size)
            self.policy_head = nn.Linear(hidden_size, action_dim)
            self.value_head = nn.Linear(hidden_size, 1)
            # registered after the existing modules: their parameter order (and the optimiser
            # state's indices) is the same as without the option
            self.value_gru: nn.GRU | None = (
                nn.GRU(gru_input, hidden_size) if separate_value else None)
            # likewise registered last: without the option the parameters are unchanged
            self.embedding: nn.Linear | None = (
                nn.Linear(input_dim, input_embedding) if input_embedding else None)
            self.value_embedding: nn.Linear | None = (
                nn.Linear(input_dim, input_embedding) if input_embedding and separate_value
                else None)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((action_dim,), float(init_log_std)))
        self.update_gate_bias = float(update_gate_bias)
        self.reset_parameters(generator if generator is not None else torch.Generator().manual_seed(0))

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        """Orthogonal GRU/head weights (small policy head), zero biases (but the update gate's
        ``update_gate_bias``), from ``generator``. The draws run in a fixed order: ``gru``,
        policy head, value head, ``value_gru`` (if any), then the embedding layers (if any;
        ReLU layers: orthogonal with gain sqrt(2), zero bias), so that adding the value GRU
        leaves every other weight as it was. With ``weight_init="uniform"``, PyTorch's default
        uniform ranges instead, in the same order."""
        if self.weight_init == "uniform":
            self._init_uniform(generator)
            return
        self._init_gru(self.gru, generator)
        nn.init.orthogonal_(self.policy_head.weight, gain=0.01, generator=generator)
        nn.init.orthogonal_(self.value_head.weight, gain=1.0, generator=generator)
        self.policy_head.bias.zero_()
        self.value_head.bias.zero_()
        if self.value_gru is not None:
            self._init_gru(self.value_gru, generator)
        for layer in (self.embedding, self.value_embedding):
            if layer is not None:
                nn.init.orthogonal_(layer.weight, gain=math.sqrt(2.0), generator=generator)
                layer.bias.zero_()

    def _init_uniform(self, generator: torch.Generator) -> None:
        modules = [self.gru, self.policy_head, self.value_head, self.value_gru, self.embedding,
                   self.value_embedding]
        for module in modules:
            if module is None:
                continue
            if isinstance(module, nn.GRU):
                bound = 1.0 / math.sqrt(self.hidden_size)
            else:
                bound = 1.0 / math.sqrt(module.in_features)
            for _, p in module.named_parameters():
                nn.init.uniform_(p, -bound, bound, generator=generator)
        h = self.hidden_size
        for gru in (self.gru, self.value_gru):
            if gru is not None and self.update_gate_bias:
                gru.bias_hh_l0[h : 2 * h] = self.update_gate_bias

    def _init_gru(self, gru: nn.GRU, generator: torch.Generator) -> None:
        for name, p in gru.named_parameters():
            if name.startswith("weight"):
                for chunk in p.chunk(3, dim=0):  # reset, update, new gates separately
                    nn.init.orthogonal_(chunk, gain=1.0, generator=generator)
            else:
                p.zero_()
        h = self.hidden_size
        gru.bias_hh_l0[h : 2 * h] = self.update_gate_bias  # gate order: r, z, n

    @property
    def separate_value(self) -> bool:
        """Whether the value head reads its own GRU (``value_gru``)."""
        return self.value_gru is not None

    @property
    def input_embedding(self) -> int:
        """Units of the input embedding layer (0: none, the GRU reads the raw inputs)."""
        return self.embedding.out_features if self.embedding is not None else 0

    def _embed(self, inputs: torch.Tensor, layer: nn.Linear | None) -> torch.Tensor:
        return inputs if layer is None else torch.relu(layer(inputs))

    @property
    def state_size(self) -> int:
        """Size of the last axis of the hidden state: ``hidden_size``, or ``2 * hidden_size``
        with ``separate_value`` (policy GRU's state first, value GRU's second)."""
        return 2 * self.hidden_size if self.value_gru is not None else self.hidden_size

    def initial_state(self, batch_size: int) -> torch.Tensor:
        """The hidden state at a trial start: zeros of shape ``[1, batch_size, state_size]``."""
        return torch.zeros(1, batch_size, self.state_size)

    def forward(
        self, inputs: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run ``inputs`` ``[T, B, input_dim]`` from ``hidden`` ``[1, B, S]`` (``S`` =
        :attr:`state_size`) in one GRU call (one per GRU with ``separate_value``).

        Returns:
            ``(policy_out [T, B, action_dim], values [T, B], last_hidden [1, B, S])``;
            policy_out is the logits (discrete) or the Gaussian mean (continuous).
        """
        if hidden.shape[-1] != self.state_size:
            raise ValueError(
                f"hidden state must have last axis state_size={self.state_size}, got shape "
                f"{tuple(hidden.shape)}"
            )
        if self.value_gru is None:
            features, last = self.gru(self._embed(inputs, self.embedding), hidden)
            return self.policy_head(features), self.value_head(features).squeeze(-1), last
        h = self.hidden_size
        features, last = self.gru(self._embed(inputs, self.embedding),
                                  hidden[..., :h].contiguous())
        value_features, value_last = self.value_gru(self._embed(inputs, self.value_embedding),
                                                    hidden[..., h:].contiguous())
        return (self.policy_head(features), self.value_head(value_features).squeeze(-1),
                torch.cat([last, value_last], dim=-1))

    def step(
        self, inputs: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One time step: ``inputs`` ``[B, input_dim]`` → ``(policy_out [B, A], values [B],
        hidden [1, B, S])``. Same weights and kernel as :meth:`forward` with ``T = 1``."""
        out, values, last = self.forward(inputs.unsqueeze(0), hidden)
        return out[0], values[0], last

    # -- distributions -------------------------------------------------------------------------
    def log_prob_entropy(
        self, policy_out: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability of ``actions`` and the policy entropy, both shaped like the batch
        (``policy_out`` without its last axis)."""
        if self.discrete:
            logp_all = torch.log_softmax(policy_out, dim=-1)
            logp = logp_all.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
            entropy = -(logp_all.exp() * logp_all).sum(-1)
            return logp, entropy
        log_std = self.log_std.expand_as(policy_out)
        z = (actions - policy_out) * torch.exp(-log_std)
        logp = (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        entropy = (log_std + 0.5 * (1.0 + math.log(2 * math.pi))).sum(-1)
        return logp, entropy

    def log_prob(self, policy_out: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Log-probability of ``actions`` alone (the same values as :meth:`log_prob_entropy`,
        without computing the entropy)."""
        if self.discrete:
            return torch.log_softmax(policy_out, dim=-1).gather(
                -1, actions.long().unsqueeze(-1)).squeeze(-1)
        return self.log_prob_entropy(policy_out, actions)[0]

    @torch.no_grad()
    def sample(
        self, policy_out: torch.Tensor, generator: torch.Generator, deterministic: bool = False
    ) -> torch.Tensor:
        """Draw actions with an explicit ``generator`` (discrete: Gumbel-max over the logits,
        i.e. an exact categorical sample; continuous: mean + std * N(0, 1)).
        ``deterministic`` gives the most likely action. Actions carry no gradient."""
        if self.discrete:
            if deterministic:
                return policy_out.argmax(-1)
            u = torch.rand(policy_out.shape, generator=generator).clamp_(min=1e-20)
            return (policy_out - torch.log(-torch.log(u))).argmax(-1)
        if deterministic:
            return policy_out.clone()
        noise = torch.randn(policy_out.shape, generator=generator)
        return policy_out + torch.exp(self.log_std) * noise


# -- returns ------------------------------------------------------------------------------------
def gae_over_trials(
    rewards: torch.Tensor,
    values: torch.Tensor,
    valid: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over whole trials (time-major ``[T, B]``).

    Episode boundaries inside a trial are **not** terminal: the successor of an episode's last
    step is the first step of the next episode of the same trial (the hidden state and the
    return carry on). Only the end of the trial is terminal: after the last valid step of a
    column the successor value is 0. Padding steps (``valid == 0``) get advantage 0.

    Returns:
        ``(advantages, returns)`` with ``returns = advantages + values`` on valid steps.
    """
    if not (rewards.shape == values.shape == valid.shape) or rewards.dim() != 2:
        raise ValueError(
            "rewards, values and valid must all be [T, B]; got "
            f"{tuple(rewards.shape)}, {tuple(values.shape)}, {tuple(valid.shape)}"
        )
    valid = valid.to(rewards.dtype)
    horizon = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    next_value = torch.zeros_like(rewards[0])
    next_adv = torch.zeros_like(rewards[0])
    for t in range(horizon - 1, -1, -1):
        # next_value/next_adv are 0 where step t+1 is padding, i.e. t is the trial's last step
        delta = rewards[t] + gamma * next_value - values[t]
        adv = (delta + gamma * lam * next_adv) * valid[t]
        advantages[t] = adv
        next_value = values[t] * valid[t]
        next_adv = adv
    return advantages, (advantages + values) * valid


def explore_reward_mask(episode_index: torch.Tensor, explore_episodes: int) -> torch.Tensor:
    """E-RL² mask: 0 on steps of the first ``explore_episodes`` episodes of a trial, else 1.

    ``episode_index`` ``[T, B]`` is each step's episode number inside its trial (0-based).
    """
    if isinstance(explore_episodes, bool) or not isinstance(explore_episodes, int) or explore_episodes < 0:
        raise ValueError(f"explore_episodes must be an int >= 0, got {explore_episodes!r}")
    return (episode_index >= explore_episodes).to(torch.float32)


def training_rewards(
    rewards: torch.Tensor, episode_index: torch.Tensor, explore_episodes: int
) -> torch.Tensor:
    """The rewards PPO optimises: the true ``rewards`` with the explore episodes' zeroed.

    A new tensor; ``rewards`` (which the network sees as its previous-reward input) is left
    unchanged. With ``explore_episodes == 0`` (plain RL²) it equals ``rewards``.
    """
    return rewards * explore_reward_mask(episode_index, explore_episodes).to(rewards.dtype)


# -- PPO ----------------------------------------------------------------------------------------
def masked_mean(
    x: torch.Tensor, mask: torch.Tensor, denominator: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of ``x`` over the entries where ``mask`` is 1; with ``denominator``, the masked sum
    divided by it instead (a part of a mean over a larger batch: the parts' values add up)."""
    if denominator is None:
        denominator = mask.sum().clamp(min=1.0)
    return (x * mask).sum() / denominator


def ppo_loss(
    model: RecurrentActorCritic,
    inputs: torch.Tensor,
    actions: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    valid: torch.Tensor,
    clip: float,
    value_coef: float,
    entropy_coef: float,
    denominator: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO-clip loss over a batch of whole trials (``[T, B, ...]``), in one GRU call.

    Every column starts at a trial start, so the GRU runs from the zero state. The means run
    over the valid steps; given ``denominator`` (the valid-step count of a larger minibatch
    this batch is a part of), every mean is the masked sum divided by it, so the losses, stats
    and gradients of the parts of a minibatch add up to the minibatch's.

    Returns:
        ``(loss, stats)`` where stats has ``policy_loss``, ``value_loss``, ``entropy``,
        ``approx_kl`` and ``clip_fraction`` (detached).
    """
    policy_out, values, _ = model(inputs, model.initial_state(inputs.shape[1]))
    log_probs, entropy = model.log_prob_entropy(policy_out, actions)
    log_ratio = log_probs - old_log_probs
    ratio = torch.exp(log_ratio)
    surrogate = torch.min(ratio * advantages, torch.clamp(ratio, 1 - clip, 1 + clip) * advantages)
    policy_loss = -masked_mean(surrogate, valid, denominator)
    value_loss = masked_mean((values - returns).pow(2), valid, denominator)
    mean_entropy = masked_mean(entropy, valid, denominator)
    loss = policy_loss + value_coef * value_loss - entropy_coef * mean_entropy
    with torch.no_grad():
        stats = {
            "policy_loss": policy_loss.detach(),
            "value_loss": value_loss.detach(),
            "entropy": mean_entropy.detach(),
            "approx_kl": masked_mean((ratio - 1) - log_ratio, valid, denominator),
            "clip_fraction": masked_mean(((ratio - 1).abs() > clip).float(), valid, denominator),
        }
    return loss, stats
