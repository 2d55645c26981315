"""The Ray engine on a local Ray instance: same raw results as the local engine."""

from __future__ import annotations

import os
from pathlib import Path

import eval_toys
import pytest

from krazy_gym.evaluation import AgentError, evaluate
from krazy_gym.evaluation.results import canonical_json

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

pytestmark = pytest.mark.slow  # starting a local Ray instance takes tens of seconds here


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    path = os.pathsep.join([str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()


def raw(results) -> bytes:
    return canonical_json({k: results[k] for k in ("returns", "exploration_metrics")})


def test_ray_engine_matches_local_engine(local_ray):
    bench = eval_toys.chain_benchmark(batch_size=2)
    local = evaluate("eval_toys:seeded_random", bench, seeds=2, progress=False)
    remote = evaluate("eval_toys:seeded_random", bench, seeds=2, engine="ray", workers=2,
                      progress=False)
    assert raw(remote) == raw(local)
    assert remote["run"]["engine"] == "ray"


def test_ray_engine_reports_agent_errors_and_keeps_partial(local_ray, tmp_path):
    bench = eval_toys.chain_benchmark(env_kwargs={"start_noise": False, "reveal_goal": True},
                                      batch_size=2)
    bad = [t.goal for t in bench.tasks()].index(5)
    out = tmp_path / "r.json"
    with pytest.raises(AgentError, match=f"test task {bad},"):
        evaluate("eval_toys:invalid_on_goal_5", bench, seeds=1, engine="ray", workers=1,
                 out=out, progress=False)
    assert not out.exists()
    assert (tmp_path / "r.json.partial.json").exists()
