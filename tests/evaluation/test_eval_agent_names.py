"""Built-in agent names on ``krazy-gym evaluate --agent`` (random, sb3, oracle, baselines)."""

from __future__ import annotations

import json

import pytest

from krazy_gym.evaluation.agents import BUILTIN_AGENTS, AgentSpecError, resolve_agent_spec
from krazy_gym.evaluation.cli import main
from krazy_gym.evaluation.results import read_results


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_resolve_agent_spec():
    assert resolve_agent_spec("random") == "krazy_gym.evaluation.agents:random_agent"
    assert resolve_agent_spec("baselines") == "baselines.agents:make"
    assert resolve_agent_spec("mypkg.agents:make") == "mypkg.agents:make"
    with pytest.raises(AgentSpecError, match=r"unknown agent 'sb' \(did you mean 'sb3'\?\).*"
                                             r"built-in name: random, sb3, oracle, baselines"):
        resolve_agent_spec("sb")
    with pytest.raises(AgentSpecError, match="must be a string"):
        resolve_agent_spec(3)


def test_short_name_runs_the_same_agent_as_its_spec(toy_benchmarks, tmp_path, capsys):
    outs = {}
    for agent in ("random", "krazy_gym.evaluation.agents:random_agent"):
        out = tmp_path / f"{agent.split(':')[0]}.json"
        code, _, err = run(["evaluate", "--agent", agent, "--benchmark", "ToyBandit", "--seeds",
                            "2", "--out", str(out), "--no-progress"], capsys)
        assert code == 0, err
        outs[agent] = read_results(out)
    short, full = outs.values()
    assert short["agent"] == full["agent"] == {
        "name": "RandomAgent", "factory": "krazy_gym.evaluation.agents:random_agent"}
    assert short["returns"] == full["returns"]


def test_unknown_name_exits_2_listing_the_names(toy_benchmarks, tmp_path, capsys):
    code, _, err = run(["evaluate", "--agent", "rnadom", "--benchmark", "ToyBandit", "--seeds",
                        "1", "--out", str(tmp_path / "r.json")], capsys)
    assert code == 2
    assert "unknown agent 'rnadom' (did you mean 'random'?)" in err
    assert "random, sb3, oracle, baselines" in err
    assert list(tmp_path.iterdir()) == []


def test_help_lists_the_names(capsys):
    code, out, _ = run(["evaluate", "--help"], capsys)
    assert code == 0
    flat = " ".join(out.split())
    for name, (_, what) in BUILTIN_AGENTS.items():
        assert f"{name} ({' '.join(what.split())})" in flat


@pytest.mark.parametrize("env,message", [
    ({}, "the sb3 agent needs KRAZY_GYM_SB3_MODEL"),
    ({"KRAZY_GYM_SB3_MODEL": "missing.zip"}, "KRAZY_GYM_SB3_MODEL='missing.zip' is not a file"),
    ({"KRAZY_GYM_SB3_DETERMINISTIC": "maybe"},
     "KRAZY_GYM_SB3_DETERMINISTIC must be one of ['0', '1', 'false', 'no', 'true', 'yes'], "
     "got 'maybe'"),
    ({"KRAZY_GYM_SB3_ALGO": "PPO2"}, "KRAZY_GYM_SB3_ALGO: algo must be one of A2C, DDPG, DQN, "
                                     "PPO, SAC, TD3, ARS, CrossQ, MaskablePPO, QRDQN, "
                                     "RecurrentPPO, TQC, TRPO, got 'PPO2'"),
])
def test_sb3_name_with_bad_settings_exits_2(toy_benchmarks, tmp_path, capsys, monkeypatch,
                                            env, message, sb3_model):
    for key in ("KRAZY_GYM_SB3_MODEL", "KRAZY_GYM_SB3_ALGO", "KRAZY_GYM_SB3_DETERMINISTIC"):
        monkeypatch.delenv(key, raising=False)
    if env:
        monkeypatch.setenv("KRAZY_GYM_SB3_MODEL", str(sb3_model))
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "r.json"
    code, _, err = run(["evaluate", "--agent", "sb3", "--benchmark", "ToyChain", "--seeds", "1",
                        "--out", str(out)], capsys)
    assert code == 2 and message in err
    assert not out.exists()


@pytest.fixture(scope="module")
def sb3_model(tmp_path_factory):
    """A small PPO model on the plain ToyChain env, saved."""
    pytest.importorskip("stable_baselines3")
    import eval_toys  # noqa: F401  (registers KrazyGymTest/ToyChain-v0)
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO

    from krazy_gym.wrappers import to_sb3

    env = gym.make_vec("KrazyGymTest/ToyChain-v0", num_envs=2, vectorization_mode="sync",
                       vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
    with torch.random.fork_rng(devices=[]):
        model = PPO("MlpPolicy", to_sb3(env), n_steps=16, batch_size=32, seed=0, device="cpu")
    path = tmp_path_factory.mktemp("sb3") / "chain_ppo.zip"
    model.save(path)
    env.close()
    return path


def test_sb3_name_scores_a_saved_model(toy_benchmarks, tmp_path, capsys, monkeypatch, sb3_model):
    from krazy_gym.evaluation import evaluate, sb3_agent

    monkeypatch.setenv("KRAZY_GYM_SB3_MODEL", str(sb3_model))
    monkeypatch.setenv("KRAZY_GYM_SB3_ALGO", "PPO")
    monkeypatch.setenv("KRAZY_GYM_SB3_DETERMINISTIC", "0")
    out = tmp_path / "r.json"
    code, _, err = run(["evaluate", "--agent", "sb3", "--benchmark", "ToyChain", "--seeds", "2",
                        "--out", str(out), "--no-progress"], capsys)
    assert code == 0, err
    res = json.loads(out.read_text())
    assert res["agent"] == {"name": "sb3:PPO", "factory": "krazy_gym.evaluation.agents:sb3_from_env"}

    def direct(seed=0):
        return sb3_agent(str(sb3_model), "PPO", deterministic=False, seed=seed)

    again = evaluate(direct, toy_benchmarks["ToyChain"], seeds=2, progress=False)
    assert res["returns"] == again["returns"]  # the same seeded samples
