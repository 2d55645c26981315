"""The runner: exact known scores, determinism across runs/workers/vectorisation, errors."""

from __future__ import annotations

import dataclasses
import json

import eval_toys
import numpy as np
import pytest

from krazy_gym.evaluation import AgentError, AgentSpecError, evaluate
from krazy_gym.evaluation.results import canonical_json, validate_results
from krazy_gym.evaluation.runner import partial_path, phase_seed


def raw(results) -> bytes:
    return canonical_json({k: results[k] for k in ("returns", "exploration_metrics")})


def chain_return(goal: int, start: int, penalty: float) -> float:
    total = 0.0
    for _ in range(goal - start - 1):
        total += -penalty
    return total + 1.0


def test_scripted_agent_gets_the_analytic_score():
    bench = eval_toys.chain_benchmark(env_kwargs={"start_noise": False})
    res = evaluate(eval_toys.always_right, bench, seeds=2, progress=False)
    tasks = bench.tasks()
    expected = [[chain_return(t.goal, 0, t.penalty)] * bench.episodes for t in tasks]
    assert res["returns"] == [expected, expected]
    assert res["exploration_metrics"]["episode_length"][0] == [[t.goal] * 4 for t in tasks]
    assert res["exploration_metrics"]["success"][1] == [[1.0] * 4 for _ in tasks]
    assert res["exploration_metrics"]["path_length_ratio"][0][0] == [1.0] * 4
    score = np.mean([chain_return(t.goal, 0, t.penalty) for t in tasks])
    assert res["aggregates"]["score_mean"] == pytest.approx(score, abs=1e-12)
    validate_results(res)


def test_explore_then_commit_solves_every_bandit_after_adapt():
    bench = eval_toys.bandit_benchmark()
    res = evaluate(eval_toys.explore_commit, bench, seeds=3, progress=False)
    targets = [t.target for t in bench.tasks()]
    assert len(set(targets)) > 1
    expected = [[float(target == e) for e in range(3)] + [1.0, 1.0] for target in targets]
    assert res["returns"] == [expected] * 3
    agg = res["aggregates"]
    assert agg["score_mean"] == 1.0
    assert agg["normalised_iqm"] == {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0}


def test_returns_match_a_plain_single_env_replay():
    """Noisy starts: each task's episodes equal a single env reset with the phase seeds."""
    bench = eval_toys.chain_benchmark()
    res = evaluate(eval_toys.always_right, bench, seeds=[3, 11], progress=False)
    env = bench.make_env()
    for si, seed in enumerate([3, 11]):
        for ti, task in enumerate(bench.tasks()):
            got = []
            for phase, n in ((0, bench.explore_episodes), (1, bench.exploit_episodes)):
                env.reset(seed=phase_seed(seed, ti, phase), options={"task": task})
                for e in range(n):
                    if e:
                        env.reset()
                    total, done = 0.0, False
                    while not done:
                        _, r, term, trunc, _ = env.step(1)
                        total += r
                        done = term or trunc
                    got.append(total)
            assert res["returns"][si][ti] == got
    starts = {round(x, 9) for row in res["returns"][0] for x in row}
    assert len(starts) > len(bench.tasks())  # the start noise really varies between episodes


def test_same_seeds_byte_identical_runs_and_workers():
    bench = eval_toys.chain_benchmark()
    a = evaluate("eval_toys:seeded_random", bench, seeds=3, progress=False)
    b = evaluate("eval_toys:seeded_random", bench, seeds=3, progress=False)
    c = evaluate("eval_toys:seeded_random", bench, seeds=3, workers=2, progress=False)
    assert raw(a) == raw(b) == raw(c)
    assert c["run"]["workers"] == 2
    d = evaluate("eval_toys:seeded_random", bench, seeds=[5, 6, 7], progress=False)
    assert raw(d) != raw(a)


def test_native_vector_env_equals_sync_vector_env():
    sync = evaluate("eval_toys:seeded_random", eval_toys.chain_benchmark(), seeds=2, progress=False)
    native = evaluate(
        "eval_toys:seeded_random", eval_toys.chain_benchmark(vectorization="vector_entry_point"),
        seeds=2, progress=False,
    )
    assert raw(sync) == raw(native)


