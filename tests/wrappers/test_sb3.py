"""to_sb3: the SB3 VecEnv contract, and SB3 PPO / RecurrentPPO training through it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import krazy_gym  # noqa: F401  (registers the ids)
from krazy_gym.maze.task import MazeTask
from krazy_gym.wrappers import make_trial_vec, to_sb3

pytest.importorskip("stable_baselines3")

SERPENTINE = ("#######", "#.....#", "#####.#", "#.....#", "#.#####", "#.....#", "#######")
SERPENTINE_TASK = MazeTask(family="Maze", split="train", index=0, grid=SERPENTINE,
                           start=(0, 0), goal=(2, 2), optimal_length=8)


def _serpentine(start, goal, length):
    return MazeTask(family="Maze", split="train", index=0, grid=SERPENTINE, start=start,
                    goal=goal, optimal_length=length)


def test_vecenv_contract_on_the_native_maze_vector_env():
    venv = to_sb3(gym.make_vec("KrazyGym/Maze-v0", num_envs=3, size=3, min_distance=2,
                               horizon=4))
    # starts whose "up" is a wall, so that every env runs into the horizon
    tasks = [SERPENTINE_TASK, _serpentine((1, 1), (0, 0), 4), _serpentine((2, 2), (0, 0), 8)]
    venv.seed(11)
    venv.set_options([{"task": t} for t in tasks])
    obs = venv.reset()
    assert obs.shape == (3, 9) and venv.get_attr("task") == tasks
    assert venv.get_attr("task", indices=[2]) == [tasks[2]]
    assert venv.env_method("get_task") == tasks
    venv.set_attr("task", tasks[1], indices=[0])  # applies at env 0's next reset
    for t in range(4):
        obs, rewards, dones, infos = venv.step(np.zeros(3, dtype=np.int64))  # always "up"
        assert rewards.dtype == np.float32 and len(infos) == 3
        assert dones.tolist() == [t == 3] * 3
    for i in range(3):
        np.testing.assert_array_equal(infos[i]["terminal_observation"], obs[i] * 0 + (
            [1, 1, 1, 1, 0, 0, 1, 1, 1] if i == 0 else [1, 1, 1, 0, 0, 0, 1, 1, 1]
            if i == 1 else [1, 1, 1, 0, 0, 1, 1, 1, 1]))
        assert infos[i]["TimeLimit.truncated"] and infos[i]["steps"] == 4
    assert venv.get_attr("task") == [tasks[1], tasks[1], tasks[2]]
    np.testing.assert_array_equal(obs[0], [1, 1, 1, 0, 0, 0, 1, 1, 1])  # env 0: new start (1,1)
    venv.close()


def test_to_sb3_rejects_next_step_autoreset():
    with pytest.raises(ValueError, match="SAME_STEP"):
        to_sb3(gym.make_vec("KrazyGym/Bandit-v0", num_envs=2, vectorization_mode="sync"))
    with pytest.raises(TypeError, match="VectorEnv"):
        to_sb3(gym.make("KrazyGym/Bandit-v0"))


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Torch's default thread pool only adds contention on a small shared machine."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_ppo_learns_a_fixed_maze_through_the_adapter():
    """PPO's returns on one small maze rise well above the untrained policy's.

    Task: the serpentine maze, goal 3 moves away (right, right, down), horizon 30. The
    untrained (near-uniform) policy averages about 0.2; a few thousand steps of PPO reach
    about 0.8 (the optimum is 1 - 3/30 = 0.9).
    """
    from stable_baselines3 import PPO
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecMonitor

    envs = gym.make_vec("KrazyGym/Maze-v0", num_envs=8, size=3, min_distance=2,
                        view="global", horizon=30)
    envs.unwrapped.set_tasks(_serpentine((0, 0), (1, 2), 3))
    venv = VecMonitor(to_sb3(envs))
    venv.seed(0)
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=128, n_epochs=4, seed=0,
                device="cpu", policy_kwargs={"net_arch": [32, 32]})
    before, _ = evaluate_policy(model, venv, n_eval_episodes=64, deterministic=False,
                                warn=False)
    model.learn(6_144)
    after, _ = evaluate_policy(model, venv, n_eval_episodes=64, deterministic=False,
                                warn=False)
    assert after > before + 0.3
    assert after <= 1 - 3 / 30 + 1e-6  # never better than the optimal path


def test_ppo_trains_on_krazy_world_easy():
    """A few thousand PPO steps on a Krazy World preset through to_sb3 (with VecMonitor)."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    spec = gym.spec("KrazyGym/KrazyWorld-Easy-v0")
    try:
        gym.make("KrazyGym/KrazyWorld-Easy-v0")
    except (ImportError, ModuleNotFoundError):  # pragma: no cover - until the engine exists
        pytest.skip("Krazy World is not available")
    mode = "vector_entry_point" if spec.vector_entry_point else "sync"
    try:
        envs = gym.make_vec("KrazyGym/KrazyWorld-Easy-v0", num_envs=4, vectorization_mode=mode)
    except (ImportError, ModuleNotFoundError, AttributeError):
        envs = gym.make_vec(
            "KrazyGym/KrazyWorld-Easy-v0", num_envs=4, vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
        )
    venv = VecMonitor(to_sb3(envs))
    model = PPO("MlpPolicy", venv, n_steps=128, batch_size=256, n_epochs=2, seed=0, device="cpu")
    start = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(2_048)
    assert model.num_timesteps == 2_048
    lengths = [ep["l"] for ep in model.ep_info_buffer]
    assert lengths and max(lengths) <= 24  # the preset's horizon
    assert any(not np.allclose(a, b.detach()) for a, b in zip(start, model.policy.parameters()))


