"""MLP policies that run with *explicit* parameters, one parameter set per task.

Gradient-based meta-RL needs the policy as a function of its parameters: the inner step builds
adapted parameters ``θ'_k = θ − α ∇L_k(θ)`` for every task ``k`` and the outer objective is
differentiated through them. Each policy here is an ``nn.Module`` (its own parameters are θ)
evaluated with ``torch.func.functional_call`` on any parameter dict; a dict whose tensors carry
a leading task dimension ``K`` (``params[name].shape == (K, *θ[name].shape)``) is evaluated
on observations shaped ``(K, N, obs_dim)`` with one batched matmul per layer (equal to
``torch.func.vmap`` of the functional call, tested, and several times faster for these small
networks); K views of one θ run as a single un-batched call.

* :class:`CategoricalMLPPolicy` (``Discrete`` actions): distribution info ``{"logits"}``.
* :class:`GaussianMLPPolicy` (``Box`` actions): state-independent learned ``log_std``;
  distribution info ``{"mean", "log_std"}``. Actions live in a normalised space: the sampler
  clips them to [-1, 1] and rescales them to the env's bounds (ProMP's ``normalize`` wrapper).

Example::

    policy = make_policy(env.observation_space, env.action_space, hidden_sizes=(64, 64))
    theta = policy.parameters_dict()
    per_task = expand_params(theta, 40)                       # (40, ...) views of θ
    info = policy.dist_info(per_task, obs)                    # obs: (40, N, obs_dim)
    logp = policy.log_prob(info, actions)                     # (40, N)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from gymnasium import spaces
from torch import nn
from torch.func import functional_call, vmap

Params = dict[str, torch.Tensor]
DistInfo = dict[str, torch.Tensor]

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def expand_params(params: Params, num_tasks: int) -> Params:
    """``num_tasks`` copies of ``params`` along a new leading dim (views: gradients flow to θ)."""
    return {k: v.unsqueeze(0).expand(num_tasks, *v.shape) for k, v in params.items()}


def _mlp(in_dim: int, hidden_sizes: Sequence[int], out_dim: int, activation: str) -> nn.Sequential:
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    layers: list[nn.Module] = []
    last = in_dim
    for h in hidden_sizes:
        layers += [nn.Linear(last, h), _ACTIVATIONS[activation]()]
        last = h
    layers.append(nn.Linear(last, out_dim))
    return nn.Sequential(*layers)


class MLPPolicy(nn.Module):
    """Shared machinery: an MLP ``net`` plus functional, task-batched evaluation."""

    discrete: bool = False

    def __init__(self, obs_dim: int, out_dim: int, hidden_sizes: Sequence[int], activation: str):
        super().__init__()
        self.obs_dim = int(obs_dim)
        self.net = _mlp(self.obs_dim, hidden_sizes, out_dim, activation)

    def parameters_dict(self) -> Params:
        """θ as a name → Parameter dict (the tensors themselves, not copies)."""
        return dict(self.named_parameters())

    def _is_batched(self, params: Params) -> bool:
        name, value = next(iter(params.items()))
        return value.dim() == self.get_parameter(name).dim() + 1

    def _raw(self, params: Params, obs: torch.Tensor) -> DistInfo:
        raise NotImplementedError

    def dist_info(self, params: Params, obs: torch.Tensor) -> DistInfo:
        """Distribution parameters for ``obs`` under ``params`` (task-batched or not).

        Task-batched params (leading dim K) take ``obs`` shaped ``(K, N, obs_dim)``. When all
        K copies are views of one θ (``expand_params``: stride 0), one un-batched call serves
        all tasks (only outside autograd: per-task gradients need the batched path); otherwise
        each layer is a batched matmul over the tasks.
        """
        if not self._is_batched(params):
            return self._raw(params, obs)
        no_grad = not torch.is_grad_enabled() or not any(p.requires_grad for p in params.values())
        if no_grad and all(p.stride(0) == 0 for p in params.values()):
            shared = {n: p[0] for n, p in params.items()}
            k = obs.shape[0]
            info = self._raw(shared, obs.reshape(-1, obs.shape[-1]))
            return {n: v.reshape(k, -1, *v.shape[1:]) for n, v in info.items()}
        return self._raw_batched(params, obs)

    def _net_batched(self, params: Params, obs: torch.Tensor) -> torch.Tensor:
        """``self.net`` with per-task weights: ``obs`` (K, N, d) -> (K, N, out)."""
        h = obs
        for name, module in self.net.named_children():
            if isinstance(module, nn.Linear):
                weight = params[f"net.{name}.weight"]
                bias = params[f"net.{name}.bias"]
                h = torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
            else:
                h = module(h)
        return h

    def _raw_batched(self, params: Params, obs: torch.Tensor) -> DistInfo:
        return vmap(self._raw, in_dims=(0, 0))(params, obs)

    def log_prob(self, info: DistInfo, actions: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def kl(self, old: DistInfo, new: DistInfo) -> torch.Tensor:
        """KL(old ‖ new) per sample."""
        raise NotImplementedError

    def entropy(self, info: DistInfo) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, info: DistInfo, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def mode(self, info: DistInfo) -> torch.Tensor:
        raise NotImplementedError


class CategoricalMLPPolicy(MLPPolicy):
    """π(a|s) = softmax(MLP(s)) over ``num_actions`` discrete actions."""

    discrete = True

    def __init__(
        self,
        obs_dim: int,
        num_actions: int,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
    ) -> None:
        super().__init__(obs_dim, num_actions, hidden_sizes, activation)
        self.num_actions = int(num_actions)

    def _raw(self, params: Params, obs: torch.Tensor) -> DistInfo:
        logits = functional_call(self, params, (obs,), strict=True, tie_weights=False)
        return {"logits": torch.log_softmax(logits, dim=-1)}

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)

    def _raw_batched(self, params: Params, obs: torch.Tensor) -> DistInfo:
        return {"logits": torch.log_softmax(self._net_batched(params, obs), dim=-1)}

    def log_prob(self, info: DistInfo, actions: torch.Tensor) -> torch.Tensor:
        return torch.gather(info["logits"], -1, actions.long().unsqueeze(-1)).squeeze(-1)

    def kl(self, old: DistInfo, new: DistInfo) -> torch.Tensor:
        p_old = old["logits"].exp()
        return (p_old * (old["logits"] - new["logits"])).sum(-1)

    def entropy(self, info: DistInfo) -> torch.Tensor:
        return -(info["logits"].exp() * info["logits"]).sum(-1)

    def sample(self, info: DistInfo, generator: torch.Generator) -> torch.Tensor:
        """Inverse-CDF draw: one uniform per row (cheaper than ``torch.multinomial``)."""
        cdf = torch.cumsum(info["logits"].exp(), dim=-1)
        u = torch.rand(cdf.shape[:-1] + (1,), generator=generator, dtype=cdf.dtype)
        draws = (cdf[..., :-1] < u * cdf[..., -1:]).sum(-1)
        return draws

    def mode(self, info: DistInfo) -> torch.Tensor:
        return info["logits"].argmax(-1)


class GaussianMLPPolicy(MLPPolicy):
    """π(a|s) = N(MLP(s), diag(exp(log_std))²) with a learned, state-independent ``log_std``."""

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
        init_std: float = 1.0,
    ) -> None:
        super().__init__(obs_dim, action_dim, hidden_sizes, activation)
        if not init_std > 0:
            raise ValueError(f"init_std must be > 0, got {init_std}")
        self.action_dim = int(action_dim)
        self.log_std = nn.Parameter(torch.full((self.action_dim,), math.log(init_std)))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.net(obs)
        return mean, self.log_std.expand_as(mean)

    def _raw(self, params: Params, obs: torch.Tensor) -> DistInfo:
        mean, log_std = functional_call(self, params, (obs,), strict=True, tie_weights=False)
        return {"mean": mean, "log_std": log_std}

    def _raw_batched(self, params: Params, obs: torch.Tensor) -> DistInfo:
        mean = self._net_batched(params, obs)
        return {"mean": mean, "log_std": params["log_std"].unsqueeze(1).expand_as(mean)}

    def log_prob(self, info: DistInfo, actions: torch.Tensor) -> torch.Tensor:
        z = (actions - info["mean"]) * torch.exp(-info["log_std"])
        return (-0.5 * z.pow(2) - info["log_std"] - 0.5 * math.log(2 * math.pi)).sum(-1)

    def kl(self, old: DistInfo, new: DistInfo) -> torch.Tensor:
        var_old = torch.exp(2 * old["log_std"])
        var_new = torch.exp(2 * new["log_std"])
        kl = (
            new["log_std"]
            - old["log_std"]
            + (var_old + (old["mean"] - new["mean"]).pow(2)) / (2 * var_new)
            - 0.5
        )
        return kl.sum(-1)

    def entropy(self, info: DistInfo) -> torch.Tensor:
        return (info["log_std"] + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)

    def sample(self, info: DistInfo, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(info["mean"].shape, generator=generator, dtype=info["mean"].dtype)
        return info["mean"] + torch.exp(info["log_std"]) * noise

    def mode(self, info: DistInfo) -> torch.Tensor:
        return info["mean"]


def flat_obs_dim(space: spaces.Space) -> int:
    """Size of a flattened observation (Box/Discrete/MultiBinary...)."""
    return int(spaces.flatdim(space))


def make_policy(
    observation_space: spaces.Space,
    action_space: spaces.Space,
    hidden_sizes: Sequence[int] = (64, 64),
    activation: str = "tanh",
    init_std: float = 1.0,
) -> MLPPolicy:
    """The policy class that fits ``action_space`` (Discrete → categorical, Box → Gaussian)."""
    obs_dim = flat_obs_dim(observation_space)
    if isinstance(action_space, spaces.Discrete):
        return CategoricalMLPPolicy(obs_dim, int(action_space.n), hidden_sizes, activation)
    if isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        return GaussianMLPPolicy(
            obs_dim, int(action_space.shape[0]), hidden_sizes, activation, init_std
        )
    raise TypeError(
        f"action_space must be Discrete or a 1-D Box, got {type(action_space).__name__} "
        f"{getattr(action_space, 'shape', '')}"
    )
