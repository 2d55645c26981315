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
  distribution info ``{"mean", "log_std"}``. The mean and ``init_std`` live in a
  ``±action_scale`` space (default 10) that the sampler maps onto the env's bounds
  (:class:`~baselines.common.sampler.ActionAdapter`, as ProMP's ``normalized_env``): with
  ``init_std`` 1 the effective initial std is a tenth of the half-range of each action.

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

import numpy as np
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


_ACTIVATION_FNS = {nn.Tanh: torch.tanh, nn.ReLU: torch.relu}

class BatchActor:
    """Draws actions for ``N = num_tasks × rows_per_task`` rows with fixed parameters.

    The sampling loop's policy: parameters are unpacked once (per layer: weight and bias,
    shared or per task), every call is the bare layer ops under ``inference_mode``, and only
    the rows of live episodes are evaluated (finished sub-envs, masked in the batch, keep
    their last action). The random draws do not depend on which rows are live: each call
    draws the uniforms (categorical, inverse CDF) or normals (Gaussian) of all ``N`` rows from
    ``generator``, in the order and shape of :meth:`MLPPolicy.sample` on the full batch, and
    the layer ops are those of :meth:`MLPPolicy.dist_info`; so the actions of live rows are
    those of ``policy.sample(policy.dist_info(params, obs), generator)`` on all rows, up to the
    rounding of the matrix products: with shared parameters the live rows form a smaller
    product, which BLAS may round differently in the last bit (it does on Intel AVX-512 and
    with other row counts on AVX2); with per-task parameters only whole tasks are left out,
    never rows of a task. Gaussian actions then agree to float32 rounding; a categorical
    action flips only if its uniform draw lands within that rounding of a CDF boundary
    (about 1e-7 per draw). ``tests/baselines/test_sampler.py`` states both.

    ``params`` are shared (θ, or K stride-0 views of θ from :func:`expand_params`) or per task
    (leading dim K; row ``i`` belongs to task ``i // rows_per_task``).
    """

    def __init__(
        self, policy: MLPPolicy, params: Params, num_tasks: int, rows_per_task: int
    ) -> None:
        params = {name: p.detach() for name, p in params.items()}
        batched = policy._is_batched(params)
        if batched and all(p.stride(0) == 0 for p in params.values()):
            params, batched = {name: p[0] for name, p in params.items()}, False
        if batched and next(iter(params.values())).shape[0] != num_tasks:
            raise ValueError(f"per-task params must have a leading dim of {num_tasks}")
        self.policy, self.per_task = policy, batched
        self.k, self.m = int(num_tasks), int(rows_per_task)
        self.n = self.k * self.m
        self.layers: list[tuple[torch.Tensor, torch.Tensor] | None] = []
        self.activations: list = []
        for name, module in policy.net.named_children():
            if isinstance(module, nn.Linear):
                w, b = params[f"net.{name}.weight"], params[f"net.{name}.bias"]
                # the exact operands of dist_info: F.linear / baddbmm(b[:, None], h, wᵀ)
                self.layers.append((w.transpose(1, 2), b.unsqueeze(1)) if batched else (w, b))
                self.activations.append(None)
            else:
                self.layers.append(None)
                self.activations.append(_ACTIVATION_FNS[type(module)])
        self.discrete = policy.discrete
        if self.discrete:
            self.noise = torch.empty((self.n, 1))
        else:
            self.log_std = params["log_std"]
            self.noise = torch.empty((self.n, policy.action_dim))

    def _net(self, h: torch.Tensor, layers: list | None = None) -> torch.Tensor:
        for layer, act in zip(layers or self.layers, self.activations):
            if layer is None:
                h = act(h)
            elif self.per_task:
                h = torch.baddbmm(layer[1], h, layer[0])
            else:
                h = torch.nn.functional.linear(h, layer[0], layer[1])
        return h

    def _draw(
        self,
        out: torch.Tensor,
        noise: torch.Tensor,
        width: int = 0,
        log_std: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Actions of rows ``out`` (net outputs, ``(R, out_dim)``) given their noise rows.

        Per-task params: ``out`` holds ``width`` rows of each task, task after task, and
        ``log_std`` is the tasks' ``(K', action_dim)``.
        """
        if self.discrete:
            cdf = torch.cumsum(torch.log_softmax(out, dim=-1).exp(), dim=-1)
            return (cdf[..., :-1] < noise * cdf[..., -1:]).sum(-1)
        if self.per_task:  # as dist_info's per-task log_std: expanded, then reshaped (a copy)
            log_std = self.log_std if log_std is None else log_std
            log_std = log_std.unsqueeze(1).expand(log_std.shape[0], width, out.shape[-1])
            log_std = log_std.reshape(-1, out.shape[-1])
        else:
            log_std = self.log_std.expand_as(out)
        return out + torch.exp(log_std) * noise

    @torch.inference_mode()
    def __call__(
        self,
        obs: torch.Tensor,
        alive: np.ndarray | None,
        generator: torch.Generator,
        actions: np.ndarray,
    ) -> None:
        """Write the actions of the live rows of ``obs`` ``(N, obs_dim)`` into ``actions``.

        ``alive``: bool ``(N,)`` (None: every row); other rows of ``actions`` are unchanged.
        """
        if self.discrete:
            torch.rand((self.n, 1), generator=generator, out=self.noise)
        else:
            torch.randn(self.noise.shape, generator=generator, out=self.noise)
        acts = torch.from_numpy(actions)
        every = alive is None or bool(alive.all())
        if not self.per_task:
            if every:
                acts.copy_(self._draw(self._net(obs), self.noise))
                return
            index = torch.from_numpy(np.flatnonzero(alive))
            acts[index] = self._draw(self._net(obs.index_select(0, index)), self.noise[index])
            return
        # per task: all rows of the tasks that have a live row (a task's rows are never
        # subset: BLAS may round a product differently for another number of rows)
        tasks = np.arange(self.k) if every else np.flatnonzero(alive.reshape(self.k, -1).any(1))
        if len(tasks) == self.k:
            out = self._net(obs.reshape(self.k, self.m, -1)).reshape(self.n, -1)
            draws = self._draw(out, self.noise, self.m)
            if every:
                acts.copy_(draws)
            else:
                keep = torch.from_numpy(np.flatnonzero(alive))
                acts[keep] = draws[keep]
            return
        sel = torch.from_numpy(tasks)
        layers = [
            None
            if lay is None  # select from the contiguous (K, out, in) weight, then transpose
            else (lay[0].transpose(1, 2).index_select(0, sel).transpose(1, 2),
                  lay[1].index_select(0, sel))
            for lay in self.layers
        ]  # fmt: skip
        log_std = None if self.discrete else self.log_std.index_select(0, sel)
        rows = (tasks[:, None] * self.m + np.arange(self.m)).reshape(-1)
        index = torch.from_numpy(rows)
        out = self._net(obs.reshape(self.k, self.m, -1).index_select(0, sel), layers)
        draws = self._draw(out.reshape(len(rows), -1), self.noise[index], self.m, log_std)
        keep = np.flatnonzero(alive[rows])
        acts[index[keep]] = draws[keep]


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
