"""The math of the gradient-based baselines, checked against independent computations.

* the second-order meta-gradient through an inner step equals central finite differences;
* LVC: same first derivative as the policy gradient, Hessian = MAML's + the score outer product;
  away from the sampling parameters it weights by π_θ/π_θold (value and gradient by hand);
* a TRPO step through the inner step keeps its KL bound and improves the surrogate;
* E-MAML's term raises the likelihood of pre-update actions of tasks that adapted well;
* GAE, discounted returns and the linear feature baseline against hand-computed values.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from baselines.common.advantages import (  # noqa: E402
    LinearFeatureBaseline,
    baseline_features,
    discounted_returns,
    gae,
    normalize_per_task,
)
from baselines.common.objectives import (  # noqa: E402
    adapt,
    emaml_exploration_term,
    emaml_task_weights,
    inner_objective,
    masked_mean,
    ratio_surrogate,
)
from baselines.common.policies import (  # noqa: E402
    CategoricalMLPPolicy,
    GaussianMLPPolicy,
    expand_params,
)
from baselines.common.trpo import trpo_step  # noqa: E402

K, N = 2, 7  # tasks, samples per task


def _policy(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "categorical":
        pol = CategoricalMLPPolicy(3, 3, hidden_sizes=(4,))
    else:
        pol = GaussianMLPPolicy(3, 2, hidden_sizes=(4,), init_std=0.7)
    return pol.double()


def _batch(pol, seed: int, with_old: bool = False) -> dict:
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(K, N, 3, generator=g, dtype=torch.float64)
    if pol.discrete:
        actions = torch.randint(0, 3, (K, N), generator=g)
    else:
        actions = torch.randn(K, N, 2, generator=g, dtype=torch.float64)
    mask = torch.ones(K, N, dtype=torch.float64)
    mask[1, -2:] = 0.0  # padding must be ignored
    adv = torch.randn(K, N, generator=g, dtype=torch.float64)
    return {"obs": obs, "actions": actions, "mask": mask, "advantages": adv}


def _flat_params(pol):
    return torch.cat([p.detach().reshape(-1) for p in pol.parameters()])


def _set_flat(pol, vec):
    off = 0
    with torch.no_grad():
        for p in pol.parameters():
            p.copy_(vec[off : off + p.numel()].view_as(p))
            off += p.numel()


def _meta_objective(pol, pre, post, old_logp, kind="log_likelihood", create_graph=True):
    params = adapt(kind, pol, pol.parameters_dict(), [pre], lr=0.5, create_graph=create_graph)
    info = pol.dist_info(params[-1], post["obs"])
    logp = pol.log_prob(info, post["actions"])
    return ratio_surrogate(logp, old_logp, post["advantages"], post["mask"]).mean()


@pytest.mark.parametrize("policy_kind", ["categorical", "gaussian"])
def test_meta_gradient_through_inner_step_matches_finite_differences(policy_kind):
    """MAML's inner step is a plain function of θ on fixed data, so autograd through it must
    equal finite differences. (LVC/DiCE deliberately change the derivatives — stop-gradient
    tricks — so they are checked against the analytic Hessian terms below instead.)"""
    inner = "log_likelihood"
    pol = _policy(policy_kind)
    pre, post = _batch(pol, 1), _batch(pol, 2)
    old_logp = (
        torch.randn(K, N, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 0.1
    )
    objective = _meta_objective(pol, pre, post, old_logp, inner)
    grad = torch.cat(
        [g.reshape(-1) for g in torch.autograd.grad(objective, list(pol.parameters()))]
    )
    theta0 = _flat_params(pol).clone()
    eps = 1e-6
    fd = torch.zeros_like(theta0)
    for i in range(theta0.numel()):
        values = []
        for sign in (1.0, -1.0):
            t = theta0.clone()
            t[i] += sign * eps
            _set_flat(pol, t)
            values.append(
                float(_meta_objective(pol, pre, post, old_logp, inner, create_graph=False).detach())
            )
        fd[i] = (values[0] - values[1]) / (2 * eps)
    _set_flat(pol, theta0)
    torch.testing.assert_close(grad, fd, rtol=1e-5, atol=1e-7)
    # the first-order approximation (no differentiation through the inner step) is different:
    params = adapt(inner, pol, pol.parameters_dict(), [pre], lr=0.5, create_graph=False)
    info = pol.dist_info(params[-1], post["obs"])
    first = ratio_surrogate(
        pol.log_prob(info, post["actions"]), old_logp, post["advantages"], post["mask"]
    ).mean()
    names = list(params[-1])
    fo_grads = torch.autograd.grad(first, [params[-1][n] for n in names])
    first_order = torch.cat([g.sum(0).reshape(-1) for g in fo_grads])  # FOMAML's estimate
    assert not torch.allclose(first_order, grad, atol=1e-6)


def _task_hessian(pol, data, kind):
    """Hessian of task 0's inner objective w.r.t. the flat parameters."""
    theta0 = _flat_params(pol)
    shapes = [(n, p.shape) for n, p in pol.named_parameters()]

    def f(flat):
        params, off = {}, 0
        for n, s in shapes:
            k = int(np.prod(s))
            params[n] = flat[off : off + k].view(s).unsqueeze(0).expand(K, *s)
            off += k
        return inner_objective(kind, pol, params, data)[0]

    grad = torch.autograd.functional.jacobian(f, theta0)
    hess = torch.autograd.functional.hessian(f, theta0)
    return grad, hess, f


