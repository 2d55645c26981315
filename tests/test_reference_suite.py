"""benchmarks/reference_suite.py: the row definitions, the manifest files, and producing a row.

The budget test rebuilds every training config with ``baselines.train``'s own parser and
config builder, so a budget stated in the manifest cannot drift from what the command trains.
The end-to-end test produces a tiny row (2 MAML iterations on Bandit) into a temporary
reference directory through the script's CLI: partial run refused without ``--resume``,
continued with it, shipped, evaluated, checked, re-run and installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import reference_suite as rs  # noqa: E402

from leaderboard import reference as ref  # noqa: E402


def test_manifest_files_are_in_sync_with_the_definitions():
    on_disk = rs.read_manifest_json()
    rebuilt, stale = rs.build_manifest(on_disk)
    assert stale == []
    assert rebuilt == on_disk  # every definition, command and produced record as written
    assert (rs.REFERENCE_DIR / "MANIFEST.md").read_text() == rs.manifest_markdown(on_disk)
    readme = rs.README.read_text()
    assert f"{rs.TABLE_START}\n{rs.readme_table(on_disk)}{rs.TABLE_END}" in readme
    names = [r["name"] for r in on_disk["rows"]]
    assert len(names) == len(set(names)) == 54
    kinds = {r["kind"] for r in on_disk["rows"]}
    assert kinds == set(ref.KINDS)


def _horizon(env_id: str) -> int:
    import gymnasium as gym

    import krazy_gym  # noqa: F401

    env = gym.make(env_id)
    try:
        return env.spec.max_episode_steps or env.unwrapped.horizon
    finally:
        env.close()


def test_budgets_are_those_of_the_configs_the_trainer_builds():
    from baselines.train import algo_module, build_config, make_parser
    from krazy_gym.evaluation.benchmarks import get_benchmark

    rows = [d for d in rs.definitions() if d["train"] and d["train"]["runner"] == "baselines.train"]
    assert len(rows) == 39  # 3 gradient x 7 + 2 x 2 MuJoCo + RL2/E-RL2 x 7
    for d in rows:
        argv = d["train"]["argv"]
        assert argv[:3] == ["python", "-m", "baselines.train"]
        args = make_parser().parse_args([a.replace("{run}", "/nonexistent/run") for a in argv[3:]])
        config = build_config(args, algo_module(args.algo))
        bench = get_benchmark(d["benchmark"])
        assert config.env_id == bench.env_id and config.seed == 0
        budget = d["train"]["budget"]
        assert budget["iterations"] == config.iterations
        h = _horizon(config.env_id)
        if args.algo in ("rl2", "erl2"):
            # a trial is the benchmark's protocol: explore + exploit episodes
            assert config.episodes_per_trial == bench.episodes
            assert config.explore_episodes == (0 if args.algo == "rl2" else
                                               int(argv[argv.index("--explore-episodes") + 1]))
            per_it = config.trials_per_iteration * config.episodes_per_trial * h
        else:
            per_it = config.num_tasks * config.episodes_per_task * h * (config.inner_steps + 1)
        assert budget["env_steps"] == config.iterations * per_it, d["name"]
        resume = make_parser().parse_args(
            [a.replace("{run}", "/x") for a in d["train"]["resume_argv"][3:]])
        assert resume.resume and resume.iterations == config.iterations and resume.algo == args.algo


def test_list_shows_every_row_with_its_status_and_estimate(capsys):
    assert rs.main(["--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    manifest = rs.read_manifest_json()
    for row in manifest["rows"]:
        (line,) = [ln for ln in out if ln.split()[0] == row["name"]]
        assert line.split()[1] == rs.status_of(row)
        if row["evaluate"] is None:
            assert " n/a " in line
    assert "done" in out[-1] and "not producible yet" in out[-1]


# -- producing a row --------------------------------------------------------------------------


TINY = "Bandit-v1/maml-trpo"
_DEFINITIONS = rs.definitions  # the real ones (the sandbox replaces the module's)


def _tiny_definitions():
    rows = [d for d in _DEFINITIONS() if d["name"] in (TINY, "Bandit-v1/random")]
    for d in rows:
        if d["name"] == TINY:
            d["train"] = rs._baselines_train(
                "maml-trpo", "KrazyGym/Bandit-v0", 2, {"num_tasks": 4, "episodes_per_task": 2},
                steps_per_iteration=4 * 2 * 1 * 2, exact=True, seconds=2, basis="test")
    return rows


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    reference.mkdir()
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{rs.TABLE_START}\n{rs.TABLE_END}\n")
    monkeypatch.setattr(rs, "REFERENCE_DIR", reference)
    monkeypatch.setattr(rs, "README", readme)
    monkeypatch.setattr(rs, "definitions", _tiny_definitions)
    return tmp_path


def test_a_row_is_trained_resumably_shipped_evaluated_and_recorded(sandbox):
    torch = pytest.importorskip("torch")
    work = sandbox / "work"
    run = work / "Bandit-v1" / "maml-trpo"
    (row,) = [d for d in _tiny_definitions() if d["name"] == TINY]
    first = [a.replace("{run}", str(run)) for a in row["train"]["argv"]]
    first[first.index("--iterations") + 1] = "1"  # an interrupted run: 1 of 2 iterations
    subprocess.run([sys.executable, *first[1:]], cwd=REPO, check=True, capture_output=True)

    with pytest.raises(SystemExit, match="partial run .*pass --resume"):
        rs.main(["--row", TINY, "--work", str(work)])
    assert rs.main(["--row", TINY, "--work", str(work), "--resume"]) == 0

    manifest = ref.load_manifest(sandbox / "reference")
    done = manifest.row(TINY)
    (raw,) = [r for r in rs.read_manifest_json()["rows"] if r["name"] == TINY]
    assert done.status == "done" and rs.status_of(raw) == "done"
    p = done.produced
    assert p["verified_reproducible"] is True and "reproduced every return" in p["verify_report"]
    assert p["train"]["env_steps"] == 2 * 4 * 2 * 2 and p["train"]["sessions"] == 1
    assert p["seeds"] == [0, 1, 2, 3, 4] and p["definition_sha256"] == rs.definition_sha256(row)
    ckpt = manifest.path(done.checkpoint)
    payload = torch.load(ckpt, weights_only=True)
    assert set(payload["state"]) == {"policy"} and payload["rng"] == {}  # weights only
    assert payload["iteration"] == 2
    assert sorted(f.name for f in ckpt.parent.iterdir()) == ["checkpoint.pt", "config.json",
                                                            "progress.csv"]
    sub = ref.check_row(manifest, done)  # the installed files pass seed-reference's checks
    assert sub.agent_name == "baselines:maml-trpo"
    assert not list((sandbox / "reference").rglob(".*"))  # no staging directory left
    assert "| Bandit-v1 | MAML-TRPO |" in (sandbox / "README.md").read_text()
    assert "`Bandit-v1/maml-trpo` | done" in (sandbox / "reference" / "MANIFEST.md").read_text()
    # shipping the same weights again keeps the shipped bytes (torch.save's random
    # serialization id would change them); other weights are another file
    staging = sandbox / "staging"
    again = rs.ship_checkpoint(row, run, staging)
    assert again.read_bytes() == ckpt.read_bytes()
    assert rs.same_checkpoint(again, ckpt)
    payload["state"]["policy"][next(iter(payload["state"]["policy"]))] += 1.0
    torch.save(payload, staging / "other.pt")
    assert not rs.same_checkpoint(staging / "other.pt", ckpt)


def test_from_run_refuses_a_run_with_another_config(sandbox):
    run = sandbox / "other"
    (row,) = [d for d in _tiny_definitions() if d["name"] == TINY]
    argv = [a.replace("{run}", str(run)) for a in row["train"]["argv"]]
    argv[argv.index("num_tasks=4")] = "num_tasks=3"
    subprocess.run([sys.executable, *argv[1:]], cwd=REPO, check=True, capture_output=True)
    with pytest.raises(SystemExit, match="another config .*num_tasks: run 3, row 4"):
        rs.main(["--row", TINY, "--from-run", str(run)])
    assert not (sandbox / "reference" / "manifest.json").exists()


def test_unknown_or_unproducible_rows_are_refused(capsys, monkeypatch):
    with pytest.raises(SystemExit, match="no such row .did you mean Bandit-v1/rl2 or"):
        rs.main(["--row", "Bandit-v1/rl22"])
    # a row defined without an evaluation command yet (none ships today)
    real = rs.definitions

    def with_a_placeholder():
        rows = real()
        oracle = next(r for r in rows if r["name"] == "KrazyWorld-Easy-v1/oracle")
        oracle.update(evaluate=None, note="waiting for its agent")
        return rows

    monkeypatch.setattr(rs, "definitions", with_a_placeholder)
    monkeypatch.setattr(rs, "write_manifest", lambda manifest: None)  # keep the shipped files
    with pytest.raises(SystemExit):
        rs.main(["--row", "KrazyWorld-Easy-v1/oracle"])
    assert "cannot be produced yet: waiting for its agent" in capsys.readouterr().out