def test_recurrent_ppo_runs_on_rl2_trials():
    sb3_contrib = pytest.importorskip("sb3_contrib")
    venv = to_sb3(make_trial_vec("KrazyGym/Bandit-v0", 4, episodes_per_trial=10))
    model = sb3_contrib.RecurrentPPO("MlpLstmPolicy", venv, n_steps=40, batch_size=80,
                                     n_epochs=1, seed=0, device="cpu",
                                     policy_kwargs={"lstm_hidden_size": 16})
    model.learn(320)
    assert model.num_timesteps == 320
    obs = venv.reset()
    assert obs.shape == (4, 1 + 5 + 2)


def _bandit_trials(num_envs: int, k: int = 4):
    return to_sb3(make_trial_vec("KrazyGym/Bandit-v0", num_envs, episodes_per_trial=k))


def test_episode_statistics_equal_vecmonitors_at_every_episode_end():
    """``infos[i]["episode"]`` on done steps only: the return summed in the test, the trial
    length, and exactly VecMonitor's values; wrapping in VecMonitor warns about nothing."""
    import warnings

    from stable_baselines3.common.vec_env import VecMonitor

    plain = _bandit_trials(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monitored = VecMonitor(_bandit_trials(3))
    plain.seed(0)
    monitored.seed(0)
    plain.reset()
    monitored.reset()
    rng = np.random.default_rng(0)
    returns, lengths, ends = np.zeros(3), np.zeros(3, dtype=int), 0
    for _ in range(14):
        actions = rng.integers(0, 5, size=3)
        _, rewards, dones, infos = plain.step(actions)
        _, rewards_m, dones_m, infos_m = monitored.step(actions)
        np.testing.assert_array_equal(rewards, rewards_m)
        np.testing.assert_array_equal(dones, dones_m)
        returns += rewards
        lengths += 1
        for i in range(3):
            if not dones[i]:
                assert "episode" not in infos[i] and "episode" not in infos_m[i]
                continue
            ends += 1
            ours, theirs = infos[i]["episode"], infos_m[i]["episode"]
            assert ours["r"] == pytest.approx(returns[i], abs=1e-6) and ours["l"] == lengths[i] == 4
            assert ours["r"] == theirs["r"] and ours["l"] == theirs["l"]
            assert isinstance(ours["t"], float) and ours["t"] >= 0
            returns[i], lengths[i] = 0.0, 0
    assert ends == 9  # 14 steps of 4-pull trials in 3 envs: 3 trials each
    plain.close()
    monitored.close()


def test_sb3_logs_each_episode_once_with_or_without_vecmonitor():
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    buffers = []
    for venv in (_bandit_trials(4), VecMonitor(_bandit_trials(4))):
        model = PPO("MlpPolicy", venv, n_steps=20, batch_size=40, n_epochs=1, seed=0,
                    device="cpu", policy_kwargs={"net_arch": [8]})
        model.learn(80)  # one rollout of 20 steps x 4 envs: 5 trials of 4 pulls per env
        buffers.append([(ep["r"], ep["l"]) for ep in model.ep_info_buffer])
        venv.close()
    assert len(buffers[0]) == 20 and buffers[0] == buffers[1]
    assert all(length == 4 for _, length in buffers[0])
