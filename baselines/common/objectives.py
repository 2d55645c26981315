"""The surrogate objectives of MAML, E-MAML, ProMP and DiCE, and the batched inner step.

Data for K tasks is a dict of tensors shaped ``(K, N, ...)`` (N = episodes × steps of a task,
flattened; ``mask`` marks real steps). Every surrogate returns one value *per task* (shape
``(K,)``) to be **maximised**; the mean over tasks is the meta-objective.

Inner objectives (what the adaptation step ascends) — all have the same value gradient at the
sampling parameters, the policy gradient; they differ in their *Hessian*, which the
meta-gradient sees (ProMP, Rothfuss et al. 2019, Sec. 4):

* ``"log_likelihood"`` (MAML): ``mean(log π_θ(a|s) · A)``. Its Hessian ``mean(∇² log π · A)``
  drops the score-function outer-product term ``mean(∇log π ∇log πᵀ · A)``.
* ``"lvc"`` (ProMP's low-variance curvature): ``mean(π_θ(a|s) / π_θold(a|s) · A)`` with
  π_θold the distribution the batch was sampled from (``data["sampling_logp"]``, its
  log-probabilities, a constant), as ``pro_mp.py`` of jonasrothfuss/ProMP. At θ = θold its
  gradient is the policy gradient and its Hessian ``mean((∇² log π + ∇log π ∇log πᵀ)·A)``;
  at the later outer steps of a batch (θ ≠ θold) the ratio weights each step's score. A batch
  without ``sampling_logp`` uses ``⊥π_θ`` (⊥ = stop gradient): the same value and derivatives
  at the sampling parameters, which is where the harness agent adapts.
* ``"dice"``: ``mean(exp(S_t − ⊥S_t) · w_t)`` with ``S_t`` the cumulative log-likelihood of the
  episode up to step t and ``w_t = γ^t (r_t + γ b_{t+1} − b_t)`` the baseline-adjusted
  discounted rewards: unbiased gradients and Hessians of every order, high variance.

The inner step is batched: θ is expanded to K task copies (views, so gradients reach θ), the
per-task objectives are summed and differentiated with respect to the copies, giving each
task's own gradient in one autograd call.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from baselines.common.policies import MLPPolicy, Params, expand_params

INNER_OBJECTIVES = ("log_likelihood", "lvc", "dice")
Batch = dict[str, torch.Tensor]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the last dim counting only ``mask == 1`` entries; shape ``x.shape[:-1]``."""
    return (x * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)


