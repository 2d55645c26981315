"""benchmarks/kw_study.py: the study's cells are the reference rows' commands with another
seed, and a paper claim is decided only with enough runs and disjoint intervals."""

from __future__ import annotations

import sys

import numpy as np
import pytest


@pytest.fixture(scope="module")
def study(load_script):
    return load_script("kw_study")


def test_a_cell_is_its_reference_row_with_another_seed(study, tmp_path):
    import reference_suite as rs

    for preset, algo in (("Easy", "promp"), ("Hard", "erl2")):
        out = tmp_path / "run"
        argv = study.train_argv(preset, algo, 3, out)
        row = next(r for r in rs.definitions() if r["name"] == f"KrazyWorld-{preset}-v1/{algo}")
        expected = [rs.ref.expand(a, reference=rs.REFERENCE_DIR, run=out, out="")
                    for a in row["train"]["argv"]][1:]
        expected[expected.index("--seed") + 1] = "3"
        expected[expected.index("--iterations") + 1] = str(study.ITERATION_CAP)
        expected += ["--max-env-steps", str(study.BUDGETS[preset])]
        assert argv[1:] == expected and argv[0] == sys.executable


def _checkpoint(path, algo, env_steps, max_env_steps):
    from baselines.common.checkpoint import Checkpoint, save_checkpoint

    key = "total_steps" if algo in ("rl2", "erl2") else "env_steps"
    save_checkpoint(path, Checkpoint(algo=algo, env_id="KrazyGym/KrazyWorld-Easy-v0", iteration=7,
                                     config={"max_env_steps": max_env_steps},
                                     state={key: env_steps}, rng={"numpy": {}}))


def test_a_cell_is_done_at_the_budget_and_one_of_another_budget_is_refused(study, tmp_path):
    budget = study.BUDGETS["Easy"]
    cell = tmp_path / "Easy" / "promp-s0"
    assert study.state(cell, budget) == "fresh"
    _checkpoint(cell, "promp", budget - 1, 0)  # e.g. the 300-iteration reference run
    assert study.state(cell, budget).startswith("partial (7 iterations")
    _checkpoint(cell, "promp", budget + 50, budget)
    assert study.state(cell, budget) == "trained"
    (cell / "eval.json").write_text("{}")
    assert study.state(cell, budget) == "evaluated"
    _checkpoint(cell, "promp", 3 * budget, 0)  # trained past the budget without it
    assert study.state(cell, budget).startswith("other budget")
    with pytest.raises(SystemExit, match="other budget"):
        study.train_cell(tmp_path, "Easy", "promp", 0)
    from baselines.common.checkpoint import Checkpoint, save_checkpoint

    # a shipped (slim) reference checkpoint holds no optimiser or random state: not resumable
    save_checkpoint(cell, Checkpoint(algo="promp", env_id="KrazyGym/KrazyWorld-Easy-v0",
                                     iteration=300, config={}, state={"policy": {}}, rng={}))
    with pytest.raises(SystemExit, match="slim checkpoint"):
        study.state(cell, budget)


def test_cells_are_seed_major_with_the_issue_seed_counts(study):
    cells = study.cells(["Easy", "Medium"], ["rl2"], None)
    assert [c[2] for c in cells] == [0, 0, 1, 1, 2, 2, 3, 4]
    assert [c[0] for c in cells[-2:]] == ["Easy", "Easy"]


def test_claims_need_three_runs_and_disjoint_intervals(study):
    def cell(runs, point, low, high):
        return {"runs": runs, "score": (point, low, high)}

    assert "undecided (2 vs 3 runs" in study._verdict(cell(2, 0.9, 0.8, 1.0), cell(3, 0.5, 0.4, 0.6), "x")
    assert ": reproduced" in study._verdict(cell(3, 0.9, 0.8, 1.0), cell(3, 0.5, 0.4, 0.6), "x")
    assert "the reverse holds" in study._verdict(cell(3, 0.5, 0.4, 0.6), cell(3, 0.9, 0.8, 1.0), "x")
    assert "intervals overlap" in study._verdict(cell(5, 0.7, 0.5, 0.9), cell(5, 0.6, 0.4, 0.8), "x")
    point, low, high = study._ci(np.ones((1, 4)))
    assert point == 1.0 and np.isnan(low) and np.isnan(high)  # one run: no CI over runs


def test_explore_episodes_are_compared_with_random_paired_by_task(study):
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, size=(10, 64, 5))  # (harness seeds, tasks, episodes)
    random = {"returns": base.tolist(), "explore_episodes": 3}
    shifted = base.copy()
    shifted[:, :, :3] += 0.1  # explore episodes exactly 0.1 better on every task
    shifted[:, :, 3:] -= 5.0  # exploit episodes do not count
    runs = [{"results": {"returns": shifted.tolist(), "explore_episodes": 3}}]
    mean, low, high = study.explore_vs_random(runs, random)
    assert mean == pytest.approx(0.1) and low == pytest.approx(0.1) and high == pytest.approx(0.1)
    # two runs are averaged per task before pairing: +0.1 and -0.3 give -0.1
    worse = base.copy()
    worse[:, :, :3] -= 0.3
    runs.append({"results": {"returns": worse.tolist(), "explore_episodes": 3}})
    assert study.explore_vs_random(runs, random)[0] == pytest.approx(-0.1)


