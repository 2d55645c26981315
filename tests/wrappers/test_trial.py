"""TrialWrapper / TrialVectorWrapper bookkeeping on a scripted env, and on the real families."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import krazy_gym  # noqa: F401  (registers the ids)
from krazy_gym.classic.bandit import BanditEnv
from krazy_gym.tasks import Task, TaskEnvMixin, TaskFamily
from krazy_gym.wrappers import TrialVectorWrapper, TrialWrapper, make_trial_vec


# -- a scripted meta-env: every number it returns can be predicted by hand ----------------------
@dataclasses.dataclass(frozen=True)
class ToyTask(Task):
    tid: int = 0
    length: int = 1
    FAMILIES = ("ToyEpisodes",)


class ToyFamily(TaskFamily):
    name = "ToyEpisodes"
    task_class = ToyTask

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"tid": int(rng.integers(0, 9)), "length": int(rng.integers(1, 5))}


def toy_task(tid: int, length: int) -> ToyTask:
    return ToyTask(family="ToyEpisodes", split="train", index=tid, tid=tid, length=length)


class ToyEnv(TaskEnvMixin, gym.Env):
    """obs = [tid, t]; reward = action + 10 * tid; terminates after ``length`` steps."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.task_family = ToyFamily()
        self.observation_space = spaces.Box(0.0, 100.0, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Discrete(3)
        self._tid, self._length, self._t = 0, 1, 0

    def _apply_task(self, task: Task) -> None:
        self._tid, self._length = task.tid, task.length  # type: ignore[attr-defined]

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._reset_task(options)
        self._t = 0
        return np.array([self._tid, 0], dtype=np.float32), {}

    def step(self, action):
        self._t += 1
        obs = np.array([self._tid, self._t], dtype=np.float32)
        reward = float(int(action) + 10 * self._tid)
        return obs, reward, self._t >= self._length, False, {"toy_t": self._t}


def _expected(tid, t, prev_action, prev_reward, done):
    one_hot = [0.0, 0.0, 0.0]
    if prev_action is not None:
        one_hot[prev_action] = 1.0
    return np.array([tid, t, *one_hot, prev_reward, float(done)], dtype=np.float32)


# -- single env ---------------------------------------------------------------------------------
def test_single_trial_bookkeeping_on_a_hand_built_sequence():
    env = TrialWrapper(ToyEnv(), episodes_per_trial=3, tasks=[toy_task(2, 2), toy_task(5, 1)])
    assert (env.obs_slice, env.action_slice, env.reward_index, env.done_index) == (
        slice(0, 2), slice(2, 5), 5, 6)
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(obs, _expected(2, 0, None, 0.0, False))
    assert info["episode_in_trial"] == 0 and not info["trial_done"]
    # trial 1: task (tid 2, length 2): 3 episodes of 2 steps
    script = [
        # action, expected obs after the step, reward, terminated, episode_in_trial, episode_done
        (1, _expected(2, 1, 1, 21.0, False), 21.0, False, 0, False),
        (0, _expected(2, 0, 0, 20.0, True), 20.0, False, 0, True),  # next episode's first obs
        (2, _expected(2, 1, 2, 22.0, False), 22.0, False, 1, False),
        (2, _expected(2, 0, 2, 22.0, True), 22.0, False, 1, True),
        (0, _expected(2, 1, 0, 20.0, False), 20.0, False, 2, False),
        (1, _expected(2, 2, 1, 21.0, True), 21.0, True, 2, True),  # trial ends: final obs
    ]
    returns = []
    for action, exp_obs, exp_r, exp_term, exp_ep, exp_done in script:
        obs, reward, terminated, truncated, info = env.step(action)
        np.testing.assert_array_equal(obs, exp_obs)
        assert (reward, terminated, truncated) == (exp_r, exp_term, False)
        assert info["episode_in_trial"] == exp_ep and info["episode_done"] == exp_done
        assert info["trial_done"] == exp_term and info["toy_t"] in (1, 2)
        if exp_done:
            returns.append(info["episode_return"])
            if not exp_term:
                np.testing.assert_array_equal(info["episode_final_obs"], [2, 2])
    assert returns == [41.0, 44.0, 41.0]
    # trial 2 takes the next task of the cycle, then the cycle starts again
    obs, _ = env.reset()
    np.testing.assert_array_equal(obs, _expected(5, 0, None, 0.0, False))
    for _ in range(2):
        _, _, terminated, _, _ = env.step(0)
        assert not terminated
    assert env.step(0)[2]
    assert env.reset()[0][0] == 2


def test_forced_task_and_sampled_order_are_reproducible():
    tasks = [toy_task(i, 1) for i in range(6)]
    env = TrialWrapper(ToyEnv(), episodes_per_trial=1, tasks=tasks, task_order="sample")
    assert env.reset(options={"task": toy_task(7, 1)})[0][0] == 7

    def tids(seed):
        out = [env.reset(seed=seed)[0][0]]
        out += [env.reset()[0][0] for _ in range(30)]
        return out

    first = tids(3)
    assert first == tids(3) and first != tids(4)
    assert set(first) == set(range(6))  # uniform sampling hits every task in 31 draws (p>0.99)


def test_sampled_tasks_come_from_the_train_stream():
    env = TrialWrapper(ToyEnv(), episodes_per_trial=2)
    seen = []
    env.reset(seed=11)
    for _ in range(20):
        task = env.unwrapped.get_task()
        assert task.split == "train" and task.content_split() == "train"
        seen.append(task)
        env.reset()
    assert len(set(seen)) > 5


@pytest.mark.parametrize("k", [0, -1])
def test_episodes_per_trial_must_be_positive(k):
    with pytest.raises(ValueError, match="episodes_per_trial"):
        TrialWrapper(ToyEnv(), episodes_per_trial=k)
    with pytest.raises(ValueError, match="episodes_per_trial"):
        make_trial_vec("KrazyGym/Bandit-v0", 2, episodes_per_trial=k)


def test_bad_task_arguments():
    with pytest.raises(ValueError, match="task_order"):
        TrialWrapper(ToyEnv(), episodes_per_trial=1, task_order="shuffle")
    with pytest.raises(ValueError, match="non-empty"):
        TrialWrapper(ToyEnv(), episodes_per_trial=1, tasks=[])
    with pytest.raises(ValueError, match="family"):
        TrialWrapper(ToyEnv(), episodes_per_trial=1, tasks=BanditEnv().sample_tasks(1))
    with pytest.raises(TypeError, match="TrialVectorWrapper"):
        TrialWrapper(gym.make_vec("KrazyGym/Bandit-v0", 2), episodes_per_trial=1)
    with pytest.raises(ValueError, match="SAME_STEP"):
        TrialVectorWrapper(gym.make_vec("KrazyGym/Bandit-v0", 2, vectorization_mode="sync"), 1)


def test_bandit_trial_checker_and_observation_layout():
    env = TrialWrapper(BanditEnv(k=5), episodes_per_trial=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*different from the unwrapped")
        check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (1 + 5 + 2,) and not obs.any()
    total, pulls = 0.0, 0
    while True:
        obs, reward, terminated, _, info = env.step(3)
        pulls += 1
        total += reward
        assert obs[env.action_slice].tolist() == [0, 0, 0, 1, 0]
        assert obs[env.reward_index] == reward and obs[env.done_index] == 1.0
        if terminated:
            break
    assert pulls == 10 and info["episode_in_trial"] == 9


# -- vector env -----------------------------------------------------------------------------------
def _toy_vec(n):
    return SyncVectorEnv([ToyEnv] * n, autoreset_mode=AutoresetMode.SAME_STEP)


def test_vector_matches_single_wrappers_step_for_step():
    tasks = [toy_task(3, 3)]
    n, k = 4, 3
    venv = TrialVectorWrapper(_toy_vec(n), episodes_per_trial=k, tasks=tasks)
    singles = [TrialWrapper(ToyEnv(), episodes_per_trial=k, tasks=tasks) for _ in range(n)]
    obs, _ = venv.reset(seed=0)
    np.testing.assert_array_equal(obs, np.stack([s.reset(seed=i)[0] for i, s in enumerate(singles)]))
    rng = np.random.default_rng(0)
    trial_ends = 0
    for _ in range(40):
        actions = rng.integers(0, 3, size=n)
        obs, reward, terminated, truncated, info = venv.step(actions)
        for i, single in enumerate(singles):
            s_obs, s_r, s_term, s_trunc, s_info = single.step(int(actions[i]))
            assert reward[i] == s_r and terminated[i] == s_term and not truncated[i]
            assert info["episode_in_trial"][i] == s_info["episode_in_trial"]
            assert info["episode_done"][i] == s_info["episode_done"]
            if s_term:  # SAME_STEP: final_obs holds the trial's last obs, obs the next trial's
                trial_ends += 1
                np.testing.assert_array_equal(info["final_obs"][i], s_obs)
                np.testing.assert_array_equal(obs[i], single.reset()[0])
            else:
                np.testing.assert_array_equal(obs[i], s_obs)
    assert trial_ends == n * (40 // (k * 3))


def test_vector_hands_over_tasks_in_schedule_order():
    tasks = [toy_task(i, 2) for i in range(5)]
    venv = TrialVectorWrapper(_toy_vec(2), episodes_per_trial=2, tasks=tasks)
    obs, _ = venv.reset(seed=0)
    assert obs[:, 0].tolist() == [0, 1]  # first trial: tasks 0 and 1
    seen = [[0], [1]]
    for _ in range(16):  # 4 trials of 2 episodes of 2 steps
        obs, _, terminated, _, _ = venv.step(np.zeros(2, dtype=np.int64))
        for i in np.flatnonzero(terminated):
            seen[i].append(int(obs[i, 0]))
            assert obs[i, 2:].tolist() == [0, 0, 0, 0, 0]  # fresh trial: no previous inputs
    # each env draws its next task when it enters its last episode, env 0 before env 1
    assert seen == [[0, 2, 4, 1, 3], [1, 3, 0, 2, 4]]
    assert [t.tid for t in venv.get_trial_tasks()] == [3, 4]


def test_make_trial_vec_runs_classic_families_in_sync_and_async_mode():
    for mode in ("sync", "async"):
        venv = make_trial_vec("KrazyGym/TabularMDP-v0", 2, episodes_per_trial=2,
                              vectorization_mode=mode)
        obs, _ = venv.reset(seed=1)
        assert obs.shape == (2, 10 + 5 + 2)
        for t in range(20):
            obs, _, terminated, _, info = venv.step(np.array([t % 5, 4]))
            assert venv.observation_space.contains(obs)
            assert terminated.tolist() == [t == 19] * 2
            assert obs[:, -1].tolist() == [float(t == 9)] * 2
        venv.close()


@pytest.mark.parametrize("env_id", ["KrazyGym/Maze-v0", "KrazyGym/KrazyWorld-Easy-v0"])
def test_native_vector_envs_switch_task_exactly_at_trial_ends(env_id):
    kwargs = {"size": 3, "min_distance": 2} if "Maze" in env_id else {}
    single = gym.make(env_id, **kwargs).unwrapped
    tasks = single.sample_tasks(3, split="test")
    venv = make_trial_vec(env_id, 2, episodes_per_trial=2, tasks=tasks, **kwargs)
    obs, _ = venv.reset(seed=0)
    assert venv.get_trial_tasks() == tasks[:2]
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(400):
        obs, _, terminated, _, info = venv.step(rng.integers(0, 4, size=2))
        assert list(venv.get_attr("task")) == venv.get_trial_tasks()
        for i in np.flatnonzero(terminated):
            ends += 1
            first, _ = single.reset(options={"task": venv.get_trial_tasks()[i]})
            np.testing.assert_array_equal(obs[i, venv.obs_slice], first)
            assert info["final_obs"][i][venv.done_index] == 1.0
    assert ends >= 4
    # the cycle hands tasks out in order, trial after trial
    assert venv.get_trial_tasks()[0] in tasks


def test_box_actions_are_passed_raw_and_discrete_observations_one_hot():
    env = TrialWrapper(gym.make("KrazyGym/Navigation2D-v0"), episodes_per_trial=2)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2 + 2 + 2,)
    action = np.array([0.05, -0.3], dtype=np.float32)
    obs, reward, *_ = env.step(action)
    np.testing.assert_allclose(obs[env.obs_slice], [0.05, -0.1])  # the env clipped the move
    np.testing.assert_array_equal(obs[env.action_slice], action)  # the input shows the action
    assert obs[env.reward_index] == np.float32(reward)

    env = TrialWrapper(gym.make("KrazyGym/TabularMDP-v0"), episodes_per_trial=1)
    obs, _ = env.reset(seed=0)
    assert obs[env.obs_slice].tolist() == [1.0] + [0.0] * 9  # state 0, one-hot


def test_space_encoder():
    from krazy_gym.wrappers import SpaceEncoder

    enc = SpaceEncoder(spaces.MultiDiscrete([2, 3]))
    assert enc.size == 5
    np.testing.assert_array_equal(enc.encode(np.array([1, 2])), [0, 1, 0, 0, 1])
    np.testing.assert_array_equal(enc.encode_batch(np.array([[0, 0], [1, 1]])),
                                  [[1, 0, 1, 0, 0], [0, 1, 0, 1, 0]])
    enc = SpaceEncoder(spaces.Discrete(3, start=-1))
    np.testing.assert_array_equal(enc.encode(-1), [1, 0, 0])
    enc = SpaceEncoder(spaces.Box(-np.inf, np.inf, shape=(2, 2)))
    assert enc.size == 4 and np.isfinite(enc.low).all()
    enc = SpaceEncoder(spaces.Tuple((spaces.Discrete(2), spaces.Box(0, 1, (1,)))))
    np.testing.assert_array_equal(enc.encode((1, np.array([0.5]))), [0, 1, 0.5])
