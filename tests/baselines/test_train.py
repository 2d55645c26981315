"""The training CLI: exact resume, bad input (exit 2), learning-curve files, the MetaAgent adapter."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from baselines import agents  # noqa: E402
from baselines.common.checkpoint import load_checkpoint  # noqa: E402
from baselines.common.logger import read_progress  # noqa: E402
from baselines.common.meta_learning import TIME_COLUMNS, process_batch  # noqa: E402
from baselines.common.objectives import adapt  # noqa: E402
from baselines.common.sampler import MetaSampler  # noqa: E402
from baselines.train import main  # noqa: E402

ENV = "KrazyGym/Navigation2D-v0"
TINY = [
    "--set",
    "num_tasks=2",
    "--set",
    "episodes_per_task=2",
    "--set",
    "max_episode_steps=8",
    "--set",
    "hidden_sizes=(8,)",
    "--set",
    "progress=false",
    "--set",
    "plot_every=1",
]


def _train(out, algo, iterations, resume=False, seed=3):
    args = ["--algo", algo, "--env", ENV, "--out", str(out), "--iterations", str(iterations)]
    args += ["--resume"] if resume else ["--seed", str(seed), *TINY]
    return main(args)


def _deterministic_rows(out):
    return [{k: v for k, v in r.items() if k not in TIME_COLUMNS} for r in read_progress(out)]


@pytest.mark.parametrize("algo", ["maml-trpo", "emaml-vpg", "promp", "dice"])
def test_four_iterations_equal_two_plus_resume_plus_two(tmp_path, algo):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert _train(straight, algo, 4) == 0
    assert _train(split, algo, 2) == 0
    assert load_checkpoint(split).iteration == 2
    assert _train(split, algo, 4, resume=True) == 0
    a, b = load_checkpoint(straight), load_checkpoint(split)
    assert a.iteration == b.iteration == 4
    for name, tensor in a.state["policy"].items():
        assert torch.equal(tensor, b.state["policy"][name]), name
    assert a.rng["numpy"] == b.rng["numpy"]
    assert torch.equal(a.rng["torch"]["state"], b.rng["torch"]["state"])
    assert _deterministic_rows(straight) == _deterministic_rows(split)
    assert len(read_progress(split)) == 4
    png = (split / "learning_curve.png").read_bytes()
    assert png[:4] == b"\x89PNG"
    assert a.state["env_steps"] == b.state["env_steps"] > 0


def test_different_seeds_give_different_runs(tmp_path):
    assert _train(tmp_path / "a", "promp", 1, seed=0) == 0
    assert _train(tmp_path / "b", "promp", 1, seed=1) == 0
    assert _deterministic_rows(tmp_path / "a") != _deterministic_rows(tmp_path / "b")


def _err(capsys):
    return capsys.readouterr().err


def test_bad_input_exits_2_with_a_clear_message(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--algo", "nope", "--env", ENV, "--out", str(out)]) == 2
    assert "unknown --algo 'nope'" in _err(capsys)
    assert main(["--algo", "promp", "--env", "KrazyGym/Nope-v0", "--out", str(out)]) == 2
    assert "unknown --env 'KrazyGym/Nope-v0'" in _err(capsys)
    assert main(["--algo", "promp", "--env", ENV, "--out", str(out), "--set", "bogus=1"]) == 2
    assert "unknown config key 'bogus'" in _err(capsys)
    assert main(["--algo", "promp", "--env", ENV, "--out", str(out), "--set", "clip_eps=2"]) == 2
    assert "clip_eps" in _err(capsys)
    assert main(["--algo", "promp", "--env", ENV, "--out", str(out), "--resume"]) == 2
    assert "no checkpoint" in _err(capsys)
    assert not (out / "checkpoint.pt").exists()
    assert _train(out, "promp", 1) == 0
    capsys.readouterr()
    assert main(["--algo", "maml-trpo", "--env", ENV, "--out", str(out), "--resume"]) == 2
    assert "written by algo 'promp', not 'maml-trpo'" in _err(capsys)
    assert (
        main(["--algo", "promp", "--env", "KrazyGym/Bandit-v0", "--out", str(out), "--resume"]) == 2
    )
    assert "not 'KrazyGym/Bandit-v0'" in _err(capsys)
    assert _train(out, "promp", 2) == 2  # fresh run into a directory with a checkpoint
    assert "already holds a checkpoint" in _err(capsys)
    assert load_checkpoint(out).iteration == 1  # nothing was overwritten
    with pytest.raises(SystemExit) as exc:
        main(["--algo", "promp"])  # argparse: missing --env/--out
    assert exc.value.code == 2


def test_paper_config_and_overrides_land_in_the_checkpoint(tmp_path):
    out = tmp_path / "run"
    assert (
        main(
            [
                "--algo",
                "maml-vpg",
                "--env",
                ENV,
                "--out",
                str(out),
                "--config",
                "paper",
                "--iterations",
                "1",
                *TINY,
                "--set",
                "tensorboard=true",
            ]
        )
        == 0
    )
    cfg = load_checkpoint(out).config
    assert cfg["algo"] == "maml-vpg" and cfg["outer"] == "vpg"
    assert list((out / "tb").glob("events.out.tfevents.*"))  # --set tensorboard=true
    assert cfg["activation"] == "relu"  # MAML paper's Navigation2D policy
    assert cfg["hidden_sizes"] == (8,)  # --set wins over --config paper


def test_tensorboard_without_the_package_is_a_usage_error(tmp_path, capsys, monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorboard" else real_find_spec(name, *a),
    )
    out = tmp_path / "run"
    argv = ["--algo", "maml-vpg", "--env", ENV, "--out", str(out), "--iterations", "1", *TINY]
    assert main([*argv, "--set", "tensorboard=true"]) == 2
    assert "needs the tensorboard package" in _err(capsys)
    assert not out.exists()  # nothing written


def test_meta_agent_explores_with_theta_and_adapts_like_training(tmp_path):
    out = tmp_path / "run"
    assert _train(out, "promp", 1) == 0
    agent = agents.load(out)
    ckpt = load_checkpoint(out)
    sampler = MetaSampler(ENV, num_tasks=2, episodes_per_task=3, max_episode_steps=8)
    import gymnasium as gym

    tasks = gym.make(ENV).unwrapped.sample_tasks(2, split="test")
    policy = agent.policy
    theta = {n: p.detach() for n, p in policy.parameters_dict().items()}
    for name, value in ckpt.state["policy"].items():
        assert torch.equal(theta[name], value)
    batch = sampler.sample(
        policy, theta, tasks, np.random.default_rng(0), torch.Generator().manual_seed(0)
    )
    agent.reset(2, sampler.obs_space, sampler.action_space)
    for name in theta:  # explore episodes use the pre-update policy
        assert torch.equal(agent.params[name][0], theta[name])
    # replay the sampled episodes into the agent, step by step, tasks in lockstep
    k, e, t = batch.mask.shape
    for ep in range(e):
        for step in range(t):
            if batch.mask[0, ep, step] == 0 and batch.mask[1, ep, step] == 0:
                break
            agent._last_raw = batch.actions[:, ep, step]
            last = step + 1 == t or batch.mask[:, ep, step + 1] == 0
            agent.observe(
                batch.obs[:, ep, step],
                None,
                batch.rewards[:, ep, step],
                None,
                np.zeros(k, bool),
                last,
            )
    agent.adapt()
    data, _ = process_batch(batch, 0.99, 1.0, True)
    expected = adapt("lvc", policy, policy.parameters_dict(), [data], 0.1, create_graph=False)[-1]
    for name in expected:
        torch.testing.assert_close(agent.params[name], expected[name].detach())
        assert not torch.equal(agent.params[name][0], theta[name]) or name == "log_std"
    actions = agent.act(batch.obs[:, 0, 0])
    assert actions.shape == (2, 2) and np.all(np.abs(actions) <= 0.1)
    sampler.close()


def test_meta_agent_drops_idle_rows_and_splits_episodes(tmp_path):
    out = tmp_path / "run"
    assert _train(out, "maml-vpg", 1) == 0
    agent = agents.load(out, seed=0)
    import gymnasium as gym

    env = gym.make(ENV)
    agent.reset(2, env.observation_space, env.action_space)
    obs = np.zeros((2, 2), np.float32)
    # task 0: episodes of 1 and 2 steps, then idle for 1 step; task 1: one 4-step episode
    done0 = [True, False, True, False]
    done1 = [False, False, False, True]
    active0 = [True, True, True, False]
    for s in range(4):
        agent.act(obs + s)
        agent.observe(
            obs + s,
            None,
            np.array([1.0, 2.0]),
            None,
            np.zeros(2, bool),
            np.array([done0[s], done1[s]]),
            active=np.array([active0[s], True]),
        )
    batch = agent._episode_batch()
    np.testing.assert_array_equal(batch.mask.sum(-1), [[1, 2], [4, 0]])
    np.testing.assert_array_equal(batch.obs[0, 1, :2, 0], [1.0, 2.0])  # steps 1 and 2 of task 0
    assert batch.rewards[0].sum() == 3.0 and batch.rewards[1].sum() == 8.0
    agent.adapt()
    assert agent.adapted


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["promp", "maml-trpo"])
def test_navigation2d_post_update_beats_pre_update(tmp_path, algo):
    """A short real training run: after 8 iterations the adapted policy is clearly better."""
    out = tmp_path / algo
    args = [
        "--algo",
        algo,
        "--env",
        ENV,
        "--out",
        str(out),
        "--iterations",
        "8",
        "--seed",
        "0",
        "--set",
        "num_tasks=8",
        "--set",
        "episodes_per_task=8",
        "--set",
        "progress=false",
    ]
    assert main(args) == 0
    rows = read_progress(out)[-4:]
    pre = np.mean([r["pre_return"] for r in rows])
    post = np.mean([r["post_return"] for r in rows])
    first = read_progress(out)[0]["pre_return"]
    assert post > pre + 5.0  # returns are about -40 (pre) and -20 (post) on this budget
    assert pre > first  # the meta-learned initialisation itself improved


def test_pre_entropy_is_logged_and_the_bonus_gradient_is_the_entropy_gradient(tmp_path):
    """``pre_entropy`` in progress.csv is the pre-update policy's mean entropy on its own steps,
    recomputed here from the softmax; ``entropy_bonus`` is coef × that, with its gradient."""
    from baselines.common.objectives import masked_entropy
    from baselines.emaml import EMAML, Config

    cfg = Config(env_id="KrazyGym/KrazyWorld-Easy-v0", num_tasks=3, episodes_per_task=2,
                 hidden_sizes=(8,), progress=False, pre_entropy_coef=0.25, seed=1)
    learner = EMAML(cfg)
    pre, post, stats = learner.collect()
    theta = learner.policy.parameters_dict()
    with torch.no_grad():
        logits = learner.policy.dist_info(theta, pre[0]["obs"])["logits"]
        p = torch.softmax(logits.double(), -1)
        per_step = -(p * torch.log(p)).sum(-1)
        mask = pre[0]["mask"].double()
        expected = float((per_step * mask).sum() / mask.sum())
    assert stats["pre_entropy"] == pytest.approx(expected, rel=1e-5)
    assert 0 < expected <= np.log(4) + 1e-6
    bonus = learner.entropy_bonus(pre, differentiable=True)
    assert float(bonus.detach()) == pytest.approx(0.25 * expected, rel=1e-5)
    g_bonus = torch.autograd.grad(bonus, list(learner.policy.parameters()))
    ent = masked_entropy(learner.policy, learner.policy.parameters_dict(), pre[0])
    g_ent = torch.autograd.grad(ent, list(learner.policy.parameters()))
    for a, b in zip(g_bonus, g_ent):
        torch.testing.assert_close(a, 0.25 * b, rtol=1e-5, atol=1e-7)
    learner.close()


def test_pre_entropy_bonus_keeps_the_pre_update_policy_exploring(tmp_path):
    """Real training, fixed seed: ProMP's pre-update entropy falls without the bonus and stays
    near uniform (log 4 = 1.386 nats) with a large one."""
    base = ["--algo", "promp", "--env", "KrazyGym/KrazyWorld-Easy-v0", "--iterations", "12",
            "--seed", "0", "--set", "num_tasks=8", "--set", "episodes_per_task=3",
            "--set", "hidden_sizes=(16,)", "--set", "progress=false", "--set", "outer_lr=0.01"]
    assert main([*base, "--out", str(tmp_path / "plain")]) == 0
    assert main([*base, "--out", str(tmp_path / "bonus"), "--set", "pre_entropy_coef=1.0"]) == 0
    plain = read_progress(tmp_path / "plain")
    bonus = read_progress(tmp_path / "bonus")
    assert plain[0]["pre_entropy"] == pytest.approx(bonus[0]["pre_entropy"], rel=1e-6)
    assert plain[-1]["pre_entropy"] < plain[0]["pre_entropy"] - 0.05
    assert bonus[-1]["pre_entropy"] > plain[-1]["pre_entropy"] + 0.05


def test_pre_entropy_default_is_per_family_and_per_algorithm():
    """None resolves to the Krazy World/maze bonus (ProMP 0.3, MAML/E-MAML 0.1), 0 elsewhere;
    an explicit value, 0 included, is kept; the resolved number is what a checkpoint stores."""
    import dataclasses

    from baselines import emaml, maml, promp

    kw, maze, nav = "KrazyGym/KrazyWorld-Medium-v0", "KrazyGym/Maze-v0", "KrazyGym/Navigation2D-v0"
    assert [maml.Config(env_id=kw).pre_entropy_coef, emaml.Config.paper(maze).pre_entropy_coef,
            promp.Config.paper(kw).pre_entropy_coef, promp.Config(env_id=nav).pre_entropy_coef,
            maml.Config.paper("KrazyGym/HalfCheetahDir-v0").pre_entropy_coef] == [0.1, 0.1, 0.3, 0.0, 0.0]
    assert maml.Config(env_id=kw, pre_entropy_coef=0.0).pre_entropy_coef == 0.0
    assert dataclasses.asdict(promp.Config(env_id=kw))["pre_entropy_coef"] == 0.3
    with pytest.raises(ValueError, match="pre_entropy_coef must be >= 0"):
        maml.Config(env_id=kw, pre_entropy_coef=-0.1)