def test_idle_rows_and_episode_boundaries():
    eval_toys.ActiveCounter.instances.clear()
    bench = eval_toys.chain_benchmark(batch_size=6)
    res = evaluate(eval_toys.active_counter, bench, seeds=1, progress=False)
    (agent,) = eval_toys.ActiveCounter.instances
    lengths = np.asarray(res["exploration_metrics"]["episode_length"][0])
    np.testing.assert_array_equal(agent.active_steps, lengths.sum(axis=1))
    assert agent.seen_idle_reward == 0.0
    assert res["timing"]["env_steps"] == int(lengths.sum())

    eval_toys.BoundaryChecker.instances.clear()
    bench = eval_toys.chain_benchmark(env_kwargs={"start_noise": False, "reveal_goal": True},
                                      batch_size=6)
    evaluate(eval_toys.boundary_checker, bench, seeds=1, progress=False)
    (checker,) = eval_toys.BoundaryChecker.instances
    assert checker.problems == []
    assert checker.terminals == 6 * bench.episodes


def test_invalid_action_names_agent_task_step_and_keeps_partial(tmp_path):
    bench = eval_toys.chain_benchmark(env_kwargs={"start_noise": False, "reveal_goal": True},
                                      batch_size=2)
    goals = [t.goal for t in bench.tasks()]
    bad = goals.index(5)
    assert bad >= 2  # at least one earlier batch finishes first
    out = tmp_path / "res.json"
    with pytest.raises(AgentError) as info:
        evaluate("eval_toys:invalid_on_goal_5", bench, seeds=1, out=out, progress=False)
    msg = str(info.value)
    assert "goal-breaker" in msg and "eval_toys:invalid_on_goal_5" in msg
    assert f"test task {bad}," in msg and "step 0" in msg and "episode 1 of 4" in msg
    assert "outside Discrete(2" in msg
    assert not out.exists()
    partial = json.loads(partial_path(out).read_text())
    done = [[t for _, t in u["rows"]] for u in partial["units"]]
    assert done == [list(range(s, s + 2)) for s in range(0, bad - bad % 2, 2)]
    assert "test task" in partial["error"]
    # the kept units hold the real returns of those tasks
    good = evaluate(eval_toys.always_right, bench, seeds=1, progress=False)
    assert partial["units"][0]["returns"] == good["returns"][0][0:2]


def test_agent_raising_names_agent_task_step(tmp_path):
    bench = eval_toys.chain_benchmark(env_kwargs={"start_noise": False, "reveal_goal": True},
                                      batch_size=2)
    bad = [t.goal for t in bench.tasks()].index(5)
    lo = bad - bad % 2
    with pytest.raises(AgentError) as info:
        evaluate("eval_toys:raise_on_goal_5", bench, seeds=1, out=tmp_path / "r.json",
                 progress=False)
    msg = str(info.value)
    assert "goal-breaker" in msg and "RuntimeError" in msg and "act()" in msg and "boom" in msg
    assert f"test tasks {lo}-{lo + 1}" in msg and "step 0" in msg
    assert partial_path(tmp_path / "r.json").exists()


def test_errors_in_worker_processes_are_reported_the_same_way(tmp_path):
    bench = eval_toys.chain_benchmark(env_kwargs={"start_noise": False, "reveal_goal": True},
                                      batch_size=2)
    bad = [t.goal for t in bench.tasks()].index(5)
    with pytest.raises(AgentError, match=f"test task {bad},"):
        evaluate("eval_toys:invalid_on_goal_5", bench, seeds=1, workers=2,
                 out=tmp_path / "r.json", progress=False)
    assert partial_path(tmp_path / "r.json").exists()


def test_resume_reuses_finished_units(tmp_path):
    bench = eval_toys.chain_benchmark(batch_size=2)
    out = tmp_path / "r.json"
    full = evaluate("eval_toys:seeded_random", bench, seeds=2, progress=False)
    # fake an interrupted run: keep only the first unit of the checkpoint of a complete run
    evaluate("eval_toys:seeded_random", bench, seeds=2, out=out, progress=False)
    assert not partial_path(out).exists()  # removed on success
    from krazy_gym.evaluation.runner import UnitResult, make_units, run_unit

    unit = make_units(bench, [0, 1], 2)[0]
    first = run_unit(bench, "eval_toys:seeded_random", unit)
    header = {"benchmark_hash": bench.hash, "agent": "eval_toys:seeded_random", "seeds": [0, 1],
              "batch_size": 2}
    first.returns = [[123.0] * 4, [123.0] * 4]  # marker: proves the unit was reused
    partial_path(out).write_text(json.dumps({"header": header, "units": [first.to_json()]}))
    resumed = evaluate("eval_toys:seeded_random", bench, seeds=2, out=out, resume=True,
                       progress=False)
    assert resumed["returns"][0][0:2] == [[123.0] * 4, [123.0] * 4]
    assert resumed["returns"][1] == full["returns"][1]
    assert isinstance(UnitResult.from_json(first.to_json()), UnitResult)


