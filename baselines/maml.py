"""MAML for RL (Finn et al. 2017) with a VPG or TRPO outer step.

Inner step (per task k, on episodes sampled with θ):
    θ'_k = θ + α ∇_θ mean(log π_θ(a|s) · A)              (``inner_objective="log_likelihood"``)
Outer objective (on episodes sampled with θ'_k, old = the sampling policy):
    J(θ) = mean_k mean(π_{θ'_k(θ)}(a|s) / π_old(a|s) · A)
differentiated *through* the inner step (true second-order meta-gradient, via autograd with
``create_graph=True``). Outer step:

* ``outer="trpo"``: maximise J subject to mean_k KL(π_old ‖ π_{θ'_k(θ)}) ≤ ``max_kl``: conjugate
  gradient on Hessian-vector products of that KL (again through the inner step), then a
  backtracking line search (:func:`baselines.common.trpo.trpo_step`).
* ``outer="vpg"``: ``outer_steps`` Adam steps on −J with ``outer_lr``.

Train: ``python -m baselines.train --algo maml-trpo --env KrazyGym/Navigation2D-v0 --out runs/x``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

from baselines.common.meta_learning import (
    GradientConfig,
    GradientMetaLearner,
    paper_settings,
    run_training,
)
from baselines.common.objectives import INNER_OBJECTIVES, Batch, adapt, masked_mean, ratio_surrogate
from baselines.common.trpo import trpo_step

ALGO_NAMES = ("maml-vpg", "maml-trpo")


@dataclasses.dataclass
class Config(GradientConfig):
    """MAML settings (shared ones: :class:`~baselines.common.meta_learning.GradientConfig`)."""

    algo: str = "maml-trpo"
    #: outer optimiser: "trpo" or "vpg"
    outer: str = "trpo"
    #: inner objective: "log_likelihood" (MAML) or "lvc" (ProMP's low-variance curvature)
    inner_objective: str = "log_likelihood"
    #: TRPO trust region δ on the mean post-update KL
    max_kl: float = 0.01
    #: conjugate-gradient iterations
    cg_iters: int = 10
    #: damping added to the KL Hessian-vector products
    cg_damping: float = 1e-5
    #: line-search shrink factor and number of tries
    backtrack_ratio: float = 0.8
    max_backtracks: int = 15
    #: Adam steps per batch for outer="vpg"
    outer_steps: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.outer not in ("trpo", "vpg"):
            raise ValueError(f"config outer must be 'trpo' or 'vpg', got {self.outer!r}")
        if self.inner_objective not in INNER_OBJECTIVES:
            raise ValueError(
                f"config inner_objective must be one of {INNER_OBJECTIVES}, got {self.inner_objective!r}"
            )
        if not self.max_kl > 0:
            raise ValueError(f"config max_kl must be > 0, got {self.max_kl}")

    @classmethod
    def paper(cls, env_id: str) -> Config:
        """MAML-TRPO as run in the ProMP paper (δ = 0.01, log-likelihood inner step)."""
        return cls(env_id=env_id, **paper_settings(env_id))


class MAML(GradientMetaLearner):
    """MAML learner; :class:`baselines.emaml.EMAML` adds the exploration term."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.inner_kind = config.inner_objective
        if config.outer == "vpg":
            self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.outer_lr)

    def meta_objective(
        self, pre: list[Batch], post: Batch, old_info: dict[str, torch.Tensor], differentiable: bool
    ) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, torch.Tensor]]]:
        """(J, mean KL, parameters per inner step) at the current θ."""
        cfg = self.config
        theta = self.policy.parameters_dict()
        params = adapt(
            self.inner_kind, self.policy, theta, pre, cfg.inner_lr, create_graph=differentiable
        )
        with torch.set_grad_enabled(differentiable):
            info = self.policy.dist_info(params[-1], post["obs"])
            logp = self.policy.log_prob(info, post["actions"])
            old_logp = self.policy.log_prob(old_info, post["actions"])
            objective = ratio_surrogate(logp, old_logp, post["advantages"], post["mask"]).mean()
            kl = masked_mean(self.policy.kl(old_info, info), post["mask"]).mean()
        return objective, kl, params

    def extra_objective(self, pre: list[Batch], post: Batch, differentiable: bool) -> torch.Tensor:
        """Added to the meta-objective: the pre-update entropy bonus (0 unless
        ``pre_entropy_coef`` > 0); E-MAML adds its exploration term."""
        return self.entropy_bonus(pre, differentiable)

    def outer_update(self, pre: list[Batch], post: Batch) -> dict[str, float]:
        cfg = self.config
        old_info = self.old_dist_infos(pre, post)[-1]

        def evaluate(differentiable: bool) -> tuple[torch.Tensor, torch.Tensor]:
            objective, kl, _ = self.meta_objective(pre, post, old_info, differentiable)
            with torch.set_grad_enabled(differentiable):
                objective = objective + self.extra_objective(pre, post, differentiable)
            return -objective, kl

        if cfg.outer == "trpo":
            stats = trpo_step(
                list(self.policy.parameters()),
                evaluate,
                max_kl=cfg.max_kl,
                cg_iters=cfg.cg_iters,
                damping=cfg.cg_damping,
                backtrack_ratio=cfg.backtrack_ratio,
                max_backtracks=cfg.max_backtracks,
            )
            return {
                "loss_before": stats["loss_before"],
                "loss_after": stats["loss_after"],
                "kl": stats["kl_after"],
                "step_accepted": stats["accepted"],
            }
        assert self.optimizer is not None
        loss_before = None
        for _ in range(cfg.outer_steps):
            loss, _ = evaluate(True)
            loss_before = float(loss.detach()) if loss_before is None else loss_before
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        loss_after, kl = evaluate(False)
        return {"loss_before": float(loss_before), "loss_after": float(loss_after), "kl": float(kl)}


def train(config: Config, out_dir: Path, resume: bool = False) -> None:
    """Train MAML (see the module docstring and ``baselines.train``'s CONTRACT)."""
    run_training(MAML(config), Path(out_dir), resume)


def load_agent(path: str | os.PathLike[str], **kwargs: Any) -> Any:
    """The trained MAML policy as a harness ``MetaAgent`` (see ``baselines.common.meta_agent``)."""
    from baselines.common.meta_agent import GradientMetaAgent

    return GradientMetaAgent.from_checkpoint(path, Config, **kwargs)
