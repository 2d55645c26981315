"""Fixtures: real results files made by the harness, and a database holding them.

Every results file here comes from ``krazy_gym.evaluation.evaluate`` on the small ``Bandit``
benchmark (100 test tasks, 10 pulls), with three agents whose order is known in advance:
the scripted ``greedy-explorer`` > the uniform ``RandomAgent`` > the scripted ``anti-greedy``
(see ``lb_agents.py``). No number is written by hand.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from lb_helpers import AGENTS, BENCHMARK, SEEDS  # noqa: E402 (needs the path above)


@pytest.fixture(scope="session")
def results_files(tmp_path_factory) -> dict[str, Path]:
    """One results file per agent in :data:`AGENTS`, written by the harness."""
    from krazy_gym.evaluation import evaluate, write_results

    out = tmp_path_factory.mktemp("lb_results")
    files = {}
    for key, spec in AGENTS.items():
        path = out / f"{key}.json"
        write_results(path, evaluate(spec, BENCHMARK, seeds=SEEDS, progress=False))
        files[key] = path
    return files


@pytest.fixture(scope="session")
def fresh_results(tmp_path_factory) -> Path:
    """A run that is *not* in ``ranked_db``: the anti-greedy agent on seeds 0..5."""
    from krazy_gym.evaluation import evaluate, write_results

    path = tmp_path_factory.mktemp("lb_fresh") / "anti-6seeds.json"
    write_results(path, evaluate(AGENTS["anti"], BENCHMARK, seeds=SEEDS + 1, progress=False))
    return path


@pytest.fixture(scope="session")
def ranked_db(tmp_path_factory, results_files) -> Path:
    """A database with all three submissions (never modified: copy it with ``db_copy``)."""
    from leaderboard import api

    db = tmp_path_factory.mktemp("lb_db") / "ranked.db"
    for path in results_files.values():
        api.submit(path, db=db, create=True)
    return db


@pytest.fixture(scope="session")
def rendered_site(tmp_path_factory, ranked_db) -> Path:
    """``ranked_db`` rendered once (read-only for tests: copy it to change it)."""
    from leaderboard import api

    out = tmp_path_factory.mktemp("lb_site") / "site"
    api.render(db=ranked_db, out_dir=out)
    return out


@pytest.fixture
def db_copy(ranked_db, tmp_path) -> Path:
    """A private copy of ``ranked_db`` for a test that writes."""
    dst = tmp_path / "board.db"
    shutil.copyfile(ranked_db, dst)
    return dst