@pytest.mark.parametrize("policy_kind", ["categorical", "gaussian"])
def test_lvc_gradient_equals_policy_gradient_and_hessian_adds_score_outer_product(policy_kind):
    pol = _policy(policy_kind)
    data = _batch(pol, 4)
    g_ll, h_ll, _ = _task_hessian(pol, data, "log_likelihood")
    g_lvc, h_lvc, _ = _task_hessian(pol, data, "lvc")
    # VPG gradient computed independently: mean over real steps of A · ∇log π (per-sample loop)
    theta = pol.parameters_dict()
    scores = []
    for j in range(N):
        info = pol.dist_info(theta, data["obs"][0, j])
        lp = pol.log_prob(info, data["actions"][0, j])
        scores.append(
            torch.cat([g.reshape(-1) for g in torch.autograd.grad(lp, list(theta.values()))])
        )
    scores = torch.stack(scores)
    w = data["mask"][0] / data["mask"][0].sum()
    vpg = (w * data["advantages"][0]) @ scores
    torch.testing.assert_close(g_lvc, vpg)
    torch.testing.assert_close(g_ll, vpg)
    outer = torch.einsum("j,ja,jb->ab", w * data["advantages"][0], scores, scores)
    torch.testing.assert_close(h_lvc - h_ll, outer, rtol=1e-6, atol=1e-9)
    assert outer.abs().max() > 1e-3  # the term MAML's surrogate drops is not negligible here


def test_trpo_step_through_inner_step_respects_kl_and_improves_surrogate():
    pol = _policy("gaussian")
    pre, post = _batch(pol, 5), _batch(pol, 6)
    with torch.no_grad():
        params = adapt("log_likelihood", pol, pol.parameters_dict(), [pre], 0.5, create_graph=False)
        old_info = {k: v.detach() for k, v in pol.dist_info(params[-1], post["obs"]).items()}
    old_logp = pol.log_prob(old_info, post["actions"]).detach()

    def evaluate(differentiable):
        p = adapt(
            "log_likelihood", pol, pol.parameters_dict(), [pre], 0.5, create_graph=differentiable
        )
        with torch.set_grad_enabled(differentiable):
            info = pol.dist_info(p[-1], post["obs"])
            obj = ratio_surrogate(
                pol.log_prob(info, post["actions"]), old_logp, post["advantages"], post["mask"]
            ).mean()
            kl = masked_mean(pol.kl(old_info, info), post["mask"]).mean()
        return -obj, kl

    loss0, kl0 = evaluate(False)
    assert float(kl0) == pytest.approx(0.0, abs=1e-12)
    before = _flat_params(pol).clone()
    stats = trpo_step(list(pol.parameters()), evaluate, max_kl=0.01)
    loss1, kl1 = evaluate(False)
    assert stats["accepted"] == 1.0
    assert float(loss1) < float(loss0)
    assert 0 < float(kl1) <= 0.01
    # the step is not tiny: it goes a good way towards the trust-region boundary
    assert float(kl1) > 0.01 * 0.8**15
    assert not torch.equal(before, _flat_params(pol))


