"""The agents that ship with the harness: random and stable-baselines3 adapters."""

from __future__ import annotations

import eval_toys
import numpy as np
import pytest
from gymnasium import spaces

from krazy_gym.evaluation import MetaAgent, RandomAgent, evaluate
from krazy_gym.evaluation.agents import AgentSpecError, check_agent, load_factory


def test_random_agent_is_a_metaagent_and_uniform():
    agent = RandomAgent(seed=1)
    assert isinstance(agent, MetaAgent)
    agent.reset(4000, spaces.Box(0, 1, (1,)), spaces.Discrete(3, start=2))
    a = agent.act(np.zeros((4000, 1)))
    assert a.shape == (4000,) and set(np.unique(a)) == {2, 3, 4}
    assert abs(np.mean(a == 3) - 1 / 3) < 0.03
    agent.reset(3, None, spaces.Box(-2.0, 1.0, (5,), np.float32))
    b = agent.act(np.zeros((3, 1)))
    assert b.shape == (3, 5) and b.dtype == np.float32 and (b >= -2).all() and (b <= 1).all()
    again = RandomAgent(seed=1)
    again.reset(4000, None, spaces.Discrete(3, start=2))
    np.testing.assert_array_equal(again.act(None), a)


def test_random_agent_on_toy_bandit_scores_chance():
    bench = eval_toys.bandit_benchmark(num_test_tasks=12)
    res = evaluate("krazy_gym.evaluation.agents:random_agent", bench, seeds=20, progress=False)
    assert res["aggregates"]["score_mean"] == pytest.approx(0.25, abs=0.06)


def test_sb3_adapter_uses_predict_and_gets_the_analytic_score():
    bench = eval_toys.chain_benchmark(env_kwargs={"start_noise": False})
    res = evaluate(eval_toys.sb3_right, bench, seeds=1, progress=False)
    assert res["agent"]["name"] == "SB3PolicyAgent"
    expected = [[eval_toys_return(t)] * 4 for t in bench.tasks()]
    assert res["returns"][0] == expected


def eval_toys_return(task) -> float:
    total = 0.0
    for _ in range(task.goal - 1):
        total += -task.penalty
    return total + 1.0


@pytest.mark.slow  # importing torch + stable-baselines3 takes ~30 s on the shared machine
def test_sb3_adapter_with_a_real_ppo_policy_is_deterministic():
    pytest.importorskip("stable_baselines3")
    bench = eval_toys.chain_benchmark(num_test_tasks=4)
    a = evaluate(eval_toys.sb3_untrained_ppo, bench, seeds=1, progress=False)
    b = evaluate(eval_toys.sb3_untrained_ppo, bench, seeds=1, progress=False)
    assert a["returns"] == b["returns"]
    lengths = np.asarray(a["exploration_metrics"]["episode_length"])
    assert lengths.min() >= 1 and lengths.max() <= eval_toys.HORIZON


def test_check_agent_and_load_factory_errors():
    with pytest.raises(AgentSpecError, match="missing method"):
        check_agent(object())
    with pytest.raises(AgentSpecError, match="package.module:factory"):
        load_factory("no_colon")
    with pytest.raises(AgentSpecError, match="not callable"):
        load_factory("eval_toys:HORIZON")
    assert load_factory("eval_toys:always_right") is eval_toys.always_right
