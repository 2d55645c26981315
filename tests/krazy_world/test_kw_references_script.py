"""benchmarks/kw_references.py: its table keys, hash table, Q-learning and resumable runs."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import krazy_gym  # noqa: F401
from krazy_gym.evaluation import get_benchmark
from krazy_gym.evaluation.oracle import load_oracle


@pytest.fixture(scope="module")
def kwr(load_script):
    return load_script("kw_references")


@pytest.mark.parametrize("preset", ["Easy", "Hard"])
def test_local_state_is_the_local_view_observation(kwr, preset):
    """The window derived from the global observation equals the env's local index
    observation on the same trajectories, and the ``local`` key is equal exactly when it is."""
    env_id = f"KrazyGym/KrazyWorld-{preset}-v0"
    tasks = get_benchmark(f"KrazyWorld-{preset}").tasks()[:8]
    glob = gym.make_vec(env_id, num_envs=8, view="global", obs_mode="index")
    loc = gym.make_vec(env_id, num_envs=8, view="local", obs_mode="index")
    og, _ = glob.reset(seed=0, options={"task": tasks})
    ol, _ = loc.reset(seed=0, options={"task": tasks})
    rng = np.random.default_rng(0)
    size = tasks[0].size
    seen_keys, seen_obs = [], []
    for _ in range(300):
        np.testing.assert_array_equal(kwr.local_window(og, size), ol.astype(np.int64))
        for i in range(8):
            seen_keys.append(kwr.feature_key(og, i, size, kwr.LOCAL, 0))
            seen_obs.append(ol[i].tobytes())
        actions = rng.integers(0, 4, 8)
        og, *_ = glob.step(actions)
        ol, *_ = loc.step(actions)
    pairs = set(zip(seen_keys, seen_obs))
    assert len(pairs) == len(set(seen_keys)) == len(set(seen_obs)) > 50
    assert all(k >= 0 for k in seen_keys)


def test_hash_table_agrees_with_a_dict_across_growth(kwr):
    table = kwr.Table(capacity=16)
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 2**62, 3000)
    keys = np.concatenate([keys, keys[rng.integers(0, 3000, 3000)]])  # repeats
    reference: dict[int, int] = {}
    for k in keys:
        table.reserve(1)
        row = table.row(int(k))
        assert row == reference.setdefault(int(k), len(reference))
    assert table.size == len(reference) == 3000
    assert table.row(2**62 + 5, insert=False) == -1 and table.size == 3000


def test_q_learning_on_the_true_state_reaches_the_oracle(kwr):
    bench = get_benchmark("KrazyWorld-Easy")
    tasks = bench.tasks()[:4]
    rng = np.random.default_rng(0)
    table, _ = kwr.train("Easy", tasks, 300_000, 16, kwr.GLOBAL, rng, 0.1, 0.99, 1.0, 0.05, 0.8)
    returns = kwr.evaluate_greedy("Easy", tasks, table, kwr.GLOBAL, 2, 3, rng)
    assert returns.shape == (3, 4, 2)
    np.testing.assert_array_equal(returns, np.broadcast_to(load_oracle(bench).oracle[:4, None], (3, 4, 2)))


def test_untrained_greedy_play_is_a_random_walk_on_zeros(kwr):
    # an empty table values every state 0: greedy play breaks every tie at random, so it
    # scores like the random agent (exact random expectation, within 4.5 standard errors)
    bench = get_benchmark("KrazyWorld-Easy")
    tasks = bench.tasks()[:2]
    returns = kwr.evaluate_greedy("Easy", tasks, kwr.Table(), kwr.LOCAL, 2, 2000, np.random.default_rng(3))
    random = load_oracle(bench).random[:2]
    for j in range(2):
        x = returns[:, j, 0]
        assert abs(x.mean() - random[j]) < 4.5 * x.std(ddof=1) / np.sqrt(x.size)


def test_a_run_resumes_where_it_stopped(kwr, tmp_path, capsys):
    tiny = ["--presets", "Easy", "--steps", "20000", "--envs-per-task", "4", "--chunk", "1",
            "--eval-seeds", "2", "--state", "local"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert kwr.main([*tiny, "--tasks", "3", "--out", str(straight)]) == 0
    assert kwr.main([*tiny, "--tasks", "2", "--out", str(split)]) == 0
    out = capsys.readouterr().out
    assert "oracle fraction" in out and "cannot collect every goal" in out
    assert kwr.main([*tiny, "--tasks", "3", "--out", str(split)]) == 0
    assert "tasks 2-2" in capsys.readouterr().out  # only the missing task ran
    a = json.loads(next(straight.iterdir()).read_text())
    b = json.loads(next(split.iterdir()).read_text())
    assert a["tasks"] == b["tasks"] and sorted(a["tasks"]) == ["0", "1", "2"]
    with pytest.raises(SystemExit) as exc:
        kwr.main([*tiny, "--tasks", "65", "--out", str(split)])
    assert exc.value.code == 2