def test_trpo_leaves_params_unchanged_when_no_step_improves():
    pol = _policy("categorical")
    before = _flat_params(pol).clone()
    calls = {"n": 0}

    def evaluate(differentiable):
        calls["n"] += 1
        # loss that increases along every direction TRPO may take: ‖θ − θ0‖² − tiny linear term
        flat = torch.cat([p.reshape(-1) for p in pol.parameters()])
        loss = 1e3 * ((flat - before) ** 2).sum() + 1e-9 * flat.sum()
        return loss, ((flat - before) ** 2).sum()

    stats = trpo_step(list(pol.parameters()), evaluate, max_kl=0.01, max_backtracks=3)
    assert stats["accepted"] == 0.0
    assert torch.equal(before, _flat_params(pol))


def test_emaml_term_raises_likelihood_of_pre_update_actions_that_adapted_well():
    pol = _policy("categorical")
    pre = _batch(pol, 7)
    post_returns = torch.tensor([5.0, -1.0], dtype=torch.float64)  # task 0 adapted better

    def mean_logp():
        info = pol.dist_info(pol.parameters_dict(), pre["obs"])
        return masked_mean(pol.log_prob(info, pre["actions"]), pre["mask"])

    before = mean_logp().detach()
    info = pol.dist_info(pol.parameters_dict(), pre["obs"])
    weights = emaml_task_weights(torch.zeros(K, N), pre["mask"], post_returns, "task_return")
    term = emaml_exploration_term(pol.log_prob(info, pre["actions"]), pre["mask"], weights)
    grads = torch.autograd.grad(term, list(pol.parameters()))
    with torch.no_grad():
        for p, g in zip(pol.parameters(), grads):
            p.add_(0.05 * g)
    after = mean_logp().detach()
    assert after[0] > before[0]
    assert after[1] < before[1]
    # with equal post-update returns the term carries no signal
    info = pol.dist_info(pol.parameters_dict(), pre["obs"])
    equal = emaml_task_weights(torch.zeros(K, N), pre["mask"], torch.ones(2), "task_return")
    flat = emaml_exploration_term(pol.log_prob(info, pre["actions"]), pre["mask"], equal)
    assert all(float(g.abs().max()) == 0 for g in torch.autograd.grad(flat, list(pol.parameters())))


def test_emaml_promp_weights_and_term_gradient_match_an_independent_computation():
    """ProMP's E-MAML, recomputed as its code does it: the real post-update step rewards of all
    tasks concatenated, standardised with np.mean/np.std, averaged per task (adj_avg_rewards);
    the term's gradient is mean_k w_k · (1/n_k) Σ_t ∇ log π(a_t|s_t), summed step by step."""
    pol = _policy("gaussian")
    pre = _batch(pol, 11)
    g = torch.Generator().manual_seed(3)
    post_rewards = torch.randn(K, N, generator=g, dtype=torch.float64) * 2 + 1
    post_mask = torch.ones(K, N, dtype=torch.float64)
    post_mask[0, -3:] = 0.0  # padded steps must not count
    post_rewards[0, -3:] = 100.0  # (and their values must not matter)
    weights = emaml_task_weights(post_rewards, post_mask, torch.zeros(K), "promp")

    real = [post_rewards[k][post_mask[k] > 0].numpy() for k in range(K)]
    everything = np.concatenate(real)
    mu, sd = everything.mean(), everything.std()
    expected = np.array([((r - mu) / (sd + 1e-8)).mean() for r in real])
    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-12)
    assert np.all(np.abs(expected) < 1)  # per-step standardisation: small task weights

    info = pol.dist_info(pol.parameters_dict(), pre["obs"])
    term = emaml_exploration_term(pol.log_prob(info, pre["actions"]), pre["mask"], weights)
    grads = torch.autograd.grad(term, list(pol.parameters()))
    reference = [torch.zeros_like(p) for p in pol.parameters()]
    for k in range(K):
        n_k = int(pre["mask"][k].sum())
        for t in range(n_k):
            one = pol.dist_info(pol.parameters_dict(), pre["obs"][k, t][None])
            logp = pol.log_prob(one, pre["actions"][k, t][None]).sum()
            for acc, gr in zip(reference, torch.autograd.grad(logp, list(pol.parameters()))):
                acc += float(expected[k]) / n_k / K * gr
    for got, want in zip(grads, reference):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)  # float64, other order


