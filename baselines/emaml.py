"""E-MAML (Stadie et al. 2018): MAML plus an exploration term for the pre-update policy.

MAML's meta-gradient treats the pre-update episodes as fixed data, so it never rewards the
pre-update policy for *collecting* episodes that make adaptation work. E-MAML adds the missing
score-function term: the log-likelihood of the pre-update actions, weighted by how well the
adapted policy then did on that task (post-update return, standardised over the meta-batch),
times ``exploration_weight`` λ:

    J_E-MAML(θ) = J_MAML(θ) + λ · mean_k w_k · mean_t log π_θ(a_t|s_t)   (pre-update steps of task k)

(:func:`baselines.common.objectives.emaml_exploration_term`). By default ``w_k`` is computed as
ProMP's E-MAML does (post-update step rewards standardised over the whole batch, then averaged
per task: ``exploration_weighting="promp"``); ``"task_return"`` standardises each task's mean
post-update episode return over the tasks instead, about 4x larger weights
(:func:`~baselines.common.objectives.emaml_task_weights`). λ = ``exploration_weight``.
The outer step is VPG (Adam) or TRPO, exactly as in :mod:`baselines.maml`.

Train: ``python -m baselines.train --algo emaml-trpo --env KrazyGym/KrazyWorld-Easy-v0 --out runs/x``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

from baselines import maml
from baselines.common.meta_learning import (  # noqa: F401  (re-exported)
    KRAZY_WORLD_ENTROPY_COEF,
    paper_settings,
    run_training,
)
from baselines.common.objectives import (
    EXPLORATION_WEIGHTINGS,
    Batch,
    emaml_exploration_term,
    emaml_task_weights,
)

ALGO_NAMES = ("emaml-vpg", "emaml-trpo")


@dataclasses.dataclass
class Config(maml.Config):
    """E-MAML settings: MAML's plus the exploration weight."""

    algo: str = "emaml-trpo"
    #: λ, weight of the exploration term in the meta-objective J_MAML + λ · term
    exploration_weight: float = 1.0
    #: how the tasks' exploration weights are computed: "promp" (ProMP's E-MAML: standardised
    #: post-update step rewards averaged per task), "task_return" (standardised mean
    #: post-update episode return per task; ~4x larger) or "authors" (the paper's code: the
    #: task's mean raw advantage against the linear baseline, ≈ 0, so ≈ MAML); see
    #: :func:`~baselines.common.objectives.emaml_task_weights`
    exploration_weighting: str = "promp"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.exploration_weighting not in EXPLORATION_WEIGHTINGS:
            raise ValueError(
                f"config exploration_weighting must be one of {EXPLORATION_WEIGHTINGS}, "
                f"got {self.exploration_weighting!r}"
            )

    @classmethod
    def paper(cls, env_id: str) -> Config:
        """E-MAML with the MAML paper settings of the family and λ = 1 (ProMP's E-MAML runs).

        On Krazy World and mazes the pre-update entropy bonus
        :data:`~baselines.common.meta_learning.KRAZY_WORLD_ENTROPY_COEF` (the family default of
        every gradient baseline) applies: without it E-MAML's pre-update entropy fell to 0.28
        nats in 300 iterations on KrazyWorld-Easy and it scored 0.634, below the random agent's
        0.656; with 0.1 it kept 1.28 nats and scored 0.748, normalised mean 0.039 [0.020, 0.059]
        against random's 0.000 [−0.020, 0.019] (one training seed, 5 harness seeds:
        docs/results.md, "Exploration collapse").
        """
        return cls(env_id=env_id, **paper_settings(env_id))


class EMAML(maml.MAML):
    """MAML with :func:`emaml_exploration_term` added to the meta-objective."""

    @property
    def post_residuals(self) -> bool:  # only the "authors" weights read them
        return self.config.exploration_weighting == "authors"

    def extra_objective(self, pre: list[Batch], post: Batch, differentiable: bool) -> torch.Tensor:
        theta = self.policy.parameters_dict()
        if not differentiable:
            theta = {n: p.detach() for n, p in theta.items()}
        data = pre[0]
        info = self.policy.dist_info(theta, data["obs"])
        logp = self.policy.log_prob(info, data["actions"])
        weights = emaml_task_weights(
            post["rewards"], post["mask"], post["episode_returns"].mean(-1),
            self.config.exploration_weighting, post.get("baseline_residuals"),
        )
        term = emaml_exploration_term(logp, data["mask"], weights)
        return self.config.exploration_weight * term + super().extra_objective(
            pre, post, differentiable)


def train(config: Config, out_dir: Path, resume: bool = False) -> None:
    """Train E-MAML (see the module docstring and ``baselines.train``'s CONTRACT)."""
    run_training(EMAML(config), Path(out_dir), resume)


def load_agent(path: str | os.PathLike[str], **kwargs: Any) -> Any:
    """The trained E-MAML policy as a harness ``MetaAgent``."""
    from baselines.common.meta_agent import GradientMetaAgent

    return GradientMetaAgent.from_checkpoint(path, Config, **kwargs)