def test_bad_arguments():
    bench = eval_toys.chain_benchmark()
    with pytest.raises(AgentSpecError, match="not a MetaAgent"):
        evaluate("eval_toys:not_an_agent", bench, seeds=1, progress=False)
    with pytest.raises(AgentSpecError, match="does not import"):
        evaluate("no_such_module_xyz:make", bench, seeds=1, progress=False)
    with pytest.raises(ValueError, match="seeds"):
        evaluate(eval_toys.always_right, bench, seeds=0)
    with pytest.raises(ValueError, match="workers"):
        evaluate(eval_toys.always_right, bench, seeds=1, workers=0)
    with pytest.raises(ValueError, match="engine"):
        evaluate(eval_toys.always_right, bench, seeds=1, engine="spark")
    with pytest.raises(ValueError, match="does not exist"):
        evaluate(eval_toys.always_right, bench, seeds=1, out="/nonexistent_dir_xyz/r.json")


def test_progress_callback_counts_every_task_episode():
    bench = eval_toys.chain_benchmark()
    seen = []
    evaluate(eval_toys.always_right, bench, seeds=2, progress=seen.append)
    assert sum(seen) == 2 * bench.num_test_tasks * bench.episodes


def test_wrong_action_shape_names_the_batch():
    bench = eval_toys.chain_benchmark(batch_size=3)
    with pytest.raises(AgentError) as info:
        evaluate("eval_toys:wrong_shape", bench, seeds=1, progress=False)
    msg = str(info.value)
    assert "wrong-shape" in msg and "test tasks 0-2 (batch of 3), seed 0" in msg
    assert "explore phase" in msg and "step 0" in msg and "shape (3,)" in msg


def test_non_finite_box_action_names_the_task():
    from krazy_gym.evaluation import get_benchmark

    bench = dataclasses.replace(get_benchmark("Navigation2D"), num_test_tasks=3, batch_size=3,
                                explore_episodes=1, exploit_episodes=1)
    with pytest.raises(AgentError, match=r"bad-box.*test task 1, seed 0.*step 0.*not finite"):
        evaluate("eval_toys:bad_box", bench, seeds=1, progress=False, aggregates=False)


@pytest.mark.parametrize("capacity", [1, 3])
def test_episode_log_flushing_mid_phase_changes_nothing(monkeypatch, capacity):
    """The runner buffers episode ends and flushes them in bulk; tiny buffers (many flushes
    inside a phase) give the same bytes, and errors still name the right episode and step."""
    from krazy_gym.evaluation import runner

    bench = eval_toys.chain_benchmark(batch_size=5)
    expected = evaluate("eval_toys:seeded_random", bench, seeds=2, progress=False)
    monkeypatch.setattr(runner, "_LOG_CAPACITY", capacity)
    got = evaluate("eval_toys:seeded_random", bench, seeds=2, progress=False)
    assert raw(got) == raw(expected)
    assert got["timing"]["env_steps"] == expected["timing"]["env_steps"]

    bench = eval_toys.chain_benchmark(env_kwargs={"start_noise": False, "reveal_goal": True},
                                      batch_size=2)
    bad = [t.goal for t in bench.tasks()].index(5)
    with pytest.raises(AgentError) as info:
        evaluate("eval_toys:invalid_on_goal_5", bench, seeds=1, progress=False)
    msg = str(info.value)
    assert f"test task {bad}," in msg and "step 0" in msg and "episode 1 of 4" in msg


def test_git_state_is_read_once_per_process(monkeypatch):
    from krazy_gym.evaluation import runner

    calls = []

    def fake_git(*args):
        calls.append(args)
        return "abc123\n" if args[0] == "rev-parse" else ""

    monkeypatch.setattr(runner, "_git", fake_git)
    monkeypatch.setattr(runner, "_GIT_STATE", [])
    first = runner.provenance()
    second = runner.provenance()
    assert first["git_commit"] == second["git_commit"] == "abc123"
    assert first["git_dirty"] is False
    assert len(calls) == 2  # rev-parse and status, once