def test_emaml_task_return_weights_are_standardised_mean_returns_and_bad_names_fail():
    returns = torch.tensor([3.0, 1.0, -1.0])
    w = emaml_task_weights(torch.zeros(3, 2), torch.ones(3, 2), returns, "task_return")
    r = returns.numpy()
    np.testing.assert_allclose(w.numpy(), (r - r.mean()) / (r.std() + 1e-8), rtol=1e-6)
    with pytest.raises(ValueError, match="exploration_weighting must be one of"):
        emaml_task_weights(torch.zeros(3, 2), torch.ones(3, 2), returns, "stadie-code")


def test_emaml_authors_weights_are_raw_mean_advantages_and_vanish_with_the_fitted_baseline():
    """The authors' code (geyang/e-maml, cmaml_loss) weights task k by the plain mean over its
    post-update steps of reward-to-go minus the linear baseline. Recomputed here from
    discounted_returns and LinearFeatureBaseline; and, a least-squares property, residuals of a
    fit with a constant feature average to ~0 per task, so these weights are ~0 (E-MAML ~ MAML)
    while ProMP's are not."""
    from baselines.common.meta_learning import process_batch
    from baselines.common.sampler import EpisodeBatch

    rng = np.random.default_rng(5)
    k, e, t = 3, 4, 6
    mask = np.ones((k, e, t))
    mask[0, 1, 3:] = 0.0  # an episode that ended early
    mask[2, :, 5:] = 0.0
    batch = EpisodeBatch(obs=rng.normal(size=(k, e, t, 2)), actions=rng.integers(0, 4, size=(k, e, t)),
                         rewards=rng.normal(1.0, 2.0, size=(k, e, t)) * mask, mask=mask)
    data, episode_returns = process_batch(batch, 0.9, 1.0, True, pack=True, residuals=True)
    returns = discounted_returns(batch.rewards, mask, 0.9)
    values = LinearFeatureBaseline().fit_predict(batch.obs, returns, mask)
    expected = [((returns[i] - values[i]) * mask[i]).sum() / mask[i].sum() for i in range(k)]
    weights = emaml_task_weights(data["rewards"], data["mask"], torch.as_tensor(episode_returns.mean(-1)),
                                 "authors", data["baseline_residuals"])
    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-5, atol=1e-6)  # float32 data
    scale = float(np.abs(returns[mask > 0]).mean())
    assert np.all(np.abs(weights.numpy()) < 1e-3 * scale)  # ~0: the fit has an intercept
    promp = emaml_task_weights(data["rewards"], data["mask"], torch.zeros(k), "promp")
    assert float(promp.abs().max()) > 1e-2
    with pytest.raises(ValueError, match="needs post_residuals"):
        emaml_task_weights(data["rewards"], data["mask"], torch.zeros(k), "authors")


def test_batched_inner_step_equals_per_task_inner_steps():
    pol = _policy("gaussian")
    data = _batch(pol, 8)
    batched = adapt("lvc", pol, pol.parameters_dict(), [data], 0.3, create_graph=False)[-1]
    for k in range(K):
        one = {key: v[k : k + 1] for key, v in data.items()}
        single = adapt("lvc", pol, pol.parameters_dict(), [one], 0.3, create_graph=False)[-1]
        for name in batched:
            torch.testing.assert_close(batched[name][k], single[name][0])
    assert expand_params(pol.parameters_dict(), 3)["log_std"].shape == (3, 2)


# -- returns, GAE, linear baseline ------------------------------------------------------------


def test_discounted_returns_and_gae_by_hand():
    r = np.array([[1.0, 2.0, 3.0, 0.0]])
    m = np.array([[1.0, 1.0, 1.0, 0.0]])  # a 3-step episode, padded to 4
    g = 0.5
    ret = discounted_returns(r, m, g)
    np.testing.assert_allclose(ret, [[1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3, 0]])
    v = np.array([[0.5, 1.0, -1.0, 7.0]])  # the padded value must be ignored
    lam = 0.8
    d2 = 3 - (-1.0)
    d1 = 2 + g * (-1.0) - 1.0
    d0 = 1 + g * 1.0 - 0.5
    expected = [d0 + g * lam * d1 + (g * lam) ** 2 * d2, d1 + g * lam * d2, d2, 0.0]
    np.testing.assert_allclose(gae(r, v, m, g, lam), [expected])
    # λ = 1: advantages are returns minus values
    np.testing.assert_allclose(gae(r, v, m, g, 1.0), (ret - v) * m)


