"""Several benchmarks in one database: one ranking (and one table, three plots) per benchmark.

A second, small benchmark (3-armed bandits, 20 test tasks, 6 pulls) is registered through the
harness's public ``register_benchmark`` for this module only and removed afterwards.
"""

from __future__ import annotations

import csv
import io

import pytest
from lb_helpers import AGENTS, SEEDS, parse_page

from leaderboard import api, store
from leaderboard.cli import main

SMALL = "Bandit3Arms"


@pytest.fixture(scope="module")
def small_benchmark():
    from krazy_gym.evaluation import benchmarks

    bench = benchmarks.register_benchmark(
        benchmarks.Benchmark(
            name=SMALL, version=1, env_id="KrazyGym/Bandit-v0", env_kwargs={"k": 3},
            num_test_tasks=20, explore_episodes=0, exploit_episodes=6, random_score=0.0,
            max_score=1.0, vectorization="sync", batch_size=20,
            description="leaderboard tests: a second, small benchmark",
        )
    )
    yield bench
    benchmarks._REGISTRY.pop(SMALL)  # no public unregister; keep other tests' registry intact


@pytest.fixture(scope="module")
def two_benchmark_db(small_benchmark, ranked_db, tmp_path_factory):
    import shutil

    from krazy_gym.evaluation import evaluate, write_results

    out = tmp_path_factory.mktemp("lb_multi")
    db = out / "board.db"
    shutil.copyfile(ranked_db, db)
    for key in ("random", "greedy"):  # submitted worst first: the order must come from scores
        path = out / f"{key}-small.json"
        write_results(path, evaluate(AGENTS[key], small_benchmark, seeds=SEEDS, progress=False))
        api.submit(path, db=db)
    return db


def test_each_benchmark_has_its_own_ranking(two_benchmark_db, tmp_path, capsys):
    subs = store.list_submissions(two_benchmark_db)
    by_bench: dict[str, list] = {}
    for s in subs:
        by_bench.setdefault(s.benchmark_name, []).append(s)
    assert sorted(by_bench) == ["Bandit", SMALL]
    for rows in by_bench.values():
        assert [r.iqm for r in rows] == sorted((r.iqm for r in rows), reverse=True)
    assert [r.agent_name for r in by_bench[SMALL]] == ["greedy-explorer", "RandomAgent"]

    assert main(["show", "--db", str(two_benchmark_db)]) == 0
    blocks = capsys.readouterr().out.strip().split("\n\n")
    assert [b.split()[0] for b in blocks] == ["Bandit", SMALL]
    assert "2 submission(s)" in blocks[1] and "3 submission(s)" in blocks[0]

    page = parse_page(api.render(db=two_benchmark_db, out_dir=tmp_path / "site"))
    assert [[r["agent"] for r in t] for t in page.tables] == [
        [r.agent_name for r in by_bench["Bandit"]], [r.agent_name for r in by_bench[SMALL]],
    ]
    assert len(page.images) == 6 and all((tmp_path / "site" / src).is_file() for src in page.images)

    api.export(db=two_benchmark_db, out=tmp_path / "board.csv")
    table = list(csv.DictReader(io.StringIO((tmp_path / "board.csv").read_text())))
    assert [(r["benchmark"], r["rank"]) for r in table] == [
        ("Bandit", "1"), ("Bandit", "2"), ("Bandit", "3"), (SMALL, "1"), (SMALL, "2"),
    ]
