"""The stored oracle files of the Krazy World benchmarks and the oracle fraction.

* every stored optimal action sequence, replayed in ``gym.make(benchmark env)``, gets the
  stored bound and ends the episode at its last action;
* a harness run of an agent that plays those sequences scores the bound on every task, i.e.
  oracle fraction exactly 1;
* stored values equal a fresh search (a few tasks here, every task in the slow test);
* the fraction against hand-computed values; missing and stale files are clear errors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from krazy_gym.evaluation import evaluate, get_benchmark, summary_table
from krazy_gym.evaluation import oracle as oracle_mod
from krazy_gym.evaluation.metrics import oracle_fraction, oracle_fractions
from krazy_gym.evaluation.oracle import (
    OracleUnavailableError,
    benchmark_horizon,
    compare,
    compute_oracle,
    load_oracle,
    read_oracle_file,
)

KW = ("KrazyWorld-Easy", "KrazyWorld-Medium", "KrazyWorld-Hard")


@pytest.mark.parametrize("name", KW)
def test_stored_action_sequences_replay_to_the_stored_bound(name):
    bench = get_benchmark(name)
    table = load_oracle(bench)
    env = bench.make_env()
    try:
        for i, task in enumerate(bench.tasks()):
            env.reset(seed=0, options={"task": task})
            total, ends = 0.0, []
            for a in table.actions[i]:
                _, reward, terminated, truncated, info = env.step(a)
                total += reward
                ends.append(terminated or truncated)
            assert total == table.oracle[i], i
            assert ends[-1] and not any(ends[:-1]), i
            assert info["goals"] == table.oracle_goals[i]
            assert len(table.actions[i]) <= benchmark_horizon(bench)
    finally:
        env.close()


@pytest.mark.parametrize("name", KW)
def test_stored_bounds_respect_the_board_invariants(name):
    bench = get_benchmark(name)
    table = load_oracle(bench)
    # every board has a reachable goal (the generator checks it), death_reward is 0, so the
    # bound is the number of goals the best episode collects, at most all of them
    assert np.all(table.oracle >= 1.0)
    np.testing.assert_array_equal(table.oracle, table.oracle_goals)
    assert np.all(table.oracle_goals <= table.goals_on_board)
    assert np.all((table.random > 0) & (table.random < table.oracle))
    assert table.horizon == {"KrazyWorld-Easy": 24, "KrazyWorld-Medium": 50, "KrazyWorld-Hard": 100}[name]


class _Replay:
    """Plays stored action sequences, one per row (rows = test tasks in order)."""

    def __init__(self, plans):
        self.plans = plans

    def reset(self, num_tasks, observation_space, action_space):
        assert num_tasks == len(self.plans)
        self.step = np.zeros(num_tasks, dtype=np.int64)

    def act(self, obs):
        return np.array([p[s] if s < len(p) else 0 for p, s in zip(self.plans, self.step)], dtype=np.int64)

    def observe(self, obs, action, reward, next_obs, terminated, truncated):
        self.step += 1
        self.step[np.logical_or(terminated, truncated)] = 0

    def adapt(self):
        self.step[:] = 0


@pytest.mark.parametrize("name", ["KrazyWorld-Easy", "KrazyWorld-Hard"])
def test_an_agent_playing_the_oracle_scores_fraction_one_through_the_harness(name):
    bench = get_benchmark(name)
    table = load_oracle(bench)
    results = evaluate(lambda: _Replay(table.actions), name, seeds=1, batch_size=bench.num_test_tasks, progress=False)
    np.testing.assert_array_equal(np.asarray(results["returns"])[0], np.repeat(table.oracle[:, None], bench.episodes, 1))
    frac = oracle_fraction(results, reps=200)
    assert frac["per_task"] == [1.0] * bench.num_test_tasks
    assert frac["mean"] == {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    assert frac["ratio_of_means"] == pytest.approx(1.0, abs=1e-12)
    assert f"{name} · _Replay: mean 1.000 [1.000, 1.000]" in summary_table(results)


def test_oracle_fraction_hand_computed():
    bench = get_benchmark("KrazyWorld-Medium")
    table = load_oracle(bench)
    o, r = table.oracle, table.random
    n = o.size
    # seed 0 scores halfway between random and oracle, seed 1 the random expectation
    returns = np.zeros((2, n, bench.episodes))
    returns[0, :, bench.explore_episodes :] = (r + 0.5 * (o - r))[:, None]
    returns[1, :, bench.explore_episodes :] = r[:, None]
    returns[0, :, 0] = 7.0  # explore episodes do not count
    fr = oracle_fractions(returns, bench)
    np.testing.assert_allclose(fr, np.stack([np.full(n, 0.5), np.zeros(n)]), atol=1e-12)
    out = oracle_fraction(returns, bench, reps=200)
    assert out["mean"]["value"] == pytest.approx(0.25, abs=1e-12)
    assert out["per_task"] == pytest.approx([0.25] * n, abs=1e-12)
    expected_ratio = (np.mean(r + 0.25 * (o - r)) - r.mean()) / (o - r).mean()
    assert out["ratio_of_means"] == pytest.approx(expected_ratio, abs=1e-12)
    with pytest.raises(ValueError, match="benchmark is required"):
        oracle_fraction(returns)
    with pytest.raises(ValueError, match="test tasks"):
        oracle_fractions(returns[:, :5], bench)


def test_benchmarks_without_an_oracle_and_stale_files_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(OracleUnavailableError, match="KrazyWorld-Easy, KrazyWorld-Medium, KrazyWorld-Hard"):
        load_oracle("Bandit")
    bench = get_benchmark("KrazyWorld-Easy")
    stored = oracle_mod.oracle_path(bench).read_text(encoding="utf-8")
    data = json.loads(stored)
    data["header"]["horizon"] = 23
    fake = tmp_path / "oracle.json"
    fake.write_text(json.dumps(data), encoding="utf-8")
    before = fake.read_bytes()
    monkeypatch.setattr(oracle_mod, "oracle_path", lambda b: fake)
    oracle_mod._CACHE.clear()
    with pytest.raises(OracleUnavailableError, match="python -m krazy_gym.evaluation.oracle KrazyWorld-Easy"):
        load_oracle(bench)
    assert oracle_mod.main(["KrazyWorld-Easy", "--check"]) == 1
    assert fake.read_bytes() == before  # --check writes nothing
    fake.unlink()
    with pytest.raises(OracleUnavailableError, match="no oracle file"):
        read_oracle_file(bench)
    oracle_mod._CACHE.clear()
    assert oracle_mod.main(["Bandit"]) == 2
    assert oracle_mod.main(["NoSuchBenchmark"]) == 2
    assert not fake.exists()


def test_write_oracle_round_trips_through_the_file(tmp_path, monkeypatch):
    bench = get_benchmark("KrazyWorld-Easy")
    target = tmp_path / "oracle.json"
    monkeypatch.setattr(oracle_mod, "oracle_path", lambda b: target)
    oracle_mod._CACHE.clear()
    try:
        oracle_mod.write_oracle(bench)
        assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()
        assert read_oracle_file(bench)["tasks"] == json.loads(
            (oracle_mod.Path(oracle_mod.__file__).with_name("oracle-KrazyWorld-Easy-v1.json")).read_text()
        )["tasks"]
    finally:
        oracle_mod._CACHE.clear()


def _umask() -> int:
    from krazy_gym.atomic_io import current_umask

    return current_umask()


@pytest.mark.parametrize("name", KW)
def test_stored_values_equal_a_fresh_search(name):
    bench = get_benchmark(name)
    rows = read_oracle_file(bench)["tasks"]
    if name == "KrazyWorld-Hard":  # the 4 smallest searches and a big one (483k states)
        indices = [*sorted(range(len(rows)), key=lambda i: rows[i]["states"])[:4], 1]
    else:  # every task (well under a second)
        indices = list(range(len(rows)))
    assert compare({"tasks": rows}, compute_oracle(bench, indices=indices)) == []


@pytest.mark.slow
def test_every_stored_oracle_file_equals_a_fresh_search():
    assert oracle_mod.main(["--check"]) == 0