def test_linear_baseline_features_and_fit_by_hand():
    obs = np.array([[[[2.0], [-20.0]]]])  # K=1, E=1, T=2, d=1
    feats = baseline_features(obs)
    np.testing.assert_allclose(
        feats[0, 0],
        [[2.0, 4.0, 0.0, 0.0, 0.0, 1.0], [-10.0, 100.0, 0.01, 1e-4, 1e-6, 1.0]],
    )
    # returns that are an exact linear function of the features are recovered
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(2, 4, 5, 3))
    coeffs = rng.normal(size=(2, 10))
    target = np.einsum("ketf,kf->ket", baseline_features(obs), coeffs)
    mask = np.ones(target.shape)
    mask[:, :, -1] = 0.0
    base = LinearFeatureBaseline(reg_coeff=1e-10)
    base.fit(obs, target * mask + 1e3 * (1 - mask), mask)  # garbage on padding is ignored
    pred = base.predict(obs)
    np.testing.assert_allclose(pred * mask, target * mask, atol=1e-5)
    # ridge solution equals the closed form (XᵀX + cI)⁻¹Xᵀy on the masked rows
    base = LinearFeatureBaseline(reg_coeff=0.1)
    base.fit(obs, target, mask)
    x = baseline_features(obs)[0][mask[0] == 1]
    y = target[0][mask[0] == 1]
    closed = np.linalg.solve(x.T @ x + 0.1 * np.eye(10), x.T @ y)
    np.testing.assert_allclose(base.coeffs[0], closed, rtol=1e-8)


