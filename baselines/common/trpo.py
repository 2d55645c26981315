"""TRPO's constrained step: conjugate gradient on Hessian-vector products + line search.

Solves ``min_θ L(θ)`` subject to ``KL(θ) ≤ δ`` around the current θ (Schulman et al. 2015):
the search direction ``s = −H⁻¹g`` (H = Hessian of the mean KL, g = gradient of L) comes from
``cg_iters`` conjugate-gradient iterations that only need products ``Hv`` (double backward),
scaled to the trust-region boundary ``sqrt(2δ / sᵀHs)`` and shrunk by ``backtrack_ratio``
until the loss improves and the KL bound holds (else θ is left unchanged).

For MAML the loss and KL are functions of the *meta*-parameters through the inner step, so
these Hessian-vector products go through the inner gradient step (third-order autograd).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def set_flat_(params: Sequence[torch.Tensor], vector: torch.Tensor) -> None:
    """Write ``vector`` into ``params`` in place (no autograd)."""
    offset = 0
    with torch.no_grad():
        for p in params:
            n = p.numel()
            p.copy_(vector[offset : offset + n].view_as(p))
            offset += n


def conjugate_gradient(
    avp: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    iters: int = 10,
    residual_tol: float = 1e-10,
) -> torch.Tensor:
    """Approximately solve ``A x = b`` for symmetric positive-definite A given ``v ↦ Av``."""
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = r @ r
    for _ in range(iters):
        if rr < residual_tol:
            break
        ap = avp(p)
        alpha = rr / (p @ ap)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def trpo_step(
    params: Sequence[torch.Tensor],
    evaluate: Callable[[bool], tuple[torch.Tensor, torch.Tensor]],
    max_kl: float = 0.01,
    cg_iters: int = 10,
    damping: float = 1e-5,
    backtrack_ratio: float = 0.8,
    max_backtracks: int = 15,
) -> dict[str, float]:
    """One TRPO update of ``params`` (in place).

    Args:
        params: the tensors being optimised (leaf tensors with ``requires_grad``).
        evaluate: ``evaluate(differentiable) -> (loss, mean_kl)`` at the current ``params``;
            with ``differentiable=False`` it may skip building the graph to ``params``.
        max_kl: the trust region δ.

    Returns the loss before/after, the KL after and whether a step was accepted (if no
    backtracked step improves the loss within the KL bound, ``params`` are left unchanged).
    """
    params = list(params)
    loss_before, kl = evaluate(True)
    grad = flat(torch.autograd.grad(loss_before, params, retain_graph=True))
    grad_kl = flat(torch.autograd.grad(kl, params, create_graph=True))

    def hvp(v: torch.Tensor) -> torch.Tensor:
        hv = flat(torch.autograd.grad(grad_kl @ v, params, retain_graph=True))
        return hv + damping * v

    direction = conjugate_gradient(hvp, -grad, iters=cg_iters)
    shs = direction @ hvp(direction)
    scale = torch.sqrt(2.0 * max_kl / (shs.clamp(min=0.0) + 1e-12))
    full_step = (scale * direction).detach()
    old = flat([p.detach() for p in params]).clone()
    loss0 = float(loss_before.detach())
    accepted, loss_after, kl_after = False, loss0, 0.0
    for i in range(max_backtracks):
        set_flat_(params, old + (backtrack_ratio**i) * full_step)
        new_loss, new_kl = (float(x.detach()) for x in evaluate(False))
        if new_loss < loss0 and new_kl <= max_kl:
            accepted, loss_after, kl_after = True, new_loss, new_kl
            break
    if not accepted:
        set_flat_(params, old)
    return {
        "loss_before": loss0,
        "loss_after": loss_after,
        "kl_after": kl_after,
        "accepted": float(accepted),
        "grad_norm": float(grad.norm()),
    }
