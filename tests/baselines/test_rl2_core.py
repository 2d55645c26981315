"""RL² core: GRU actor-critic, sequence-batched PPO vs a step-by-step reference, GAE over
trials, the E-RL² reward mask, and where the hidden state is reset (tiny synthetic data)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from baselines.common.recurrent import (  # noqa: E402
    RecurrentActorCritic,
    explore_reward_mask,
    gae_over_trials,
    ppo_loss,
    training_rewards,
)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models: OpenMP threads only add synchronisation (and stall on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiny(discrete: bool = True, seed: int = 3, separate_value: bool = False,
          input_embedding: int = 0) -> RecurrentActorCritic:
    model = RecurrentActorCritic(3, 2, discrete, hidden_size=4,
                                 generator=torch.Generator().manual_seed(seed),
                                 separate_value=separate_value, input_embedding=input_embedding)
    with torch.no_grad():  # biases non-zero so that every term of the GRU is exercised
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(7)))
    return model


def _manual_gru(model: RecurrentActorCritic, inputs: torch.Tensor, value: bool = False
                ) -> torch.Tensor:
    """The GRU equations (PyTorch's gate order r, z, n) of the policy's ``model.gru`` (or of
    ``model.value_gru`` if ``value``), one step at a time from h = 0, each input first through
    the matching embedding layer (``max(0, W x + b)``) if the model has one."""
    gru = model.value_gru if value else model.gru
    embedding = model.value_embedding if value else model.embedding
    w_ih, w_hh = gru.weight_ih_l0, gru.weight_hh_l0
    b_ih, b_hh = gru.bias_ih_l0, gru.bias_hh_l0
    h = torch.zeros(inputs.shape[1], model.hidden_size)
    outs = []
    for x in inputs:
        if embedding is not None:
            x = (x @ embedding.weight.T + embedding.bias).clamp(min=0.0)
        gi = x @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        i_r, i_z, i_n = gi.chunk(3, -1)
        h_r, h_z, h_n = gh.chunk(3, -1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        h = (1 - z) * n + z * h
        outs.append(h)
    return torch.stack(outs)


def _reference_loss(model, inputs, actions, old_logp, adv, ret, valid, clip, vc, ec):
    """PPO loss written step by step with the hand-written GRU and explicit distributions."""
    feats = _manual_gru(model, inputs)
    value_feats = feats if model.value_gru is None else _manual_gru(model, inputs, value=True)
    total_w = valid.sum()
    pol = val = ent = 0.0
    for t in range(inputs.shape[0]):
        out = model.policy_head(feats[t])
        value = model.value_head(value_feats[t]).squeeze(-1)
        if model.discrete:
            dist = torch.distributions.Categorical(logits=out)
        else:
            dist = torch.distributions.Independent(
                torch.distributions.Normal(out, model.log_std.exp().expand_as(out)), 1)
        logp = dist.log_prob(actions[t])
        ratio = torch.exp(logp - old_logp[t])
        surr = torch.min(ratio * adv[t], ratio.clamp(1 - clip, 1 + clip) * adv[t])
        pol = pol - (surr * valid[t]).sum()
        val = val + ((value - ret[t]).pow(2) * valid[t]).sum()
        ent = ent + (dist.entropy() * valid[t]).sum()
    return (pol + vc * val - ec * ent) / total_w


@pytest.mark.parametrize("separate_value, input_embedding", [
    (False, 0), (True, 0), (False, 5), (True, 5)])
@pytest.mark.parametrize("discrete", [True, False])
def test_sequence_batched_update_equals_step_by_step_reference(discrete, separate_value,
                                                               input_embedding):
    g = torch.Generator().manual_seed(0)
    T, B = 6, 3
    model = _tiny(discrete, separate_value=separate_value, input_embedding=input_embedding)
    inputs = torch.randn(T, B, 3, generator=g)
    valid = torch.ones(T, B)
    valid[4:, 1] = 0  # a shorter trial, padded
    valid[5:, 2] = 0
    actions = (torch.randint(0, 2, (T, B), generator=g) if discrete
               else torch.randn(T, B, 2, generator=g))
    old_logp = -torch.rand(T, B, generator=g)
    adv, ret = torch.randn(T, B, generator=g), torch.randn(T, B, generator=g)

    # forward: one nn.GRU call == the GRU equations step by step, and == model.step
    out, values, last = model(inputs, model.initial_state(B))
    assert last.shape == (1, B, model.state_size)
    feats = _manual_gru(model, inputs)
    torch.testing.assert_close(out, model.policy_head(feats), rtol=1e-5, atol=1e-6)
    if separate_value:
        value_feats = _manual_gru(model, inputs, value=True)
        torch.testing.assert_close(values, model.value_head(value_feats).squeeze(-1),
                                   rtol=1e-5, atol=1e-6)
    h = model.initial_state(B)
    for t in range(T):
        o_t, v_t, h = model.step(inputs[t], h)
        torch.testing.assert_close(o_t, out[t], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(v_t, values[t], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h, last, rtol=1e-5, atol=1e-6)

    # loss and gradients of the sequence-batched update == the step-by-step reference
    loss, _ = ppo_loss(model, inputs, actions, old_logp, adv, ret, valid, 0.2, 0.5, 0.01)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    ref = _reference_loss(model, inputs, actions, old_logp, adv, ret, valid, 0.2, 0.5, 0.01)
    ref_grads = torch.autograd.grad(ref, list(model.parameters()))
    torch.testing.assert_close(loss, ref, rtol=1e-5, atol=1e-6)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_padding_steps_do_not_affect_the_loss():
    g = torch.Generator().manual_seed(1)
    model = _tiny()
    T, B = 5, 2
    inputs = torch.randn(T, B, 3, generator=g)
    valid = torch.ones(T, B)
    valid[3:, 0] = 0
    args = dict(actions=torch.randint(0, 2, (T, B), generator=g),
                old_log_probs=-torch.rand(T, B, generator=g),
                advantages=torch.randn(T, B, generator=g), returns=torch.randn(T, B, generator=g))
    base, _ = ppo_loss(model, inputs, valid=valid, clip=0.2, value_coef=0.5, entropy_coef=0.0, **args)
    junk = inputs.clone()
    junk[3:, 0] = 100.0  # garbage after the trial's end
    args["advantages"] = args["advantages"].clone()
    args["advantages"][3:, 0] = 1e6
    other, _ = ppo_loss(model, junk, valid=valid, clip=0.2, value_coef=0.5, entropy_coef=0.0, **args)
    torch.testing.assert_close(base, other)


def _gae_reference(rewards, values, length, gamma, lam):
    """GAE of one trial of ``length`` steps as one plain trajectory ending in a terminal."""
    adv = np.zeros(length)
    last = 0.0
    for t in reversed(range(length)):
        nxt = values[t + 1] if t + 1 < length else 0.0
        delta = rewards[t] + gamma * nxt - values[t]
        last = delta + gamma * lam * last
        adv[t] = last
    return adv


def test_gae_crosses_episode_boundaries_and_stops_at_trial_end():
    g = np.random.default_rng(0)
    T, B = 7, 3
    rewards = g.normal(size=(T, B))
    values = g.normal(size=(T, B))
    lengths = [7, 5, 3]
    valid = np.zeros((T, B))
    for b, n in enumerate(lengths):
        valid[:n, b] = 1
    adv, ret = gae_over_trials(torch.tensor(rewards), torch.tensor(values), torch.tensor(valid),
                               gamma=0.9, lam=0.8)
    for b, n in enumerate(lengths):
        ref = _gae_reference(rewards[:, b], values[:, b], n, 0.9, 0.8)
        np.testing.assert_allclose(adv[:n, b].numpy(), ref, rtol=1e-12)
        np.testing.assert_allclose(adv[n:, b].numpy(), 0.0)
        np.testing.assert_allclose(ret[:n, b].numpy(), ref + values[:n, b], rtol=1e-12)
    # lambda = 1: the advantage is the discounted reward-to-go to the trial end minus V(t)
    adv1, _ = gae_over_trials(torch.tensor(rewards), torch.tensor(values), torch.tensor(valid),
                              gamma=0.9, lam=1.0)
    n = lengths[1]
    togo = [sum(0.9 ** (j - t) * rewards[j, 1] for j in range(t, n)) for t in range(n)]
    np.testing.assert_allclose(adv1[:n, 1].numpy(), np.array(togo) - values[:n, 1], rtol=1e-10)
    # gamma = 0 (the tabular-MDP paper config): the advantage is the step's own reward minus
    # V(t) and the value target is the reward itself, whatever lambda
    for lam in (0.0, 0.9, 1.0):
        adv0, ret0 = gae_over_trials(torch.tensor(rewards), torch.tensor(values),
                                     torch.tensor(valid), gamma=0.0, lam=lam)
        np.testing.assert_allclose(adv0.numpy(), (rewards - values) * valid, rtol=1e-12)
        np.testing.assert_allclose(ret0.numpy() * valid, rewards * valid, rtol=1e-12)


def test_gae_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="rewards, values and valid"):
        gae_over_trials(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3), 0.9, 0.9)


def test_explore_mask_zeroes_exactly_the_explore_episodes():
    # 3 trials of 4 episodes with unequal episode lengths
    episode_index = torch.tensor([
        [0, 0, 0], [0, 1, 0], [1, 1, 0], [1, 2, 1], [2, 2, 2], [3, 3, 3], [3, 3, 3],
    ])
    rewards = torch.arange(1.0, 22.0).reshape(7, 3)
    for p in range(4):
        masked = training_rewards(rewards, episode_index, p)
        expected = torch.where(episode_index < p, torch.zeros_like(rewards), rewards)
        assert torch.equal(masked, expected)
        assert torch.equal(explore_reward_mask(episode_index, p), (episode_index >= p).float())
    assert torch.equal(rewards, torch.arange(1.0, 22.0).reshape(7, 3))  # not modified
    with pytest.raises(ValueError, match="explore_episodes"):
        explore_reward_mask(episode_index, -1)


def test_continuous_sampling_and_log_prob():
    model = _tiny(discrete=False)
    out = torch.zeros(20000, 2)
    with torch.no_grad():
        model.log_std.copy_(torch.tensor([0.0, np.log(2.0)]))
    a = model.sample(out, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(a.std(0).numpy(), [1.0, 2.0], rtol=0.03)
    logp, ent = model.log_prob_entropy(out[:3], a[:3])
    ref = torch.distributions.Normal(out[:3], model.log_std.exp()).log_prob(a[:3]).sum(-1)
    torch.testing.assert_close(logp, ref.detach())


def test_discrete_sampling_matches_the_softmax():
    model = _tiny()
    logits = torch.tensor([[0.0, np.log(3.0)]]).expand(40000, 2)
    a = model.sample(logits, torch.Generator().manual_seed(0))
    assert abs(a.float().mean().item() - 0.75) < 0.01
    assert torch.equal(model.sample(logits[:2], torch.Generator(), deterministic=True),
                       torch.tensor([1, 1]))


def test_model_construction_is_deterministic_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a = RecurrentActorCritic(5, 3, True, 8, generator=torch.Generator().manual_seed(1))
    b = RecurrentActorCritic(5, 3, True, 8, generator=torch.Generator().manual_seed(1))
    assert torch.equal(torch.get_rng_state(), state)
    for (_, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb)
    with pytest.raises(ValueError, match="hidden_size"):
        RecurrentActorCritic(5, 3, True, 0)


def test_gae_keeps_float64_and_sums_undiscounted_rewards_to_go():
    adv, _ = gae_over_trials(torch.ones(2, 1, dtype=torch.float64),
                             torch.zeros(2, 1, dtype=torch.float64),
                             torch.ones(2, 1, dtype=torch.float64), 1.0, 1.0)
    assert adv.dtype == torch.float64
    assert adv[:, 0].tolist() == [2.0, 1.0]


def test_update_gate_bias_sets_only_the_update_gate():
    plain = RecurrentActorCritic(3, 2, True, hidden_size=4, generator=torch.Generator().manual_seed(0))
    biased = RecurrentActorCritic(3, 2, True, hidden_size=4, generator=torch.Generator().manual_seed(0),
                                  update_gate_bias=1.5)
    b = biased.gru.bias_hh_l0.detach()
    assert torch.equal(b[4:8], torch.full((4,), 1.5))  # gate order r, z, n
    assert torch.equal(b[:4], torch.zeros(4)) and torch.equal(b[8:], torch.zeros(4))
    for (name, p), q in zip(plain.named_parameters(), biased.parameters()):
        if name != "gru.bias_hh_l0":
            assert torch.equal(p, q), name


def _reference_init(input_dim, action_dim, discrete, hidden, generator, update_gate_bias=0.0):
    """The weights as the model drew them before ``separate_value`` existed (the draws of
    ``reset_parameters`` written out: GRU gate chunks, policy head, value head)."""
    model = RecurrentActorCritic(input_dim, action_dim, discrete, hidden,
                                 generator=torch.Generator().manual_seed(12345))
    with torch.no_grad():
        for w in (model.gru.weight_ih_l0, model.gru.weight_hh_l0):
            for chunk in w.chunk(3, dim=0):
                torch.nn.init.orthogonal_(chunk, gain=1.0, generator=generator)
        model.gru.bias_ih_l0.zero_()
        model.gru.bias_hh_l0.zero_()
        model.gru.bias_hh_l0[hidden:2 * hidden] = update_gate_bias
        torch.nn.init.orthogonal_(model.policy_head.weight, gain=0.01, generator=generator)
        torch.nn.init.orthogonal_(model.value_head.weight, gain=1.0, generator=generator)
        model.policy_head.bias.zero_()
        model.value_head.bias.zero_()
    return model.state_dict()


@pytest.mark.parametrize("discrete, gate_bias", [(True, 0.0), (False, 1.0)])
def test_separate_value_false_keeps_every_weight_bit_identical(discrete, gate_bias):
    """The default (and separate_value=False) draws exactly the weights of the model without
    the option; separate_value=True adds value_gru (drawn last) and changes nothing else."""
    ref = _reference_init(5, 3, discrete, 8, torch.Generator().manual_seed(1), gate_bias)
    models = {sv: RecurrentActorCritic(5, 3, discrete, 8, generator=torch.Generator().manual_seed(1),
                                       update_gate_bias=gate_bias, separate_value=sv)
              for sv in (False, True)}
    default = RecurrentActorCritic(5, 3, discrete, 8, generator=torch.Generator().manual_seed(1),
                                   update_gate_bias=gate_bias)
    for model in (default, models[False]):
        sd = model.state_dict()
        assert list(sd) == list(ref)  # same names, same order (optimizer state indices)
        assert not any(k.startswith("value_gru") for k in sd)
        for k in ref:
            assert torch.equal(sd[k], ref[k]), k
        assert model.value_gru is None and model.state_size == 8
        assert model.initial_state(2).shape == (1, 2, 8)
    sep = models[True].state_dict()
    assert [k for k in sep if k in ref] == list(ref)
    assert [k for k in sep if k not in ref] == [
        "value_gru.weight_ih_l0", "value_gru.weight_hh_l0", "value_gru.bias_ih_l0",
        "value_gru.bias_hh_l0"]
    for k in ref:
        assert torch.equal(sep[k], ref[k]), k
    # value_gru is initialised like gru (orthogonal gate chunks, zero biases but the update
    # gate's) from the draws that follow, so it is not a copy of gru
    vg = models[True].value_gru
    for chunk in vg.weight_hh_l0.detach().chunk(3, dim=0):
        torch.testing.assert_close(chunk @ chunk.T, torch.eye(8), rtol=0, atol=1e-5)
    assert not torch.equal(vg.weight_hh_l0, models[True].gru.weight_hh_l0)
    assert torch.equal(vg.bias_hh_l0.detach(),
                       torch.cat([torch.zeros(8), torch.full((8,), gate_bias), torch.zeros(8)]))
    assert torch.equal(vg.bias_ih_l0.detach(), torch.zeros(24))
    assert models[True].initial_state(2).shape == (1, 2, 16) and models[True].state_size == 16


@pytest.mark.parametrize("input_embedding", [0, 5])
@pytest.mark.parametrize("discrete", [True, False])
def test_separate_value_gru_isolates_policy_and_value(discrete, input_embedding):
    g = torch.Generator().manual_seed(4)
    T, B = 5, 3
    model = _tiny(discrete, separate_value=True, input_embedding=input_embedding)
    inputs = torch.randn(T, B, 3, generator=g)
    h0 = model.initial_state(B)
    with torch.no_grad():
        out, values, last = model(inputs, h0)

        def perturbed(module):
            m = _tiny(discrete, separate_value=True, input_embedding=input_embedding)
            for p in getattr(m, module).parameters():
                p.add_(0.5 * torch.randn(p.shape, generator=g))
            return m(inputs, h0)

        out_p, values_p, last_p = perturbed("gru")  # policy GRU changed: values unchanged
        assert torch.equal(values_p, values) and not torch.allclose(out_p, out)
        assert torch.equal(last_p[..., 4:], last[..., 4:])
        assert not torch.allclose(last_p[..., :4], last[..., :4])
        out_v, values_v, last_v = perturbed("value_gru")  # value GRU changed: policy unchanged
        assert torch.equal(out_v, out) and not torch.allclose(values_v, values)
        assert torch.equal(last_v[..., :4], last[..., :4])
        # the state halves: the policy half is exactly the policy GRU's own state
        gru_in = inputs if model.embedding is None else torch.relu(model.embedding(inputs))
        _, h_policy = model.gru(gru_in, torch.zeros(1, B, 4))
        assert torch.equal(last[..., :4], h_policy)

    valid = torch.ones(T, B)
    actions = (torch.randint(0, 2, (T, B), generator=g) if discrete
               else torch.randn(T, B, 2, generator=g))
    args = dict(actions=actions, old_log_probs=-torch.rand(T, B, generator=g),
                advantages=torch.randn(T, B, generator=g), returns=torch.randn(T, B, generator=g),
                valid=valid, clip=0.2)
    # policy loss (+ entropy bonus): no gradient reaches value_gru or the value head
    loss, _ = ppo_loss(model, inputs, value_coef=0.0, entropy_coef=0.01, **args)
    names = [n for n, _ in model.named_parameters()]
    grads = dict(zip(names, torch.autograd.grad(loss, list(model.parameters()),
                                                allow_unused=True)))
    for n, gr in grads.items():
        if n.startswith(("value_gru.", "value_head.", "value_embedding.")):
            assert gr is None or torch.count_nonzero(gr) == 0, n
    assert torch.count_nonzero(grads["gru.weight_hh_l0"]) > 0
    # value loss alone: no gradient reaches the policy GRU or the policy head
    _, values = model(inputs, h0)[:2]
    value_loss = (values - args["returns"]).pow(2).mean()
    vgrads = dict(zip(names, torch.autograd.grad(value_loss, list(model.parameters()),
                                                 allow_unused=True)))
    for n, gr in vgrads.items():
        if n.startswith(("gru.", "policy_head.", "embedding.")) or n == "log_std":
            assert gr is None or torch.count_nonzero(gr) == 0, n
    assert torch.count_nonzero(vgrads["value_gru.weight_hh_l0"]) > 0


def test_separate_value_rejects_bad_input():
    with pytest.raises(ValueError, match="separate_value"):
        RecurrentActorCritic(3, 2, True, 4, separate_value="yes")
    model = RecurrentActorCritic(3, 2, True, 4, separate_value=True)
    with pytest.raises(ValueError, match="state_size=8"):
        model(torch.zeros(2, 1, 3), torch.zeros(1, 1, 4))


def test_input_embedding_adds_only_its_layers_and_rejects_bad_input():
    """input_embedding=0 (the default) adds nothing; > 0 appends the embedding layer(s) after
    every other parameter (optimizer state indices of the others keep their order), drawn
    after every other weight; the GRU then reads ``input_embedding`` features."""
    plain = RecurrentActorCritic(5, 3, True, 8, generator=torch.Generator().manual_seed(1))
    zero = RecurrentActorCritic(5, 3, True, 8, generator=torch.Generator().manual_seed(1),
                                input_embedding=0)
    assert zero.embedding is None and zero.input_embedding == 0
    for (k, v), (k2, v2) in zip(plain.state_dict().items(), zero.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2), k
    for sv, extra in ((False, ["embedding.weight", "embedding.bias"]),
                      (True, ["embedding.weight", "embedding.bias", "value_embedding.weight",
                              "value_embedding.bias"])):
        m = RecurrentActorCritic(5, 3, True, 8, generator=torch.Generator().manual_seed(1),
                                 separate_value=sv, input_embedding=6)
        names = list(m.state_dict())
        assert names[-len(extra):] == extra
        assert m.gru.weight_ih_l0.shape == (24, 6) and m.input_embedding == 6
        assert torch.equal(m.embedding.bias.detach(), torch.zeros(6))
        # orthogonal init with gain sqrt(2) for the ReLU: a [6, 5] weight has orthogonal columns
        w = m.embedding.weight.detach()
        torch.testing.assert_close(w.T @ w, 2.0 * torch.eye(5), rtol=0, atol=1e-5)
        out, values, last = m(torch.randn(4, 2, 5), m.initial_state(2))
        assert out.shape == (4, 2, 3) and values.shape == (4, 2) and last.shape[-1] == m.state_size
    for bad in (-1, 2.5, True, "8"):
        with pytest.raises(ValueError, match="input_embedding must be an int >= 0"):
            RecurrentActorCritic(5, 3, True, 8, input_embedding=bad)


def test_uniform_weight_init_uses_pytorchs_ranges_from_the_generator():
    """weight_init="uniform": every GRU parameter in U(-1/sqrt(h), 1/sqrt(h)) and every linear
    layer's in U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's defaults, whose spread they fill),
    drawn from the generator alone (same seed, same weights; the global RNG untouched), with
    the update-gate bias still applied; the default stays orthogonal."""
    def make(seed, **kw):
        return RecurrentActorCritic(5, 3, True, 16, generator=torch.Generator().manual_seed(seed),
                                    separate_value=True, input_embedding=8, **kw)

    state = torch.get_rng_state()
    a, b, c = make(1, weight_init="uniform"), make(1, weight_init="uniform"), make(2, weight_init="uniform")
    assert torch.equal(torch.get_rng_state(), state)
    ortho = make(1)
    assert ortho.weight_init == "orthogonal"
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
        assert not torch.equal(v, c.state_dict()[k]), k
        assert not torch.equal(v, ortho.state_dict()[k]), k
        fan_in = 16 if "gru" in k else {"policy_head": 16, "value_head": 16, "embedding": 5,
                                        "value_embedding": 5}[k.split(".")[0]]
        bound = fan_in ** -0.5
        assert v.abs().max() <= bound, k
        if v.numel() >= 16:  # a sample that large reaches near the ends of its range
            assert v.abs().max() > 0.7 * bound, k
    gated = make(1, weight_init="uniform", update_gate_bias=2.0)
    for gru, plain in ((gated.gru, a.gru), (gated.value_gru, a.value_gru)):
        assert torch.equal(gru.bias_hh_l0[16:32], torch.full((16,), 2.0))
        assert torch.equal(gru.bias_hh_l0[:16], plain.bias_hh_l0[:16])
    with pytest.raises(ValueError, match="weight_init must be one of"):
        RecurrentActorCritic(5, 3, True, 8, weight_init="xavier")