def test_kept_cells_are_gzipped_copies_the_report_reads(study, tmp_path):
    import gzip

    root, dest = tmp_path / "runs", tmp_path / "kept"
    cell = study.run_dir(root, "Easy", "rl2", 1)
    cell.mkdir(parents=True)
    (cell / "eval.json").write_text('{"returns": [[[1.0]]], "explore_episodes": 0}')
    budget = study.BUDGETS["Easy"]
    (cell / "progress.csv").write_text(f"env_steps,exploit_return\n10,0.1\n{budget},0.5\n")
    _checkpoint(cell, "rl2", study.BUDGETS["Easy"], study.BUDGETS["Easy"])
    (cell.parent / f"{cell.name}.command.txt").write_text("python -m baselines.train ...\n")
    study.run_dir(root, "Easy", "promp", 0).mkdir(parents=True)  # not evaluated: not kept
    assert study.keep(root, dest) == 1
    out = study.run_dir(dest, "Easy", "rl2", 1)
    assert gzip.decompress((out / "eval.json.gz").read_bytes()) == (cell / "eval.json").read_bytes()
    assert study.read_text(out / "progress.csv") == (cell / "progress.csv").read_text()
    assert (out / "command.txt").read_text() == "python -m baselines.train ...\n"
    assert study.keep(root, dest) == 1 and (out / "eval.json.gz").read_bytes() == gzip.compress(
        (cell / "eval.json").read_bytes(), mtime=0)  # byte-reproducible
    data = study.collect(dest)
    assert list(data) == [("Easy", "rl2")] and data[("Easy", "rl2")][0]["seed"] == 1
    # an evaluated run short of the budget (one being continued) is not in the table
    (cell / "progress.csv").write_text(f"env_steps,exploit_return\n{budget - 1},0.5\n")
    assert study.collect(root) == {}
    assert study.read_text(dest / "missing.json") is None


def test_adaptation_gap_is_after_minus_before_for_both_families(study, tmp_path):
    grad, rec = tmp_path / "grad", tmp_path / "rec"
    grad.mkdir()
    rec.mkdir()
    (grad / "progress.csv").write_text("env_steps,pre_return,post_return\n10,0.5,0.75\n20,1.0,0.5\n")
    (rec / "progress.csv").write_text(
        "env_steps,episode_0_return,exploit_return\n10,0.25,1.0\n20,2.0,2.0\n")
    steps, gap = study._read_gap(grad, "promp")
    np.testing.assert_array_equal(steps, [10, 20])
    np.testing.assert_array_equal(gap, [0.25, -0.5])  # exact in binary floating point
    np.testing.assert_array_equal(study._read_gap(rec, "erl2")[1], [0.75, 0.0])
    assert study._pre_post_gap(grad, "maml-trpo") == pytest.approx(-0.125)
    assert study._pre_post_gap(rec, "rl2") == pytest.approx(0.375)


def test_maze_cells_get_their_own_table_with_success_and_path_length(study, tmp_path):
    import json

    seeds, tasks, episodes = 2, 64, 5  # explore 3 + exploit 2
    returns = np.full((seeds, tasks, episodes), -1.0)
    returns[:, :, 3:] = -0.5
    success = np.zeros((seeds, tasks, episodes))
    success[:, :16, :3] = 1.0  # a quarter of the explore episodes
    success[:, :32, 3:] = 1.0  # half of the exploit episodes
    ratio = np.full((seeds, tasks, episodes), 2.0)
    results = {"returns": returns.tolist(), "explore_episodes": 3,
               "aggregates": {"adaptation_curve": [-1.0, -1.0, -1.0, -0.5, -0.5]},
               "exploration_metrics": {"success": success.tolist(),
                                       "path_length_ratio": ratio.tolist(),
                                       "episode_length": ratio.tolist()}}
    budget = study.BUDGETS["Maze"]
    cell = study.run_dir(tmp_path, "Maze", "rl2", 0)
    cell.mkdir(parents=True)
    (cell / "eval.json").write_text(json.dumps(results))
    (cell / "progress.csv").write_text(
        f"env_steps,episode_0_return,exploit_return\n{budget},-1.0,-0.75\n")
    random_success = np.zeros((seeds, tasks, episodes))
    random_success[:, :8, :3] = 1.0  # an eighth of the explore episodes, no exploit one
    random = {"returns": np.full((seeds, tasks, episodes), -1.0).tolist(), "explore_episodes": 3,
              "aggregates": {"adaptation_curve": [-1.0] * episodes},
              "exploration_metrics": {"success": random_success.tolist(),
                                      "path_length_ratio": np.full_like(ratio, 4.0).tolist()}}
    (tmp_path / "Maze" / "random-eval.json").write_text(json.dumps(random))
    text = study.report(tmp_path, None)
    # the random agent's row, from its own results: the reference point of every column
    assert "| random agent | – | -1.000 | -1.000 → -1.000 | – | 1.39 | 0.125 → 0.000 | 4.00 | – |" in text
    row = next(line for line in text.splitlines() if line.startswith("| RL² | 1 |"))
    assert "| -1.000 → -0.500 | +0.250 | – | 0.250 → 0.500 | 2.00 | 10.00M |" in row
    assert not any(line.startswith("| Maze |") for line in text.splitlines())  # not the KW table
    assert "- Maze RL² (1 runs): -1.000 vs random -1.000: +0.000" in text