def log_likelihood_surrogate(
    logp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """MAML's inner surrogate ``mean(log π · A)`` per task."""
    return masked_mean(logp * adv, mask)


def lvc_surrogate(
    logp: torch.Tensor,
    adv: torch.Tensor,
    mask: torch.Tensor,
    sampling_logp: torch.Tensor | None = None,
) -> torch.Tensor:
    """ProMP's LVC surrogate ``mean(π_θ/π_θold · A)`` per task (``sampling_logp`` = log π_θold
    of the sampled actions; None: ``⊥π_θ``, see the module docstring)."""
    old = logp.detach() if sampling_logp is None else sampling_logp.detach()
    return masked_mean(torch.exp(logp - old) * adv, mask)


def dice_surrogate(
    logp: torch.Tensor, weights: torch.Tensor, mask: torch.Tensor, horizon: int
) -> torch.Tensor:
    """DiCE surrogate per task; ``logp``/``weights``/``mask`` are ``(K, E*T)`` with ``T = horizon``."""
    k = logp.shape[0]
    cum = torch.cumsum((logp * mask).reshape(k, -1, horizon), dim=-1).reshape(k, -1)
    return masked_mean(torch.exp(cum - cum.detach()) * weights, mask)


def ratio_surrogate(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    adv: torch.Tensor,
    mask: torch.Tensor,
    clip: float | None = None,
) -> torch.Tensor:
    """``mean(r · A)`` with ``r = π/π_old``, or PPO's ``mean(min(r·A, clip(r, 1±ε)·A))``."""
    ratio = torch.exp(logp - old_logp)
    obj = ratio * adv
    if clip is not None:
        obj = torch.minimum(obj, torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * adv)
    return masked_mean(obj, mask)


def inner_objective(kind: str, policy: MLPPolicy, params: Params, data: Batch) -> torch.Tensor:
    """The inner objective ``kind`` (see module doc) of task-batched ``params`` on ``data``."""
    info = policy.dist_info(params, data["obs"])
    logp = policy.log_prob(info, data["actions"])
    if kind == "log_likelihood":
        return log_likelihood_surrogate(logp, data["advantages"], data["mask"])
    if kind == "lvc":
        return lvc_surrogate(logp, data["advantages"], data["mask"], data.get("sampling_logp"))
    if kind == "dice":
        return dice_surrogate(logp, data["dice_weights"], data["mask"], int(data["horizon"]))
    raise ValueError(f"inner objective must be one of {INNER_OBJECTIVES}, got {kind!r}")


def inner_step(
    kind: str,
    policy: MLPPolicy,
    params: Params,
    data: Batch,
    lr: float,
    create_graph: bool,
) -> Params:
    """One gradient-ascent step per task: ``θ'_k = θ_k + lr · ∇_{θ_k} J_k(θ_k)``.

    ``params`` must be task-batched (leading dim K). With ``create_graph=True`` the result is
    differentiable with respect to ``params`` (second-order meta-gradient).
    """
    names = list(params)
    with torch.enable_grad():
        objective = inner_objective(kind, policy, params, data).sum()
        grads = torch.autograd.grad(
            objective, [params[n] for n in names], create_graph=create_graph
        )
    return {n: params[n] + lr * g for n, g in zip(names, grads)}


def adapt(
    kind: str,
    policy: MLPPolicy,
    theta: Params,
    batches: Sequence[Batch],
    lr: float,
    create_graph: bool = True,
) -> list[Params]:
    """Parameters before each inner step and after the last: ``[θ_0 (=θ per task), θ_1, ...]``.

    ``batches[i]`` is the data sampled with ``θ_i``. ``theta`` is the shared (un-batched)
    parameter dict; with ``create_graph=False`` it is detached first (for sampling/evaluation).
    """
    num_tasks = batches[0]["obs"].shape[0]
    with torch.enable_grad():
        params = expand_params(theta, num_tasks)
        if not create_graph:
            params = {n: p.detach().requires_grad_(True) for n, p in params.items()}
        out = [params]
        for data in batches:
            params = inner_step(kind, policy, params, data, lr, create_graph)
            if not create_graph:
                params = {n: p.detach().requires_grad_(True) for n, p in params.items()}
            out.append(params)
    return out


#: how E-MAML weights each task's pre-update log-likelihood (:func:`emaml_task_weights`)
EXPLORATION_WEIGHTINGS = ("promp", "task_return", "authors")


def emaml_task_weights(
    post_rewards: torch.Tensor,
    post_mask: torch.Tensor,
    post_returns: torch.Tensor,
    weighting: str = "promp",
    post_residuals: torch.Tensor | None = None,
) -> torch.Tensor:
    """E-MAML's per-task weights ``w_k`` of the exploration term, shape ``(K,)`` (no gradient).

    * ``"promp"`` (default): as ProMP's E-MAML computes them (``meta_policy_search``:
      ``MetaSampleProcessor`` makes ``adj_avg_rewards``, ``TRPOMAML`` with ``exploration=True``
      averages them per task): every real post-update *step* reward is standardised over all
      steps of all tasks of the batch, ``(r − mean) / (std + 1e-8)``, and ``w_k`` is the mean of
      task k's standardised step rewards. Its scale is that of a per-step quantity: on
      KrazyWorld-Easy |w_k| ≈ 0.15–0.19.
    * ``"task_return"``: task k's mean post-update *episode* return, standardised over the
      tasks (the weight of E-MAML's Eq. as the paper states it, R(τ') per task). Its scale is
      that of a unit-variance variable, |w_k| ≈ 0.74–0.83 on KrazyWorld-Easy: about 4x ProMP's,
      so at the same λ the exploration gradient is as large as the MAML gradient. krazy_gym's
      E-MAML used this before (and called it ProMP's, wrongly).
    * ``"authors"``: as the paper's authors' code computes them (``geyang/e-maml``,
      ``e_maml_ge.py``, ``cmaml_loss``: the term is on only with ``run_mode="e-maml"``): task k's
      mean over its post-update steps of the *raw* advantage, discounted reward-to-go minus the
      linear baseline fitted on the same episodes, with no standardisation. A least-squares fit
      with a constant feature leaves residuals that average to 0 over the fitted steps, so
      with this baseline ``w_k`` ≈ 0 (up to the ridge term) and E-MAML trains as MAML does;
      the option is there to show exactly that. (Their code also averages the log-likelihood
      over every inner step's batch under a unit-std Gaussian and supports Box actions only;
      here the term keeps the first batch and the policy's own distribution.)

    ``post_rewards``/``post_mask``: ``(K, N)`` post-update step rewards and real-step mask;
    ``post_returns``: ``(K,)`` mean post-update episode return per task; ``post_residuals``:
    ``(K, N)`` reward-to-go minus baseline per step (``process_batch``'s
    ``baseline_residuals``), needed by ``"authors"`` only.
    """
    if weighting == "promp":
        mask = post_mask.detach()
        r = post_rewards.detach()
        n = mask.sum()
        mean = (r * mask).sum() / n
        std = torch.sqrt((((r - mean) * mask) ** 2).sum() / n)  # population std, as np.std
        return masked_mean((r - mean) / (std + 1e-8), mask)
    if weighting == "task_return":
        ret = post_returns.detach()
        return (ret - ret.mean()) / (ret.std(unbiased=False) + 1e-8)
    if weighting == "authors":
        if post_residuals is None:
            raise ValueError("exploration_weighting 'authors' needs post_residuals")
        return masked_mean(post_residuals.detach(), post_mask.detach())
    raise ValueError(f"exploration_weighting must be one of {EXPLORATION_WEIGHTINGS}, got {weighting!r}")


def emaml_exploration_term(
    pre_logp: torch.Tensor, pre_mask: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """E-MAML's exploration term (Stadie et al. 2018): ``mean_k w_k · mean_t log π_θ(a_t|s_t)``
    over the *pre-update* steps of task k, with ``w_k`` from :func:`emaml_task_weights`.

    Its gradient raises the likelihood of the pre-update (exploration) behaviour of tasks whose
    adaptation paid off, which plain MAML ignores because it treats the pre-update sampling
    distribution as fixed. E-MAML maximises ``J_MAML + λ · term``: λ (``exploration_weight``)
    scales this score-function gradient against the MAML gradient.
    """
    return (weights.detach() * masked_mean(pre_logp, pre_mask)).mean()


def masked_entropy(policy: MLPPolicy, params: Params, data: Batch) -> torch.Tensor:
    """Mean entropy of ``policy`` with ``params`` over the real steps of ``data`` (all tasks):
    the pre-update policy's exploration, logged and optionally rewarded (``pre_entropy_coef``)."""
    info = policy.dist_info(params, data["obs"])
    entropy = policy.entropy(info)
    mask = data["mask"]
    return (entropy * mask).sum() / mask.sum().clamp(min=1.0)
