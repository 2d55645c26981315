"""Tests of the classic sanity families: analytic returns, rewards, tasks, checkers, bad input."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import krazy_gym  # noqa: F401  (registers the ids)
from krazy_gym.classic.bandit import BanditEnv, BanditTask
from krazy_gym.classic.navigation import CORNERS, Navigation2DEnv, PointCornerEnv, PointCornerTask
from krazy_gym.classic.tabular_mdp import TabularMDPEnv, TabularMDPTask
from krazy_gym.tasks import check_tasks_disjoint

IDS = ["KrazyGym/Bandit-v0", "KrazyGym/TabularMDP-v0", "KrazyGym/Navigation2D-v0",
       "KrazyGym/PointCorner-v0"]
#: SB3 recommends [-1, 1] action boxes; the point envs keep the reference envs' ±0.1 / ±0.2
#: boxes on purpose (MAML/ProMP policies are tuned to them), so only this advice is tolerated.
SB3_ACTION_ADVICE = "symmetric and normalized Box action space"


@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_checker_has_no_warnings(env_id):
    env = gym.make(env_id, render_mode="ansi")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env.reset(seed=0)
    assert isinstance(env.render(), str)


@pytest.mark.parametrize("env_id", IDS)
def test_sb3_checker_passes(env_id):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(gym.make(env_id), warn=True)
    others = [str(w.message) for w in caught if SB3_ACTION_ADVICE not in str(w.message)]
    assert others == []


# -- Bandit -------------------------------------------------------------------------------------
def test_bandit_random_policy_return_matches_mean_probability():
    env = BanditEnv(k=5)
    task = env.sample_tasks(1, split="test")[0]
    env.reset(seed=0, options={"task": task})
    rng = np.random.default_rng(1)
    n = 20_000
    rewards = np.empty(n)
    for i in range(n):
        _, rewards[i], terminated, truncated, info = env.step(int(rng.integers(5)))
        assert terminated and not truncated
        env.reset()
    expected = float(np.mean(task.probs))  # E[r] under the uniform policy, exactly
    bound = 4.0 * np.sqrt(expected * (1 - expected) / n)
    assert abs(rewards.mean() - expected) < bound


def test_bandit_each_arm_pays_its_probability():
    task = BanditTask(family="Bandit", split="train", index=0, probs=(0.0, 1.0, 0.25))
    env = BanditEnv(k=3)
    env.reset(seed=3, options={"task": task})
    pulls = {0: [], 1: [], 2: []}
    for i in range(3000):
        arm = i % 3
        pulls[arm].append(env.step(arm)[1])
        env.reset()
    assert set(pulls[0]) == {0.0} and set(pulls[1]) == {1.0}
    assert abs(np.mean(pulls[2]) - 0.25) < 4 * np.sqrt(0.25 * 0.75 / 1000)


def test_bandit_probabilities_are_uniform_over_tasks():
    probs = np.array([t.probs for t in BanditEnv(k=4).sample_tasks(500, seed=2)])
    assert probs.shape == (500, 4) and probs.min() >= 0 and probs.max() <= 1
    assert abs(probs.mean() - 0.5) < 4 * np.sqrt(1 / 12 / probs.size)


@pytest.mark.parametrize("k", [1, 0, -3])
def test_bandit_needs_two_arms(k):
    with pytest.raises(ValueError, match=r"\bk\b"):
        gym.make("KrazyGym/Bandit-v0", k=k)


def test_bandit_rejects_tasks_with_other_arm_count_and_bad_probs():
    env = BanditEnv(k=5)
    with pytest.raises(ValueError, match="k=5"):
        env.set_task(BanditEnv(k=3).sample_tasks(1)[0])
    with pytest.raises(ValueError, match="probs"):
        BanditTask(family="Bandit", split="train", index=0, probs=(0.5, 1.5))


# -- Tabular MDP ----------------------------------------------------------------------------------
def _finite_horizon_value(task: TabularMDPTask, policy: np.ndarray, horizon: int) -> float:
    """Expected return from state 0 of ``policy[s, a]`` over ``horizon`` steps (backward DP)."""
    means = np.asarray(task.reward_means)
    trans = np.asarray(task.transitions)
    value = np.zeros(len(means))
    for _ in range(horizon):
        q = means + trans @ value
        value = (policy * q).sum(axis=1)
    return float(value[0])


@pytest.mark.parametrize("policy_name", ["uniform", "always_action_2"])
def test_tabular_mdp_returns_match_policy_evaluation(policy_name):
    env = gym.make("KrazyGym/TabularMDP-v0")
    task = env.unwrapped.sample_tasks(1, split="test")[0]
    n_s, n_a = 10, 5
    if policy_name == "uniform":
        policy = np.full((n_s, n_a), 1.0 / n_a)
    else:
        policy = np.zeros((n_s, n_a))
        policy[:, 2] = 1.0
    expected = _finite_horizon_value(task, policy, horizon=10)
    rng = np.random.default_rng(0)
    returns = []
    obs, _ = env.reset(seed=5, options={"task": task})
    for _ in range(3000):
        total, done = 0.0, False
        assert obs == 0
        while not done:
            action = int(rng.integers(n_a)) if policy_name == "uniform" else 2
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
        assert truncated and not terminated  # the registered 10-step horizon ends the episode
        returns.append(total)
        obs, _ = env.reset()
    returns = np.asarray(returns)
    assert abs(returns.mean() - expected) < 4 * returns.std() / np.sqrt(len(returns))


def test_tabular_mdp_task_distribution():
    tasks = TabularMDPEnv().sample_tasks(200, seed=0)
    means = np.array([t.reward_means for t in tasks])
    trans = np.array([t.transitions for t in tasks])
    assert means.shape == (200, 10, 5) and trans.shape == (200, 10, 5, 10)
    assert abs(means.mean() - 1.0) < 4 / np.sqrt(means.size)  # mu ~ N(1, 1)
    assert abs(means.std() - 1.0) < 0.05
    np.testing.assert_allclose(trans.sum(-1), 1.0, atol=1e-12)
    # flat Dirichlet over 10 states: each entry has mean 1/10 and variance 9/(100*11)
    assert abs(trans.mean() - 0.1) < 1e-12
    assert abs(trans.var() - 9 / 1100) < 0.0005


def test_tabular_mdp_rejects_malformed_tasks():
    good = TabularMDPEnv().sample_tasks(1)[0].to_dict()
    bad = dict(good, transitions=[[[1.0, 0.0]] * 5] * 10)
    with pytest.raises(ValueError, match="transitions"):
        TabularMDPTask.from_dict(bad)
    with pytest.raises(ValueError, match=r"n_states"):
        TabularMDPEnv(n_states=0)
    with pytest.raises(ValueError, match=r"\(n_states, n_actions\)"):
        TabularMDPEnv(n_states=4).set_task(TabularMDPTask.from_dict(good))


# -- Navigation2D ---------------------------------------------------------------------------------
def test_navigation_reward_is_minus_distance_after_clipped_move():
    env = Navigation2DEnv()
    task = env.sample_tasks(1, split="test")[0]
    obs, _ = env.reset(seed=0, options={"task": task})
    np.testing.assert_array_equal(obs, [0.0, 0.0])
    goal = np.asarray(task.goal)
    obs, reward, terminated, _, info = env.step(np.array([0.5, -0.03], dtype=np.float32))
    expected_pos = np.array([0.1, np.float32(-0.03)])  # x clipped to 0.1
    np.testing.assert_allclose(obs, expected_pos, rtol=1e-6)
    assert reward == pytest.approx(-np.linalg.norm(expected_pos - goal), rel=1e-6)
    assert reward == -info["distance"] and not terminated


def test_navigation_terminates_at_goal_when_driven_there():
    env = Navigation2DEnv()
    task = env.sample_tasks(1, seed=4)[0]
    env.reset(seed=0, options={"task": task})
    goal = np.asarray(task.goal)
    pos = np.zeros(2)
    steps = 0
    for _ in range(100):
        steps += 1
        action = np.clip(goal - pos, -0.1, 0.1)
        pos = pos + action
        _, reward, terminated, _, _ = env.step(action.astype(np.float32))
        if terminated:
            break
    assert terminated and steps == int(np.ceil(np.abs(goal).max() / 0.1))
    assert -reward < 0.01 * np.sqrt(2)


def test_navigation_goals_uniform_in_square():
    goals = np.array([t.goal for t in Navigation2DEnv().sample_tasks(1000, seed=0)])
    assert goals.min() >= -0.5 and goals.max() <= 0.5
    assert np.all(np.abs(goals.mean(0)) < 4 * np.sqrt(1 / 12 / 1000))


# -- PointCorner ----------------------------------------------------------------------------------
def _corner_env(goal):
    env = PointCornerEnv()
    task = PointCornerTask(family="PointCorner", split="train", index=0, goal=goal)
    obs, _ = env.reset(seed=0, options={"task": task})
    return env, obs


def test_point_corner_reward_is_progress_inside_goal_quadrant_only():
    env, start = _corner_env((2.0, 2.0))
    assert np.all(np.abs(start) <= 0.2)
    # walk towards the goal: no reward while within L1 0.5 of the origin, then progress
    pos = start.astype(np.float64)
    goal = np.array([2.0, 2.0])
    for _ in range(20):
        prev = pos
        pos = prev + 0.2
        _, reward, terminated, _, info = env.step(np.array([0.3, 0.3], dtype=np.float32))
        live = np.abs(pos).sum() >= 0.5
        assert info["in_goal_region"] == live and not terminated
        expected = np.linalg.norm(prev - goal) - np.linalg.norm(pos - goal) if live else 0.0
        assert reward == pytest.approx(expected, abs=1e-5)
    # walk into another corner's quadrant: zero reward there
    env, _ = _corner_env((2.0, 2.0))
    for _ in range(15):
        _, reward, _, _, info = env.step(np.array([-0.2, -0.2], dtype=np.float32))
    assert reward == 0.0 and not info["in_goal_region"]


@pytest.mark.parametrize("goal", CORNERS)
def test_point_corner_reward_region_is_exactly_the_goals_quadrant(goal):
    """Analytic: the nearest of the corners (±2, ±2) is the one in the point's quadrant, so the
    reward is live iff the point is in the goal's (open) quadrant and at L1 distance >= 0.5.
    A last-bit difference between two ways of computing the goal distance once made this fail
    on some CPUs (the region shrank at random); random walks visit every quadrant."""
    env = gym.make("KrazyGym/PointCorner-v0")
    vec = gym.make_vec("KrazyGym/PointCorner-v0", num_envs=1)
    task = PointCornerTask(family="PointCorner", split="train", index=0, goal=goal)
    rng = np.random.default_rng(1)
    live_steps = 0
    for episode in range(20):  # 99 steps each: the 100th would move the vector info to final_info
        env.reset(seed=episode, options={"task": task})
        vec.reset(seed=episode, options={"task": [task]})
        for _ in range(99):
            action = rng.uniform(-0.2, 0.2, size=2).astype(np.float32)
            _, reward, _, _, info = env.step(action)
            _, vreward, _, _, vinfo = vec.step(action[None])
            pos = env.unwrapped._pos
            expected = bool(
                np.sign(pos[0]) == np.sign(goal[0]) and np.sign(pos[1]) == np.sign(goal[1])
                and abs(pos[0]) + abs(pos[1]) >= 0.5
            )
            assert info["in_goal_region"] == expected == bool(vinfo["in_goal_region"][0]), pos
            assert vreward[0] == reward  # the vector env's arithmetic is the single env's
            live_steps += expected
    assert 0 < live_steps < 20 * 99  # the walks were was in and out of the region


def test_point_corner_tasks_are_the_four_corners():
    env = PointCornerEnv()
    assert env.task_family.splittable is False  # four tasks cannot be split train/test
    goals = {t.goal for t in env.sample_tasks(200, seed=0)}
    assert goals == set(CORNERS)
    with pytest.raises(ValueError, match="corners"):
        PointCornerTask(family="PointCorner", split="train", index=0, goal=(1.0, 2.0))


@pytest.mark.parametrize(
    "env_id", ["KrazyGym/Bandit-v0", "KrazyGym/TabularMDP-v0", "KrazyGym/Navigation2D-v0"]
)
def test_train_and_test_tasks_are_disjoint(env_id):
    base = gym.make(env_id).unwrapped
    train = base.sample_tasks(250, seed=0) + base.sample_tasks(250, seed=1)
    test = base.sample_tasks(100, split="test")
    check_tasks_disjoint(train, test)
    assert len({t.content_key() for t in train + test}) == 600