def test_per_task_normalisation():
    adv = np.array([[1.0, 3.0, 99.0], [0.0, 2.0, 4.0]])
    m = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    out = normalize_per_task(adv, m)
    np.testing.assert_allclose(out[0], [-1.0, 1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(out[1], np.array([-1.0, 0.0, 1.0]) * np.sqrt(1.5), atol=1e-6)


def test_packing_real_steps_keeps_objectives_and_drops_padding():
    from baselines.common.meta_learning import pack_steps

    pol = _policy("gaussian")
    data = _batch(pol, 9)
    data["mask"][0, 1:3] = 0.0  # holes inside the layout, not only at the end
    data["rewards"] = torch.randn(K, N, dtype=torch.float64)
    packed = pack_steps(data)
    assert packed["obs"].shape[1] == int(data["mask"].sum(1).max())
    for kind in ("log_likelihood", "lvc"):
        torch.testing.assert_close(
            inner_objective(kind, pol, expand_params(pol.parameters_dict(), K), data),
            inner_objective(kind, pol, expand_params(pol.parameters_dict(), K), packed),
        )
    a = adapt("lvc", pol, pol.parameters_dict(), [data], 0.2, create_graph=False)[-1]
    b = adapt("lvc", pol, pol.parameters_dict(), [packed], 0.2, create_graph=False)[-1]
    for name in a:
        torch.testing.assert_close(a[name], b[name])


@pytest.mark.parametrize("policy_kind", ["categorical", "gaussian"])
def test_batched_forward_equals_vmap_of_functional_call(policy_kind):
    from torch.func import vmap

    pol = _policy(policy_kind)
    theta = pol.parameters_dict()
    per_task = {
        n: p.detach().unsqueeze(0) + 0.1 * torch.randn(K, *p.shape, dtype=p.dtype)
        for n, p in theta.items()
    }
    obs = torch.randn(K, N, 3, dtype=torch.float64)
    fast = pol.dist_info(per_task, obs)
    ref = vmap(pol._raw, in_dims=(0, 0))(per_task, obs)
    with torch.no_grad():
        shared = pol.dist_info(expand_params(theta, K), obs)
    ref_shared = {k: torch.stack([pol._raw(theta, obs[i])[k] for i in range(K)]) for k in ref}
    for key in ref:
        torch.testing.assert_close(fast[key], ref[key])
        torch.testing.assert_close(shared[key], ref_shared[key])


def test_categorical_sampling_follows_the_probabilities():
    pol = CategoricalMLPPolicy(1, 3, hidden_sizes=(2,))
    logits = torch.log(torch.tensor([[0.2, 0.5, 0.3]])).expand(200_000, 3)
    draws = pol.sample({"logits": logits}, torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=3).double() / draws.numel()
    torch.testing.assert_close(
        freq, torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64), atol=5e-3, rtol=0
    )


def test_lvc_weights_by_the_ratio_to_the_sampling_distribution():
    """ProMP's LVC ``mean(π_θ/π_θold · A)`` at θ ≠ θold: value and gradient (w.r.t. the output
    bias b and log σ) against the Gaussian written out in numpy:
    ``∂r/∂b = r (a − μ)/σ²``, ``∂r/∂log σ = r ((a − μ)²/σ² − 1)``."""
    pol = _policy("gaussian")
    data = _batch(pol, 11)
    theta = pol.parameters_dict()
    old = {n: p.detach() for n, p in expand_params(theta, K).items()}
    with torch.no_grad():  # the sampling (behaviour) policy's log-probabilities
        data["sampling_logp"] = pol.log_prob(pol.dist_info(old, data["obs"]), data["actions"])
    g = torch.Generator().manual_seed(3)
    moved = {n: (p + 0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype)).requires_grad_(True)
             for n, p in old.items()}  # θ after some outer steps: θ ≠ θold
    value = inner_objective("lvc", pol, moved, data)
    bias, log_std = "net.2.bias", "log_std"
    grads = torch.autograd.grad(value.sum(), [moved[bias], moved[log_std]])

    def gaussian_logp(mean, log_sigma, a):
        return (-0.5 * ((a - mean) / np.exp(log_sigma)) ** 2 - log_sigma
                - 0.5 * np.log(2 * np.pi)).sum(-1)

    with torch.no_grad():
        mean_new = pol.dist_info(moved, data["obs"])["mean"].numpy()
        mean_old = pol.dist_info(old, data["obs"])["mean"].numpy()
    a = data["actions"].numpy()
    ls_new, ls_old = moved[log_std].detach().numpy(), old[log_std].numpy()
    ratio = np.exp(gaussian_logp(mean_new, ls_new[:, None], a)
                   - gaussian_logp(mean_old, ls_old[:, None], a))  # (K, N)
    assert np.abs(ratio - 1).max() > 0.1  # far from the sampling point
    w = data["mask"].numpy() * data["advantages"].numpy()
    w = w / data["mask"].numpy().sum(-1, keepdims=True)  # masked mean over each task's steps
    np.testing.assert_allclose(value.detach().numpy(), (w * ratio).sum(-1), rtol=1e-10)
    var = np.exp(2 * ls_new)[:, None]
    d_bias = ((w * ratio)[..., None] * (a - mean_new) / var).sum(1)
    d_log_std = ((w * ratio)[..., None] * ((a - mean_new) ** 2 / var - 1)).sum(1)
    np.testing.assert_allclose(grads[0].numpy(), d_bias, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grads[1].numpy(), d_log_std, rtol=1e-9, atol=1e-12)
    # the former π/⊥π objective lacks the ratio: a different gradient away from θold
    stale = {k: v for k, v in data.items() if k != "sampling_logp"}
    stale_grad = torch.autograd.grad(inner_objective("lvc", pol, moved, stale).sum(), moved[bias])[0]
    assert not torch.allclose(stale_grad, grads[0], rtol=1e-3)
    # at θ = θold the two agree: the ratio is 1 there
    at_old = {n: p.clone().requires_grad_(True) for n, p in old.items()}
    g_new = torch.autograd.grad(inner_objective("lvc", pol, at_old, data).sum(), at_old[bias])[0]
    g_stale = torch.autograd.grad(inner_objective("lvc", pol, at_old, stale).sum(), at_old[bias])[0]
    torch.testing.assert_close(g_new, g_stale, rtol=1e-10, atol=1e-12)


def test_promp_inner_steps_use_the_sampling_policys_log_probabilities():
    """In ProMP's outer update the pre-update batches carry log π_θold of their actions."""
    from baselines.promp import Config, ProMP

    cfg = Config(env_id="KrazyGym/Navigation2D-v0", num_tasks=2, episodes_per_task=2,
                 max_episode_steps=6, hidden_sizes=(8,), progress=False, ppo_steps=2)
    learner = ProMP(cfg)
    pre, post, _ = learner.collect()
    theta_old = {n: p.detach().clone() for n, p in learner.policy.parameters_dict().items()}
    learner.outer_update(pre, post)
    with torch.no_grad():
        info = learner.policy.dist_info(expand_params(theta_old, 2), pre[0]["obs"])
        want = learner.policy.log_prob(info, pre[0]["actions"])
    torch.testing.assert_close(pre[0]["sampling_logp"], want)
    learner.close()
