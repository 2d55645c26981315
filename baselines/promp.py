"""ProMP: Proximal Meta-Policy Search (Rothfuss et al. 2019), with LVC-VPG and DiCE options.

``objective="promp"`` (default):
* inner step on the **LVC** objective ``mean(π_θ/π_θold · A)`` (π_θold: the distribution the
  pre-update episodes were sampled from, as in jonasrothfuss/ProMP): at θold the same
  gradient as the policy gradient, but its Hessian keeps the score-function outer-product
  term, so the meta-gradient accounts for how the pre-update sampling distribution depends
  on θ, with low variance; over the later PPO steps the ratio reweights the steps;
* outer objective: PPO-clip on the post-update episodes,
  ``mean_k mean(min(r·A, clip(r, 1 − ε, 1 + ε)·A))`` with ``r = π_{θ'_k(θ)}/π_old`` and
  ε = ``clip_eps`` (0.3), minus a KL penalty on every inner step,
  ``η · mean_k KL(π_{θ_old,i} ‖ π_{θ_i})`` on the pre-update episodes (η = ``inner_kl_coeff``,
  fixed by default, or adapted towards ``target_inner_kl``);
* ``ppo_steps`` (5) Adam steps on the same batch, re-adapting θ'_k(θ) each time (no
  resampling).

``objective="lvc-vpg"``: LVC inner step, one Adam step on the unclipped ratio objective.
``objective="dice"``: DiCE inner and outer objectives (unbiased, high variance), one Adam step.

Train: ``python -m baselines.train --algo promp --env KrazyGym/Navigation2D-v0 --out runs/x``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from baselines.common.meta_learning import (
    GradientConfig,
    GradientMetaLearner,
    paper_settings,
    run_training,
)
from baselines.common.objectives import (
    Batch,
    adapt,
    inner_objective,
    masked_mean,
    ratio_surrogate,
)

ALGO_NAMES = ("promp", "lvc-vpg", "dice")
OBJECTIVES = ("promp", "lvc-vpg", "dice")


@dataclasses.dataclass
class Config(GradientConfig):
    """ProMP settings (shared ones: :class:`~baselines.common.meta_learning.GradientConfig`)."""

    #: ProMP's pre-update entropy bonus on Krazy World and mazes: with 0.1 its explore
    #: episodes on KrazyWorld-Easy stayed below random's (0.51 against 0.63), with 0.3 they
    #: are at random's (0.64) and the scores are as good or better (docs/results.md)
    KRAZY_WORLD_PRE_ENTROPY: ClassVar[float] = 0.3

    algo: str = "promp"
    #: "promp" (LVC + PPO-clip), "lvc-vpg" or "dice"
    objective: str = "promp"
    #: Adam steps per batch without resampling (ProMP: 5; lvc-vpg/dice use outer_steps)
    ppo_steps: int = 5
    #: Adam steps per batch for lvc-vpg and dice
    outer_steps: int = 1
    #: PPO clip range ε
    clip_eps: float = 0.3
    #: initial coefficient η of the inner-step KL penalty
    inner_kl_coeff: float = 5e-4
    #: adapt η (halve/double when the inner KL is below/above target /÷ 1.5)
    adaptive_inner_kl: bool = False
    #: target inner KL for the adaptive coefficient
    target_inner_kl: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"config objective must be one of {OBJECTIVES}, got {self.objective!r}"
            )
        if not 0 < self.clip_eps < 1:
            raise ValueError(f"config clip_eps must be in (0, 1), got {self.clip_eps}")
        if self.ppo_steps < 1 or self.outer_steps < 1:
            raise ValueError("config ppo_steps and outer_steps must be >= 1")

    @classmethod
    def paper(cls, env_id: str) -> Config:
        """ProMP's published settings (``pro-mp_run_mujoco.py``): ε 0.3, η 5e-4 fixed, lr 1e-3."""
        return cls(env_id=env_id, **paper_settings(env_id))


class ProMP(GradientMetaLearner):
    """ProMP learner (and its LVC-VPG / DiCE variants)."""

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self.inner_kind = "dice" if config.objective == "dice" else "lvc"
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.outer_lr)
        self.kl_coeffs = np.full(config.inner_steps, config.inner_kl_coeff, dtype=np.float64)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "inner_kl_coeffs": torch.as_tensor(self.kl_coeffs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.kl_coeffs = state["inner_kl_coeffs"].numpy().copy()

    def loss(
        self, pre: list[Batch], post: Batch, old_infos: list[dict[str, torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss to minimise, inner KL per step) at the current θ."""
        cfg = self.config
        theta = self.policy.parameters_dict()
        params = adapt(self.inner_kind, self.policy, theta, pre, cfg.inner_lr, create_graph=True)
        if cfg.objective == "dice":
            return -inner_objective("dice", self.policy, params[-1], post).mean(), torch.zeros(0)
        info = self.policy.dist_info(params[-1], post["obs"])
        logp = self.policy.log_prob(info, post["actions"])
        old_logp = self.policy.log_prob(old_infos[-1], post["actions"])
        clip = cfg.clip_eps if cfg.objective == "promp" else None
        objective = ratio_surrogate(logp, old_logp, post["advantages"], post["mask"], clip).mean()
        inner_kls = torch.stack(
            [
                masked_mean(
                    self.policy.kl(old, self.policy.dist_info(p, b["obs"])), b["mask"]
                ).mean()
                for old, p, b in zip(old_infos[:-1], params[:-1], pre)
            ]
        )
        objective = objective + self.entropy_bonus(pre, differentiable=True)
        if cfg.objective == "promp":
            coeffs = torch.as_tensor(self.kl_coeffs, dtype=inner_kls.dtype)
            return -objective + (coeffs * inner_kls).mean(), inner_kls
        return -objective, inner_kls

    def outer_update(self, pre: list[Batch], post: Batch) -> dict[str, float]:
        cfg = self.config
        old_infos = self.old_dist_infos(pre, post)
        if self.inner_kind == "lvc":  # π_θold of the LVC inner objective: the sampling policy
            for info, batch in zip(old_infos[:-1], pre):
                batch["sampling_logp"] = self.policy.log_prob(info, batch["actions"]).detach()
        steps = cfg.ppo_steps if cfg.objective == "promp" else cfg.outer_steps
        losses = []
        for _ in range(steps):
            loss, inner_kls = self.loss(pre, post, old_infos)
            losses.append(float(loss.detach()))
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        stats = {"loss_before": losses[0], "loss_last_step": losses[-1]}
        if cfg.objective != "dice":
            kls = inner_kls.detach().numpy()
            stats["inner_kl"] = float(kls.mean())
            if cfg.objective == "promp" and cfg.adaptive_inner_kl:
                low, high = kls < cfg.target_inner_kl / 1.5, kls > cfg.target_inner_kl * 1.5
                self.kl_coeffs = np.where(
                    low, self.kl_coeffs / 2, np.where(high, self.kl_coeffs * 2, self.kl_coeffs)
                )
            stats["inner_kl_coeff"] = float(self.kl_coeffs.mean())
        return stats


def train(config: Config, out_dir: Path, resume: bool = False) -> None:
    """Train ProMP / LVC-VPG / DiCE (see the module docstring and ``baselines.train``)."""
    run_training(ProMP(config), Path(out_dir), resume)


def load_agent(path: str | os.PathLike[str], **kwargs: Any) -> Any:
    """The trained policy as a harness ``MetaAgent`` (adapts with its own inner objective)."""
    from baselines.common.meta_agent import GradientMetaAgent

    return GradientMetaAgent.from_checkpoint(path, Config, **kwargs)
