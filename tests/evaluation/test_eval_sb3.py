"""The stable-baselines3 agent: trial inputs, per-task LSTM state, sampling, layout errors."""

from __future__ import annotations

import eval_toys
import gymnasium as gym
import numpy as np
import pytest

import krazy_gym  # noqa: F401  (registers the ids)
from krazy_gym.evaluation import evaluate
from krazy_gym.evaluation.agents import SB3PolicyAgent
from krazy_gym.wrappers import TrialWrapper, make_trial_vec, to_sb3

sb3_contrib = pytest.importorskip("sb3_contrib")
torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def recurrent_model(env_id: str, episodes: int, sharpen: float = 1.0, **env_kwargs):
    """An untrained RecurrentPPO on ``env_id`` trials (LSTM 8 units). ``sharpen`` scales the
    action head so that the most likely action depends on the input and the LSTM state."""
    venv = to_sb3(make_trial_vec(env_id, 1, episodes_per_trial=episodes,
                                 vectorization_mode="sync", **env_kwargs))
    with torch.random.fork_rng(devices=[]):
        model = sb3_contrib.RecurrentPPO(
            "MlpLstmPolicy", venv, n_steps=8, batch_size=8, seed=0, device="cpu",
            policy_kwargs={"lstm_hidden_size": 8, "net_arch": [8]},
        )
    with torch.no_grad():
        for p in model.policy.action_net.parameters():
            p.mul_(sharpen)
    venv.close()
    return model


@pytest.fixture(scope="module")
def chain_model():
    """On ToyChain trials (obs 2, Discrete(2)): trial input 2 + 2 + 1 + 1 = 6."""
    return recurrent_model("KrazyGymTest/ToyChain-v0", 4, sharpen=40.0)


# -- the trial inputs are the TrialWrapper's observations ------------------------------------------


@pytest.mark.parametrize("env_id,kwargs", [
    ("KrazyGym/TabularMDP-v0", {"n_states": 4, "n_actions": 3, "max_episode_steps": 3}),
    ("KrazyGym/Navigation2D-v0", {"max_episode_steps": 4}),  # Box actions, raw
])
def test_trial_inputs_equal_the_trial_wrapper_observations(env_id, kwargs):
    """The agent drives a plain env (as the harness does: it sees only obs, action, reward and
    episode ends); its model inputs equal TrialWrapper's observations of the same trajectory,
    across the episode boundaries of a 3-episode trial."""
    model = recurrent_model(env_id, 3, **kwargs)
    agent = SB3PolicyAgent(model, deterministic=False, seed=3)
    wrapped = TrialWrapper(gym.make(env_id, **kwargs), episodes_per_trial=3)
    plain = gym.make(env_id, **kwargs)
    task = plain.unwrapped.sample_tasks(1, "test")[0]
    w_obs, _ = wrapped.reset(seed=5, options={"task": task})
    obs, _ = plain.reset(seed=5, options={"task": task})
    agent.reset(1, plain.observation_space, plain.action_space)
    assert agent.uses_trial_inputs
    steps = boundaries = 0
    while True:
        np.testing.assert_array_equal(agent.inputs(np.asarray(obs)[None])[0], w_obs)
        action = agent.act(np.asarray(obs)[None])
        w_obs, w_reward, w_term, _, _ = wrapped.step(action[0])
        next_obs, reward, term, trunc, _ = plain.step(action[0])
        assert reward == w_reward
        agent.observe(np.asarray(obs)[None], action, np.array([reward]),
                      np.asarray(next_obs)[None], np.array([term]), np.array([trunc]))
        steps += 1
        if w_term:
            break
        if term or trunc:
            boundaries += 1
            next_obs, _ = plain.reset()  # the wrapper resets its inner env the same way
        obs = next_obs
    assert boundaries == 2 and steps >= 3
    assert w_obs[wrapped.done_index] == 1.0


# -- per-task recurrent state ----------------------------------------------------------------------


def _drive(agent, obs_rows, active=None):
    """One act + observe with the given per-row observations; returns the actions."""
    obs = np.asarray(obs_rows, dtype=np.float32)
    n = len(obs)
    act = agent.act(obs, active=active)
    reward = (obs[:, 0] * 0.1).astype(np.float32)
    agent.observe(obs, act, reward, obs, np.zeros(n, bool), np.zeros(n, bool), active=active)
    return act


