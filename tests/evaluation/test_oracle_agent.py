"""The oracle agent scores the stored oracle bound on every Krazy World test task."""

from __future__ import annotations

import numpy as np
import pytest

from krazy_gym.evaluation import evaluate
from krazy_gym.evaluation.agents import resolve_agent_spec
from krazy_gym.evaluation.oracle import load_oracle
from krazy_gym.evaluation.oracle_agent import OracleAgent, _first_observations


@pytest.mark.parametrize("preset", ["Easy", "Medium", "Hard"])
def test_every_exploit_episode_returns_the_tasks_oracle_bound(preset):
    """The bound is computed by exact search; the agent replays plans and finds the task
    from observations only, so equality checks both (exact: discrete returns)."""
    name = f"KrazyWorld-{preset}"
    results = evaluate("oracle", name, seeds=2, progress=None)
    returns = np.asarray(results["returns"])  # (seeds, tasks, explore + exploit episodes)
    bound = load_oracle(name).oracle
    assert (returns[:, :, 3:] == bound[None, :, None]).all()
    assert results["aggregates"]["score_mean"] == pytest.approx(bound.mean(), abs=1e-12)
    assert results["agent"]["name"] == "krazy_gym:oracle"


def test_tasks_with_the_same_first_observation_are_told_apart_by_stepping():
    from krazy_gym.evaluation.benchmarks import get_benchmark

    bench = get_benchmark("KrazyWorld-Medium")
    import gymnasium as gym

    space = gym.make(bench.env_id).observation_space
    shared = [v for v in _first_observations(space).values() if len(v) > 1]
    assert shared, "the stored boards have at least one shared first observation"
    results = evaluate("oracle", bench, seeds=1, progress=None)
    returns = np.asarray(results["returns"])[0]
    bound = load_oracle(bench).oracle
    for group in shared:
        for b, i in group:
            if b == bench.name:  # identified by the end of the explore phase at the latest
                assert (returns[i, 3:] == bound[i]).all()


def test_non_krazy_world_benchmarks_are_refused_with_a_clear_error():
    from krazy_gym.evaluation.runner import AgentError

    with pytest.raises(AgentError, match="raised ValueError in reset.*Krazy World benchmarks only"):
        evaluate("oracle", "Bandit", seeds=1, progress=None)


def test_oracle_is_a_builtin_agent_name():
    assert resolve_agent_spec("oracle") == "krazy_gym.evaluation.oracle_agent:oracle_agent"
    assert OracleAgent().name == "krazy_gym:oracle"
