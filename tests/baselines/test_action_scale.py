"""ProMP's action normalisation: the policy acts in ±action_scale, mapped onto the env's bounds.

Checked: the mapping against ProMP's ``normalized_env`` formula, the effective initial std and
the control cost of a fresh policy on HalfCheetahDir (analytic values: std 0.1 of the
half-range; 0.05 · 100 · (‖μ‖² + 6 · 0.1²) ≈ 0.3 per episode, against ≈ 15.5 with the former
scale 1), and that checkpoints record the scale while older ones keep their behaviour.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("mujoco")

from gymnasium import spaces  # noqa: E402

from baselines import agents  # noqa: E402
from baselines.common.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from baselines.common.policies import expand_params, make_policy  # noqa: E402
from baselines.common.sampler import DEFAULT_ACTION_SCALE, ActionAdapter, MetaSampler  # noqa: E402
from baselines.train import main  # noqa: E402

CHEETAH = "KrazyGym/HalfCheetahDir-v0"


def test_adapter_is_promps_normalized_env_and_scale_one_is_the_old_mapping():
    space = spaces.Box(np.array([-1.0, -0.4]), np.array([1.0, 2.0]), dtype=np.float64)
    s = 10.0
    a = np.array([[-10.0, 10.0], [0.0, 0.0], [-25.0, 30.0], [3.7, -8.1]])
    got = ActionAdapter(space, s)(a)
    lb, ub = space.low, space.high
    promp = np.clip(lb + (a + s) * (ub - lb) / (2 * s), lb, ub)  # normalized_env.step
    np.testing.assert_allclose(got, promp, rtol=0, atol=1e-15)  # other operation order
    np.testing.assert_array_equal(got[0], [-1.0, 2.0])  # the ends of the policy's range
    np.testing.assert_array_equal(got[2], [-1.0, 2.0])  # beyond them: clipped
    assert np.all((got >= lb) & (got <= ub))
    old = lb + (np.clip(a, -1.0, 1.0) + 1.0) * 0.5 * (ub - lb)  # the mapping before the scale
    np.testing.assert_array_equal(ActionAdapter(space, 1.0)(a), old)
    for bad in (0.0, -1.0, math.inf, math.nan, True, "10"):
        with pytest.raises(ValueError, match="action_scale"):
            ActionAdapter(space, bad)


def _fresh_policy_batch(action_scale: float):
    sampler = MetaSampler(CHEETAH, num_tasks=4, episodes_per_task=5, action_scale=action_scale)
    torch.manual_seed(0)
    policy = make_policy(sampler.obs_space, sampler.action_space, (64, 64), "tanh", init_std=1.0)
    theta = expand_params({n: p.detach() for n, p in policy.parameters_dict().items()}, 4)
    tasks = sampler.envs.unwrapped.sample_tasks(4, "train", seed=0)
    batch = sampler.sample(policy, theta, tasks, np.random.default_rng(0),
                           torch.Generator().manual_seed(0))
    with torch.no_grad():
        mean = policy.dist_info(theta, torch.from_numpy(batch.obs.reshape(4, -1, 17)))["mean"]
    sampler.close()
    assert batch.mask.shape == (4, 5, 100) and batch.mask.all()  # 100-step episodes
    return batch, mean.numpy().reshape(batch.actions.shape), sampler.adapt_action


def test_fresh_policy_has_a_tenth_of_the_range_as_std_and_pays_0_3_control_cost():
    assert DEFAULT_ACTION_SCALE == 10.0
    batch, mean, adapter = _fresh_policy_batch(DEFAULT_ACTION_SCALE)
    env_actions = adapter(batch.actions).astype(np.float64)
    env_mean = adapter(mean).astype(np.float64)
    noise = (env_actions - env_mean).reshape(-1, 6)  # the bounds are ±1: slope 1/10, no clipping
    np.testing.assert_allclose(noise.std(axis=0), 0.1, rtol=0.05)  # 2000 draws per dim
    assert np.abs(mean).max() < 1.0  # the mean stays well inside ±10
    ctrl = 0.05 * np.square(env_actions).sum(-1).sum(-1)  # per episode, HalfCheetahDir's weight
    expected = 0.05 * (np.square(env_mean).sum(-1) + 6 * 0.1**2).sum(-1)
    np.testing.assert_allclose(ctrl.mean(), expected.mean(), rtol=0.05)
    assert 0.28 < ctrl.mean() < 0.36  # ProMP's ≈ 0.3, not ≈ 15


def test_scale_one_gives_the_former_control_cost_of_about_15():
    batch, _, adapter = _fresh_policy_batch(1.0)
    ctrl = 0.05 * np.square(adapter(batch.actions).astype(np.float64)).sum(-1).sum(-1)
    # E[clip(z, −1, 1)²] = 1 − 2φ(1) for z ~ N(0, 1): 0.5161; × 6 dims × 100 steps × 0.05
    expected = 0.05 * 100 * 6 * (1 - 2 * math.exp(-0.5) / math.sqrt(2 * math.pi))
    np.testing.assert_allclose(ctrl.mean(), expected, rtol=0.08)  # fresh means shift it a little


def test_checkpoints_record_the_scale_and_older_ones_keep_scale_one(tmp_path):
    out = tmp_path / "run"
    args = ["--algo", "promp", "--env", "KrazyGym/Navigation2D-v0", "--out", str(out),
            "--seed", "0", "--set", "num_tasks=2", "--set", "episodes_per_task=2", "--set",
            "max_episode_steps=8", "--set", "hidden_sizes=(8,)", "--set", "progress=false"]
    assert main([*args, "--iterations", "1"]) == 0
    ckpt = load_checkpoint(out)
    assert ckpt.config["action_scale"] == 10.0
    agent = agents.load(out)
    assert agent.action_scale == 10.0
    space = spaces.Box(-0.1, 0.1, shape=(2,), dtype=np.float32)
    agent.reset(2, spaces.Box(-5.0, 5.0, shape=(2,), dtype=np.float32), space)
    actions = agent.act(np.zeros((2, 2), np.float32))
    np.testing.assert_array_equal(actions, ActionAdapter(space, 10.0)(agent._last_raw))

    del ckpt.config["action_scale"]  # a checkpoint written before the setting existed
    save_checkpoint(out, ckpt)
    assert agents.load(out).action_scale == 1.0
    assert main(["--algo", "promp", "--env", "KrazyGym/Navigation2D-v0", "--out", str(out),
                 "--iterations", "2", "--resume"]) == 0  # resumes: its config is complete
    resumed = load_checkpoint(out)
    assert resumed.iteration == 2 and resumed.config["action_scale"] == 1.0