def test_lstm_state_is_per_task_and_idle_rows_are_untouched(chain_model):
    rng = np.random.default_rng(0)
    seq_a = rng.uniform(0, 6, size=(30, 2))
    seq_b = rng.uniform(0, 6, size=(30, 2))
    space = eval_toys.ToyChainEnv().observation_space
    alone_a = SB3PolicyAgent(chain_model)
    alone_b = SB3PolicyAgent(chain_model)
    both = SB3PolicyAgent(chain_model)
    alone_a.reset(1, space, gym.spaces.Discrete(2))
    alone_b.reset(1, space, gym.spaces.Discrete(2))
    both.reset(2, space, gym.spaces.Discrete(2))
    idle = set(range(10, 20))  # B is idle at these steps (shown junk observations)
    acts_a, acts_both = [], []
    for t in range(30):
        b_active = t not in idle
        before = [s[:, 1].clone() for s in both._state]
        prev_inputs = both.inputs(np.stack([seq_a[t], seq_b[t]]))[1].copy()
        acts_a.append(_drive(alone_a, [seq_a[t]])[0])
        if b_active:
            _drive(alone_b, [seq_b[t]])
        row_b = seq_b[t] if b_active else np.array([99.0, -5.0])
        acts_both.append(_drive(both, [seq_a[t], row_b], active=np.array([True, b_active])))
        if not b_active:  # exactly as before: not recomputed, not overwritten
            for s, old in zip(both._state, before):
                assert torch.equal(s[:, 1], old)
            np.testing.assert_array_equal(
                both.inputs(np.stack([seq_a[t], seq_b[t]]))[1], prev_inputs)
    acts_both = np.asarray(acts_both)
    assert acts_both[:, 0].tolist() == acts_a  # A's actions do not depend on B
    assert len(set(acts_a)) == 2  # the policy's choice does depend on the history
    for s_both, s_a, s_b in zip(both._state, alone_a._state, alone_b._state):
        # same computation in a batch of 2 or 1: equal up to float rounding
        torch.testing.assert_close(s_both[:, 0], s_a[:, 0], rtol=0, atol=1e-6)
        torch.testing.assert_close(s_both[:, 1], s_b[:, 0], rtol=0, atol=1e-6)
        assert (s_both[:, 0] - s_both[:, 1]).abs().max() > 1e-3  # the rows really differ


def test_reset_clears_the_recurrent_state_and_the_previous_step(chain_model):
    space = eval_toys.ToyChainEnv().observation_space
    rng = np.random.default_rng(1)
    seq = rng.uniform(0, 6, size=(12, 3, 2))
    used = SB3PolicyAgent(chain_model)
    used.reset(3, space, gym.spaces.Discrete(2))
    for t in range(12):
        _drive(used, seq[t])
    assert all(s.abs().max() > 0 for s in used._state)
    kept = [s.clone() for s in used._state]
    none = np.zeros(3, dtype=bool)  # no row acts: zeros, nothing computed or committed
    np.testing.assert_array_equal(_drive(used, seq[0], active=none), [0, 0, 0])
    assert all(torch.equal(a, b) for a, b in zip(used._state, kept))
    used.reset(3, space, gym.spaces.Discrete(2))
    assert all(torch.count_nonzero(s) == 0 for s in used._state)
    np.testing.assert_array_equal(used.inputs(seq[0])[:, 2:], 0.0)  # no previous step
    fresh = SB3PolicyAgent(chain_model)
    fresh.reset(3, space, gym.spaces.Discrete(2))
    for t in range(12):  # the same computation from the same start: identical
        np.testing.assert_array_equal(_drive(used, seq[t]), _drive(fresh, seq[t]))
    for a, b in zip(used._state, fresh._state):
        assert torch.equal(a, b)


def test_harness_scores_a_recurrent_model_the_same_alone_or_in_a_batch(chain_model):
    """Through the runner (rows go idle at different times on ToyChain): one task per agent
    instance or all six in lockstep give identical returns."""
    bench = eval_toys.chain_benchmark(env_kwargs={"reveal_goal": True}, num_test_tasks=6)

    def factory(seed=0):
        return SB3PolicyAgent(chain_model, seed=seed)

    alone = evaluate(factory, bench, seeds=1, batch_size=1, progress=False)
    batched = evaluate(factory, bench, seeds=1, batch_size=6, progress=False)
    assert alone["returns"] == batched["returns"]
    lengths = np.asarray(batched["exploration_metrics"]["episode_length"])
    assert len(np.unique(lengths.sum(axis=-1))) > 1  # rows finish at different steps


def test_flat_recurrent_model_restarts_its_state_at_each_episode():
    """A RecurrentPPO trained on the plain env resets its LSTM at episode starts (as SB3 does
    in training): the first step of episode 2 acts like the first step of a fresh agent."""
    env = gym.make_vec("KrazyGymTest/ToyChain-v0", num_envs=1, vectorization_mode="sync",
                       vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
    with torch.random.fork_rng(devices=[]):
        model = sb3_contrib.RecurrentPPO("MlpLstmPolicy", to_sb3(env), n_steps=8, batch_size=8,
                                         seed=0, device="cpu",
                                         policy_kwargs={"lstm_hidden_size": 8})
    space = env.single_observation_space
    agent = SB3PolicyAgent(model)
    agent.reset(2, space, env.single_action_space)
    assert not agent.uses_trial_inputs
    obs = np.array([[1.0, 0.0], [2.0, 0.0]], dtype=np.float32)
    for _ in range(3):
        act = agent.act(obs)
        agent.observe(obs, act, np.zeros(2), obs, np.zeros(2, bool), np.zeros(2, bool))
    act = agent.act(obs)
    agent.observe(obs, act, np.zeros(2), obs, np.array([True, False]), np.zeros(2, bool))
    agent.act(obs)  # row 0 starts a new episode, row 1 continues
    fresh = SB3PolicyAgent(model)
    fresh.reset(2, space, env.single_action_space)
    fresh.act(obs)
    torch.testing.assert_close(agent._pending[0][:, 0], fresh._pending[0][:, 0], rtol=0,
                               atol=1e-6)
    assert (agent._pending[0][:, 1] - fresh._pending[0][:, 1]).abs().max() > 1e-4
    env.close()


# -- actions ---------------------------------------------------------------------------------------


def test_sampled_actions_follow_the_policy_with_the_agents_own_generator(chain_model):
    """deterministic=False: frequencies match the policy's probabilities, the seed fixes the
    draws, and neither torch's nor numpy's global generator is used or advanced."""
    space = eval_toys.ToyChainEnv().observation_space
    obs = np.tile(np.array([[3.0, 1.0]], dtype=np.float32), (4000, 1))
    probe = SB3PolicyAgent(chain_model, deterministic=False)
    probe.reset(4000, space, gym.spaces.Discrete(2))
    x = torch.as_tensor(probe.inputs(obs)[:1])
    with torch.no_grad():
        dist, _ = chain_model.policy.get_distribution(
            x, tuple(s[:, :1] for s in probe._state), torch.zeros(1))
    p_right = float(dist.distribution.probs[0, 1])
    assert 0.05 < p_right < 0.95  # a real choice, not a certainty
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 - reading, to prove nobody writes it
    draws = {}
    for seed in (7, 7, 8):
        agent = SB3PolicyAgent(chain_model, deterministic=False, seed=seed)
        agent.reset(4000, space, gym.spaces.Discrete(2))
        draws.setdefault(seed, []).append(agent.act(obs))
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002
    np.testing.assert_array_equal(draws[7][0], draws[7][1])
    assert (draws[7][0] != draws[8][0]).any()
    # 4000 draws: standard error <= 0.008, so 0.04 is 5 standard errors
    assert abs(np.mean(draws[7][0] == 1) - p_right) < 0.04
    assert draws[7][0].dtype == np.int64 and set(np.unique(draws[7][0])) == {0, 1}


def test_sampling_needs_a_policy_distribution():
    with pytest.raises(ValueError, match="deterministic=False.*RightModel.*deterministic=True"):
        SB3PolicyAgent(eval_toys.RightModel(), deterministic=False)
    with pytest.raises(ValueError, match="trial must be None, True or False"):
        SB3PolicyAgent(eval_toys.RightModel(), trial=1)


# -- layout errors ---------------------------------------------------------------------------------


def test_a_model_matching_neither_layout_gets_an_error_naming_the_shapes(chain_model):
    """The ToyChain-trial model (input (6,)) on other spaces, and forced layouts."""
    agent = SB3PolicyAgent(chain_model)
    with pytest.raises(ValueError) as err:
        agent.reset(4, gym.spaces.Discrete(10), gym.spaces.Discrete(2))
    message = str(err.value)
    assert "shape (6,)" in message and "Discrete(10)" in message
    assert "(14,) = 10 observation + 2 previous action + 1 reward + 1 done" in message
    assert agent.uses_trial_inputs is None  # nothing was set up
    with pytest.raises(ValueError, match=r"trial=False, but .*shape \(6,\), not the benchmark's "
                                         r"observation \(2,\)"):
        SB3PolicyAgent(chain_model, trial=False).reset(1, gym.spaces.Box(0, 20, (2,)),
                                                       gym.spaces.Discrete(2))
    with pytest.raises(ValueError, match="action space is Discrete\\(2\\), the benchmark's is "
                                         "Discrete\\(3\\)"):
        agent.reset(1, gym.spaces.Box(0, 20, (1,)), gym.spaces.Discrete(3))  # 1 + 3 + 2 = 6
    flat = SB3PolicyAgent(eval_toys.RightModel())  # duck-typed: no observation_space to check
    flat.reset(2, gym.spaces.Box(0, 20, (2,)), gym.spaces.Discrete(2))
    assert flat.uses_trial_inputs is False


def test_trial_true_with_a_flat_model_names_the_trial_shape():
    env = gym.make_vec("KrazyGymTest/ToyChain-v0", num_envs=1, vectorization_mode="sync",
                       vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
    from stable_baselines3 import PPO

    with torch.random.fork_rng(devices=[]):
        model = PPO("MlpPolicy", to_sb3(env), n_steps=8, batch_size=8, seed=0, device="cpu")
    with pytest.raises(ValueError, match=r"trial=True, but .*shape \(2,\), not its RL² trial "
                                         r"input \(6,\)"):
        SB3PolicyAgent(model, trial=True).reset(1, env.single_observation_space,
                                                env.single_action_space)
    agent = SB3PolicyAgent(model)
    agent.reset(3, env.single_observation_space, env.single_action_space)
    obs = np.array([[0, 0], [1, 0], [2, 0]], dtype=np.float32)
    expected, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(agent.act(obs), expected)  # the mode, as predict gives it
    env.close()
