"""Train and evaluate the reference rows shipped in ``reference/`` (one, a benchmark's, or all).

Every row of ``reference/manifest.json`` is defined here (:func:`definitions`): the benchmark,
the agent, the exact training command (``python -m baselines.train`` or
``benchmarks/sb3_reference.py``) with its budget, and the exact evaluation command (``krazy-gym
evaluate`` through the harness, with the benchmark's ranking minimum of seeds). Producing a row:

1. **train** in ``--work`` (default ``runs/reference/<Benchmark-vN>/<agent>``), resumable: a
   partial run continues with ``--resume`` (the trainer's own bit-exact resume); a finished
   one is reused;
2. **ship the small checkpoint** (weights only: optimiser state and random streams dropped)
   into a staging directory beside ``reference/checkpoints/<Benchmark-vN>/<agent>/``;
3. **evaluate** it with the row's evaluation command (a subprocess, exactly as printed in the
   manifest), check the results file with every check of ``leaderboard submit``, and **re-run**
   the evaluation in-process as ``leaderboard seed-reference`` will: the row is
   ``verified_reproducible`` only if every raw return is reproduced;
4. **install** the checkpoint directory, then the results file (each atomically), then the
   manifest row (training budget, wall time, machine, commit, seeds, scores, sha256s), and
   regenerate ``reference/MANIFEST.md`` and the README's reference table.

Usage::

    python benchmarks/reference_suite.py --list                  # rows, status, estimates
    nice python benchmarks/reference_suite.py --row Bandit-v1/rl2
    nice python benchmarks/reference_suite.py --row Maze-v1/rl2 --resume   # continue training
    nice python benchmarks/reference_suite.py --benchmark Bandit-v1        # its missing rows
    nice python benchmarks/reference_suite.py --all                        # every missing row
    python benchmarks/reference_suite.py --row KrazyWorld-Easy-v1/promp --from-run runs/x
    python benchmarks/reference_suite.py --write-manifest        # after editing definitions()

``--from-run DIR`` ships a finished ``python -m baselines.train`` run made elsewhere, after
checking that its config is the row's (settings that change only speed or logging excepted)
and that it ran the row's iterations.

A row's status is ``done`` (produced; its files are the ones the manifest records) or
``missing``. Estimates come from each row's stated basis (measured rates on the 2-core
development machine where known, else a stated assumption).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from leaderboard import reference as ref  # noqa: E402

REFERENCE_DIR = REPO / "reference"
DEFAULT_WORK = REPO / "runs" / "reference"
README = REPO / "README.md"
TABLE_START, TABLE_END = "<!-- reference-table:start -->", "<!-- reference-table:end -->"

#: Benchmarks of the reference suite, with their env ids and horizons (max steps per
#: episode; Maze-v0's is 2 size² = 200 for the 10x10 benchmark mazes).
BENCHMARKS = {
    "KrazyWorld-Easy": 24, "KrazyWorld-Medium": 50, "KrazyWorld-Hard": 100, "Maze": 200,
    "Bandit": 1, "TabularMDP": 10, "Navigation2D": 100, "PointCorner": 100,
    "HalfCheetahDir": 100, "HalfCheetahVel": 100,
}
MUJOCO = ("HalfCheetahDir", "HalfCheetahVel")
KRAZY = ("KrazyWorld-Easy", "KrazyWorld-Medium", "KrazyWorld-Hard")
#: benchmarks whose episodes always run to the horizon (their env-step budgets are exact)
FIXED_LENGTH = ("Bandit", "TabularMDP", "HalfCheetahDir", "HalfCheetahVel")
LABELS = {
    "random": "random", "maml-trpo": "MAML-TRPO", "emaml-trpo": "E-MAML-TRPO",
    "promp": "ProMP", "rl2": "RL²", "erl2": "E-RL²", "sb3-recurrentppo": "sb3-contrib RecurrentPPO",
    "oracle": "Krazy World oracle",
}
#: config keys that change speed or logging, not what is learned (ignored by --from-run)
NON_RESULT_KEYS = ("progress", "plot_every", "tensorboard", "torch_threads", "num_threads",
                   "log_every")
#: harness evaluation time estimates per benchmark family (seconds, 5 seeds, one core)
EVAL_SECONDS = {"KrazyWorld-Easy": 30, "KrazyWorld-Medium": 40, "KrazyWorld-Hard": 60,
                "Maze": 60, "Bandit": 10, "TabularMDP": 15, "Navigation2D": 30,
                "PointCorner": 30, "HalfCheetahDir": 300, "HalfCheetahVel": 300}


def _bench(name: str) -> Any:
    from krazy_gym.evaluation.benchmarks import get_benchmark

    return get_benchmark(name)


def _evaluate(bench: Any, agent: str, factory: str, env: dict[str, str], seconds: float) -> dict:
    seeds = bench.rank_seeds  # the leaderboard ranks rows with this many seeds (0..K-1)
    argv = ["krazy-gym", "evaluate", "--agent", agent, "--benchmark", bench.full_name,
            "--seeds", str(seeds), "--out", "{out}"]
    return {"agent": agent, "factory": factory, "env": env, "seeds": seeds, "argv": argv,
            "estimate_seconds": seconds}


def _checkpoint_env(bench: Any, agent: str) -> dict[str, str]:
    return {"KRAZY_GYM_CHECKPOINT": f"{{reference}}/checkpoints/{bench.full_name}/{agent}/checkpoint.pt"}


def _baselines_train(algo: str, env_id: str, iterations: int, sets: dict[str, Any], *,
                     config: str = "default", explore: int | None = None,
                     steps_per_iteration: int, exact: bool, seconds: float, basis: str) -> dict:
    argv = ["python", "-m", "baselines.train", "--algo", algo, "--env", env_id, "--out", "{run}",
            "--config", config, "--seed", "0", "--iterations", str(iterations)]
    if explore is not None:
        argv += ["--explore-episodes", str(explore)]
    for key, value in sets.items():
        argv += ["--set", f"{key}={value}"]
    resume = ["python", "-m", "baselines.train", "--algo", algo, "--env", env_id, "--out", "{run}",
              "--resume", "--iterations", str(iterations)]
    return {
        "runner": "baselines.train", "argv": argv, "resume_argv": resume,
        "budget": {"iterations": iterations, "env_steps": iterations * steps_per_iteration,
                   "env_steps_exact": exact},
        "estimate": {"seconds": round(seconds), "basis": basis},
    }


def _gradient_rows() -> list[dict]:
    rows = []
    # KW / Maze: 40 tasks x 3 episodes (the harness's 3 explore episodes), 300 iterations, as
    # the KrazyWorld-Easy runs of docs/results.md (setting b) continued to 300 iterations
    per_it = {"maml-trpo": 1.3, "emaml-trpo": 1.3, "promp": 0.35}
    for name in (*KRAZY, "Maze", "Bandit", "TabularMDP", "Navigation2D"):
        bench, h = _bench(name), BENCHMARKS[name]
        for algo in ("maml-trpo", "emaml-trpo", "promp"):
            config, sets = "default", None
            if name in (*KRAZY, "Maze"):  # --config paper: 40 x 3 (+ E-MAML's entropy bonus)
                iterations, tasks, episodes, config, sets = 300, 40, 3, "paper", {}
                seconds = iterations * per_it[algo] * h / 24
                basis = (f"{per_it[algo]} s per iteration measured for KrazyWorld-Easy (40 x 3, "
                         "horizon 24) on the development machine, scaled by the horizon")
            elif name == "Navigation2D":  # docs/results.md: 10 x 10, 30 iterations learn
                iterations, tasks, episodes = 30, 10, 10
                seconds, basis = 30 * 1.5, "1.5 s per iteration measured (10 x 10 episodes)"
            else:  # Bandit / TabularMDP: the DESIGN defaults, 100 iterations
                iterations, tasks, episodes = 100, 40, 20
                s_it = {"Bandit": 0.2, "TabularMDP": 1.4 if algo != "promp" else 0.4}[name]
                seconds, basis = iterations * s_it, f"{s_it} s per iteration measured (40 x 20)"
            rows.append(_row(
                bench, algo, "baseline",
                train=_baselines_train(
                    algo, bench.env_id, iterations,
                    {"num_tasks": tasks, "episodes_per_task": episodes} if sets is None else sets,
                    config=config, steps_per_iteration=tasks * episodes * h * 2, exact=name in FIXED_LENGTH,
                    seconds=seconds, basis=basis),
                evaluate=_evaluate(bench, "baselines", "baselines.agents:make",
                                   _checkpoint_env(bench, algo), EVAL_SECONDS[name]),
                checkpoint=f"checkpoints/{bench.full_name}/{algo}/checkpoint.pt",
                note=_gradient_note(name, algo)))
    # MuJoCo: the learning-curve runs of issue 18 (--config paper: 40 tasks x 20 rollouts x
    # 100 steps on the native vector env, action_scale 10), 200 iterations = 3.2e7 env steps
    per_it = {"maml-trpo": 24.0, "promp": 9.0}
    for name in MUJOCO:
        bench = _bench(name)
        for algo in ("maml-trpo", "promp"):
            rows.append(_row(
                bench, algo, "baseline",
                train=_baselines_train(
                    algo, bench.env_id, 200, {}, config="paper",
                    steps_per_iteration=40 * 20 * 100 * 2, exact=True,
                    seconds=200 * per_it[algo],
                    basis=f"{per_it[algo]:.0f} s per iteration measured on HalfCheetahDir (2 cores; "
                          "docs/results.md, MuJoCo learning curves)"),
                evaluate=_evaluate(bench, "baselines", "baselines.agents:make",
                                   _checkpoint_env(bench, algo), EVAL_SECONDS[name]),
                checkpoint=f"checkpoints/{bench.full_name}/{algo}/checkpoint.pt",
                note="the run of docs/results.md's MuJoCo learning curves (seed 0)"))
    return rows


def _gradient_note(name: str, algo: str) -> str:
    if name in ("Bandit", "TabularMDP"):
        return ("this benchmark has no explore phase (0 explore + 10 scored episodes, no adapt()), "
                "so a gradient meta-learner is scored on its pre-update policy alone")
    if name in (*KRAZY, "Maze"):
        return ("--config paper: 40 tasks x 3 episodes (the harness's 3 explore episodes)"
                + (", pre-update entropy bonus 0.1 (docs/results.md, 'Exploration collapse')"
                   if algo == "emaml-trpo" else ""))
    return ""


def _rl2_rows() -> list[dict]:
    rows = []
    kw_sets = {"hidden_size": 128, "task_pool_size": 5000, "ppo_epochs": 2, "minibatches": 8,
               "gae_lambda": 0.9, "entropy_coef": 0.01}
    kw_basis = ("15,000 env steps/s (docs/results.md: KrazyWorld-Medium, 12.0M env steps in "
                "~800 s on one core), applied to the env-step upper bound")
    specs = {
        # name: (iterations, sets, trials, episodes per trial, E-RL2 p, steps/s, basis)
        "Bandit": (150, {}, 512, 10, 3, 3100,
                   "3,100 env steps/s measured for --config paper with 1 worker"),
        "TabularMDP": (600, {}, 1024, 10, 3, 11900,
                       "11,900 env steps/s (docs/results.md: 78.4M env steps in 110 min, 1 core)"),
        "KrazyWorld-Easy": (400, kw_sets, 256, 5, 3, 15000, kw_basis),
        "KrazyWorld-Medium": (200, kw_sets, 256, 5, 3, 15000, kw_basis),
        "KrazyWorld-Hard": (200, kw_sets, 256, 5, 3, 15000, kw_basis),
        "Maze": (200, kw_sets, 256, 5, 3, 11300,
                 "11,300 env steps/s (docs/results.md: 5x5 mazes, 50.9M env steps in 4500 s), "
                 "applied to the env-step upper bound"),
        "Navigation2D": (500, {"episodes_per_trial": 22}, 64, 22, 20, 10000,
                         "not measured: 10,000 env steps/s assumed"),
    }
    for name, (iterations, sets, trials, episodes, p, rate, basis) in specs.items():
        bench, h = _bench(name), BENCHMARKS[name]
        steps = trials * episodes * h
        for algo in ("rl2", "erl2"):
            rows.append(_row(
                bench, algo, "baseline",
                train=_baselines_train(
                    algo, bench.env_id, iterations, sets, config="paper",
                    explore=p if algo == "erl2" else None, steps_per_iteration=steps,
                    exact=name in FIXED_LENGTH, seconds=iterations * steps / rate, basis=basis),
                evaluate=_evaluate(bench, "baselines", "baselines.agents:make",
                                   _checkpoint_env(bench, algo), EVAL_SECONDS[name]),
                checkpoint=f"checkpoints/{bench.full_name}/{algo}/checkpoint.pt",
                note=_rl2_note(name, algo, p)))
    return rows


def _rl2_note(name: str, algo: str, p: int) -> str:
    if algo == "erl2" and name in ("Bandit", "TabularMDP"):
        return (f"E-RL² with p = {p} unpaid episodes per trial; the benchmark scores all 10 "
                "episodes (it has no explore phase), so E-RL² pays for its exploration here")
    if name == "Bandit" and algo == "rl2":
        return ("--config paper of baselines.rl2 with one worker; docs/results.md reached the "
                "6.5 anchor at 563k env steps with two workers (other random streams)")
    return ""


def _sb3_rows() -> list[dict]:
    rows = []
    for name, steps, rate, basis in (
            ("Bandit", 600_000, 2280, "2,280 env steps/s (docs/results.md, section sb3)"),
            ("KrazyWorld-Easy", 20_000_000, 830,
             "~830 env steps/s (docs/results.md: 46,080 env steps in 54 s)")):
        bench = _bench(name)
        agent = "sb3-recurrentppo"
        env = {"KRAZY_GYM_SB3_MODEL": f"{{reference}}/checkpoints/{bench.full_name}/{agent}/model.zip",
               "KRAZY_GYM_SB3_ALGO": "RecurrentPPO", "KRAZY_GYM_SB3_DETERMINISTIC": "1"}
        argv = ["python", "benchmarks/sb3_reference.py", "--benchmark", name, "--steps",
                str(steps), "--seed", "0", "--save-every", "100000", "--out", "{run}/sb3.json"]
        rows.append(_row(
            bench, agent, "third-party",
            train={"runner": "sb3_reference", "argv": argv, "resume_argv": [*argv, "--resume"],
                   "budget": {"iterations": None, "env_steps": steps, "env_steps_exact": True},
                   "estimate": {"seconds": round(steps / rate), "basis": basis}},
            evaluate=_evaluate(bench, "sb3", "krazy_gym.evaluation.agents:sb3_from_env", env,
                               EVAL_SECONDS[name]),
            checkpoint=f"checkpoints/{bench.full_name}/{agent}/model.zip",
            note="trained only through the public API (to_sb3(make_trial_vec(...))); "
                 "RecurrentPPO rounds the budget up to whole rollouts of n_envs x n_steps"))
    return rows


def _row(bench: Any, agent: str, kind: str, *, train: dict | None, evaluate: dict | None,
         checkpoint: str | None, note: str = "") -> dict:
    return {"name": f"{bench.full_name}/{agent}", "benchmark": bench.full_name, "agent": agent,
            "label": LABELS[agent], "kind": kind,
            "results": f"results/{bench.full_name}/{agent}.json", "checkpoint": checkpoint,
            "train": train, "evaluate": evaluate, "note": note}


def definitions() -> list[dict]:
    """Every reference row: random on every benchmark, the five baselines, sb3, the oracle."""
    rows = []
    for name in BENCHMARKS:
        bench = _bench(name)
        rows.append(_row(bench, "random", "random", train=None,
                         evaluate=_evaluate(bench, "random", "krazy_gym.evaluation.agents:random_agent",
                                            {}, 120 if name in MUJOCO else 5),
                         checkpoint=None))
    rows += _gradient_rows() + _rl2_rows() + _sb3_rows()
    for name in KRAZY:
        bench = _bench(name)
        rows.append(_row(bench, "oracle", "oracle", train=None,
                         evaluate=_evaluate(bench, "oracle",
                                            "krazy_gym.evaluation.oracle_agent:oracle_agent", {}, 5),
                         checkpoint=None,
                         note="privileged: knows the stored test tasks and plays each one's "
                              "optimal plan (krazy_gym/evaluation/oracle_agent.py); its score is "
                              "the stored oracle bound"))
    order = {n: i for i, n in enumerate(BENCHMARKS)}
    return sorted(rows, key=lambda r: (order[r["benchmark"].rsplit("-v", 1)[0]],
                                       list(LABELS).index(r["agent"])))


#: keys of a row's train/evaluate spec that do not define it (estimates; the shell commands
#: rendered from argv), so a definition and its manifest row have the same sha256
_DERIVED_KEYS = ("estimate", "estimate_seconds", "command", "resume_command")


def definition_sha256(row: dict) -> str:
    """sha256 of what a row's results depend on (benchmark, agent, commands, paths); a
    produced record whose definition changed since is stale."""
    keep = {k: row[k] for k in ("name", "benchmark", "agent", "kind", "results", "checkpoint")}
    for part in ("train", "evaluate"):
        spec = row.get(part)
        keep[part] = None if spec is None else {
            k: v for k, v in spec.items() if k not in _DERIVED_KEYS}
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()


def command(argv: list[str], env: dict[str, str], *, run: str = "", out: str = "") -> str:
    """A row's command as a shell line with this repository's relative paths."""
    words = [ref.expand(a, reference="reference", run=run, out=out) for a in argv]
    prefix = [f"{k}={shlex.quote(ref.expand(v, reference='reference'))}" for k, v in env.items()]
    return " ".join(prefix + [shlex.quote(w) for w in words])


# -- manifest -----------------------------------------------------------------------------------
def build_manifest(existing: dict | None) -> tuple[dict, list[str]]:
    """The manifest for :func:`definitions`, keeping the produced records of rows whose
    definition is unchanged; returns it and the names of rows whose record went stale."""
    old = {r["name"]: r for r in (existing or {}).get("rows", [])}
    rows, stale = [], []
    for d in definitions():
        row = dict(d)
        produced = (old.get(d["name"]) or {}).get("produced")
        if produced is not None and produced.get("definition_sha256") != definition_sha256(d):
            stale.append(d["name"])
            produced = None
        run = f"runs/reference/{d['benchmark']}/{d['agent']}"
        if row["train"] is not None:
            row["train"] = {**row["train"], "command": command(row["train"]["argv"], {}, run=run),
                            "resume_command": command(row["train"]["resume_argv"], {}, run=run)}
        if row["evaluate"] is not None:
            row["evaluate"] = {**row["evaluate"], "command": command(
                row["evaluate"]["argv"], row["evaluate"]["env"], out=f"reference/{d['results']}")}
        row["status"] = "done" if produced is not None else "missing"
        row["produced"] = produced
        rows.append(row)
    return {
        "manifest_version": ref.MANIFEST_VERSION,
        "description": "krazy_gym reference rows: how each is trained and evaluated, and what was "
                       "produced. Written by benchmarks/reference_suite.py; placeholders: "
                       "{reference} = this directory, {out} = the results file, {run} = the "
                       "training run directory.",
        "budgets": {"checkpoints_total_bytes": ref.CHECKPOINTS_BUDGET_BYTES,
                    "checkpoint_row_bytes": ref.ROW_CHECKPOINT_BUDGET_BYTES,
                    "results_total_bytes": ref.RESULTS_BUDGET_BYTES},
        "rows": rows,
    }, stale


def read_manifest_json() -> dict | None:
    path = REFERENCE_DIR / ref.MANIFEST_NAME
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def write_manifest(manifest: dict) -> None:
    """manifest.json, MANIFEST.md and the README table, each atomically."""
    from krazy_gym.atomic_io import write_text_atomic

    write_text_atomic(REFERENCE_DIR / ref.MANIFEST_NAME,
                      json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    write_text_atomic(REFERENCE_DIR / "MANIFEST.md", manifest_markdown(manifest))
    if README.is_file():
        text = README.read_text(encoding="utf-8")
        if TABLE_START in text and TABLE_END in text:
            head, rest = text.split(TABLE_START, 1)
            _, tail = rest.split(TABLE_END, 1)
            write_text_atomic(README, head + TABLE_START + "\n" + readme_table(manifest)
                              + TABLE_END + tail)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _ci(triple: list[float] | None) -> str:
    return "-" if not triple else f"{triple[0]:.3f} [{triple[1]:.3f}, {triple[2]:.3f}]"


def estimate_seconds(row: dict) -> float:
    """Training estimate (from the row's budget and stated rate) plus evaluation estimate."""
    train = (row.get("train") or {}).get("estimate", {}).get("seconds", 0)
    return float(train) + float((row.get("evaluate") or {}).get("estimate_seconds", 0))


def readme_table(manifest: dict) -> str:
    """The README's table of shipped rows (generated; do not edit by hand)."""
    done = [r for r in manifest["rows"] if r["status"] == "done"]
    lines = ["| benchmark | agent | score | normalised IQM [95% CI] | training (env steps, "
             "wall time) | verified |", "|---|---|---|---|---|---|"]
    for r in done:
        p = r["produced"]
        train = p.get("train") or {}
        budget = ("-" if not r.get("train") else
                  f"{train.get('env_steps', 0):,}, {_duration(train.get('wall_seconds'))}")
        lines.append(f"| {r['benchmark']} | {r['label']} | {p['scores']['score']:.3f} | "
                     f"{_ci(p['scores']['normalised_iqm'])} | {budget} | "
                     f"{'yes' if p.get('verified_reproducible') else 'no'} |")
    missing = [r for r in manifest["rows"] if r["status"] != "done"]
    lines.append("")
    lines.append(f"{len(done)} of {len(manifest['rows'])} rows shipped; the other "
                 f"{len(missing)} are defined but not produced yet (estimated "
                 f"{_duration(sum(estimate_seconds(r) for r in missing))} of training on one core "
                 "in all; see [reference/MANIFEST.md](reference/MANIFEST.md)).")
    return "\n".join(lines) + "\n"


def manifest_markdown(manifest: dict) -> str:
    """reference/MANIFEST.md: every row of manifest.json as a table (generated)."""
    rows = manifest["rows"]
    out = ["# Reference rows", "",
           "Generated from [manifest.json](manifest.json) by `python "
           "benchmarks/reference_suite.py` (do not edit by hand). Produce a row with `nice python "
           "benchmarks/reference_suite.py --row NAME`; load the shipped rows into a leaderboard "
           "with `python -m leaderboard seed-reference --db board.db --create`.", "",
           f"Size budget: checkpoints {manifest['budgets']['checkpoints_total_bytes'] / 1e6:.0f} MB "
           f"in all (at most {manifest['budgets']['checkpoint_row_bytes'] / 1e6:.0f} MB per row), "
           f"results files {manifest['budgets']['results_total_bytes'] / 1e6:.0f} MB in all.", "",
           "## Rows", "",
           "| row | status | score | normalised IQM [95% CI] | budget (env steps) | "
           "training wall time (estimate) | verified |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        p = r["produced"] or {}
        budget = (r.get("train") or {}).get("budget")
        steps = "-" if budget is None else (
            f"{budget['env_steps']:,}" + ("" if budget["env_steps_exact"] else " (at most)"))
        wall = _duration((p.get("train") or {}).get("wall_seconds")) if p else "-"
        est = _duration(estimate_seconds(r)) if (r.get("train") or r.get("evaluate")) else "-"
        score = f"{p['scores']['score']:.3f}" if p else "-"
        out.append(f"| `{r['name']}` | {r['status']} | {score} | "
                   f"{_ci(p['scores']['normalised_iqm']) if p else '-'} | {steps} | "
                   f"{wall} ({est}) | "
                   f"{('yes' if p.get('verified_reproducible') else 'no') if p else '-'} |")
    out += ["", "## Commands and records", ""]
    for r in rows:
        out.append(f"### `{r['name']}` ({r['label']}, {r['kind']}): {r['status']}")
        out.append("")
        if r.get("note"):
            out += [r["note"], ""]
        if r.get("train"):
            t = r["train"]
            out += [f"- train ({t['budget']['env_steps']:,} env steps"
                    + ("" if t["budget"]["env_steps_exact"] else " at most")
                    + (f", {t['budget']['iterations']} iterations" if t["budget"]["iterations"] else "")
                    + f"; estimate {_duration(t['estimate']['seconds'])}: {t['estimate']['basis']}):",
                    f"  `{t['command']}`"]
        if r.get("evaluate"):
            out += [f"- evaluate ({r['evaluate']['seeds']} seeds, 0..{r['evaluate']['seeds'] - 1}):",
                    f"  `{r['evaluate']['command']}`"]
        p = r.get("produced")
        if p:
            m = p["machine"]
            tr = p.get("train")
            if tr:
                out.append(f"- trained: {tr['env_steps']:,} env steps, {_duration(tr['wall_seconds'])} "
                           f"wall time in {tr['sessions']} session(s) ({tr['wall_time_source']})")
            out += [f"- produced {p['date']} at commit `{p['commit']}`"
                    + (" (uncommitted changes outside reference/)" if p.get("dirty") else "")
                    + f" on {m['cpu']}, {m['cores']} cores, torch {m['torch']}, Python {m['python']}"
                    + (f" ({p['machine_note']})" if p.get("machine_note") else ""),
                    f"- score {p['scores']['score']:.4f} (random {p['scores']['random_score']:.4f}), "
                    f"normalised IQM {_ci(p['scores']['normalised_iqm'])}, mean "
                    f"{_ci(p['scores']['normalised_mean'])}; verified reproducible: "
                    f"{'yes' if p['verified_reproducible'] else 'NO'} ({p['verify_report']})"]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def status_of(row: dict) -> str:
    """``done`` when produced and its shipped files are the recorded ones, else ``missing``
    (``damaged`` when produced but a shipped file does not match)."""
    p = row.get("produced")
    if row["status"] != "done" or not p:
        return "missing"
    results = REFERENCE_DIR / row["results"]
    if not results.is_file():
        return "damaged"
    if row.get("checkpoint"):
        ckpt = REFERENCE_DIR / row["checkpoint"]
        if not ckpt.is_file() or ref.file_sha256(ckpt) != p.get("checkpoint_sha256"):
            return "damaged"
    from krazy_gym.evaluation.results import content_sha256

    try:
        data = json.loads(results.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "damaged"
    return "done" if content_sha256(data) == p.get("results_sha256") else "damaged"


def list_rows(manifest: dict) -> str:
    rows = manifest["rows"]
    width = max(len(r["name"]) for r in rows)
    lines = [f"{'row'.ljust(width)}  status   budget (env steps)   estimate   measured   "
             "score   norm. IQM [95% CI]"]
    for r in rows:
        budget = (r.get("train") or {}).get("budget")
        steps = "-" if budget is None else (
            f"{budget['env_steps']:,}" + ("" if budget["env_steps_exact"] else " max"))
        p = r.get("produced") or {}
        producible = r.get("evaluate") is not None
        est = _duration(estimate_seconds(r)) if producible else "n/a"
        measured = _duration((p.get("train") or {}).get("wall_seconds")) if p.get("train") else "-"
        score = f"{p['scores']['score']:.3f}" if p else "-"
        iqm = _ci(p["scores"]["normalised_iqm"]) if p else "-"
        lines.append(f"{r['name'].ljust(width)}  {status_of(r):7}  {steps:>19}  {est:>9}  "
                     f"{measured:>9}  {score:>6}  {iqm}")
    missing = [r for r in rows if status_of(r) != "done" and r.get("evaluate") is not None]
    lines.append(f"{sum(status_of(r) == 'done' for r in rows)} done, {len(missing)} producible "
                 f"and missing (estimated {_duration(sum(estimate_seconds(r) for r in missing))} "
                 f"on one core), {sum(r.get('evaluate') is None for r in rows)} not producible yet")
    return "\n".join(lines)


# -- producing a row ----------------------------------------------------------------------------
def _argv(argv: list[str], *, run: Path, out: Path | None = None) -> list[str]:
    """A manifest argv as a subprocess command line of this interpreter."""
    words = [ref.expand(a, reference=REFERENCE_DIR, run=run, out=out or "") for a in argv]
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    if words[0] == "krazy-gym":
        return [sys.executable, "-m", "krazy_gym.evaluation", *words[1:]]
    raise ValueError(f"unknown program {words[0]!r} in a manifest command")


def _git_commit() -> tuple[str | None, bool | None]:
    """HEAD and whether tracked files outside reference/ differ from it."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain",
                                 "--untracked-files=no", "--", ".", ":(exclude)reference"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return head, bool(status.strip())


def _sessions_path(run: Path) -> Path:
    return run / "reference_suite_sessions.json"


def _read_sessions(run: Path) -> list[dict]:
    path = _sessions_path(run)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []


def train_state(row: dict, run: Path) -> tuple[str, int]:
    """``("fresh"|"partial"|"complete", progress)`` of the row's run directory."""
    t = row["train"]
    if t["runner"] == "baselines.train":
        if not (run / "checkpoint.pt").is_file():
            return "fresh", 0
        from baselines.common.checkpoint import load_checkpoint

        done = load_checkpoint(run).iteration
        return ("complete" if done >= t["budget"]["iterations"] else "partial"), done
    if t["runner"] == "sb3_reference":
        model, record = run / "sb3.zip", run / "sb3.train.json"
        if not model.is_file():
            return "fresh", 0
        done = int(json.loads(record.read_text(encoding="utf-8")).get("steps_done", 0)) \
            if record.is_file() else 0
        return ("complete" if done >= t["budget"]["env_steps"] else "partial"), done
    raise ValueError(f"{row['name']}: unknown runner {t['runner']!r}")


def train(row: dict, run: Path, resume: bool) -> None:
    """Run (or continue) the row's training in ``run``; each session's wall time is logged."""
    state, done = train_state(row, run)
    if state == "complete":
        print(f"# {row['name']}: training in {run} is complete ({done}); reusing it", flush=True)
        return
    if state == "partial" and not resume:
        raise SystemExit(f"{row['name']}: {run} holds a partial run (at {done}); pass --resume "
                         "to continue it, or remove the directory to start over")
    argv = row["train"]["resume_argv" if state == "partial" else "argv"]
    cmd = _argv(argv, run=run)
    run.mkdir(parents=True, exist_ok=True)
    print(f"# {row['name']}: {'resuming' if state == 'partial' else 'training'}: "
          f"{shlex.join(cmd)}", flush=True)
    from krazy_gym.evaluation.runner import machine

    started, t0 = _now(), time.perf_counter()
    code = subprocess.run(cmd, cwd=REPO).returncode
    seconds = time.perf_counter() - t0
    commit, dirty = _git_commit()
    sessions = _read_sessions(run) + [{"started": started, "seconds": round(seconds, 1),
                                       "argv": argv, "exit_code": code, "commit": commit,
                                       "dirty": dirty, "machine": machine()}]
    from krazy_gym.evaluation.results import write_json_atomic

    write_json_atomic(_sessions_path(run), sessions)
    if code != 0:
        raise SystemExit(f"{row['name']}: training exited with code {code} (progress is kept: "
                         "re-run with --resume)")
    state, done = train_state(row, run)
    if state != "complete":
        raise SystemExit(f"{row['name']}: training ended at {done}, short of the budget")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _progress_rows(run: Path) -> list[dict]:
    path = run / "progress.csv"
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def training_record(row: dict, run: Path, imported: bool) -> dict:
    """Env steps and wall time of the finished run in ``run``."""
    t = row["train"]
    if t["runner"] == "sb3_reference":
        record = json.loads((run / "sb3.train.json").read_text(encoding="utf-8"))
        steps, logged = int(record["steps_done"]), float(record["train_seconds"])
        source_logged = "sb3_reference.py's train_seconds (learning only)"
    else:
        progress = _progress_rows(run)
        steps = int(float(progress[-1]["env_steps"])) if progress else 0
        if progress and "wall_time" in progress[-1]:
            logged, source_logged = float(progress[-1]["wall_time"]), "progress.csv wall_time"
        else:
            logged = sum(float(r.get("time_sampling", 0)) + float(r.get("time_optimization", 0))
                         for r in progress)
            source_logged = "progress.csv time_sampling + time_optimization"
    sessions = [] if imported else _read_sessions(run)
    if sessions:
        wall, source = sum(s["seconds"] for s in sessions), "wall time of the training processes"
    else:
        wall, source = logged, f"{source_logged} (run imported with --from-run)"
    return {"env_steps": steps, "iterations": t["budget"]["iterations"],
            "wall_seconds": round(wall, 1), "wall_time_source": source,
            "sessions": max(1, len(sessions)), "logged_seconds": round(logged, 1)}


def check_imported_run(row: dict, run: Path) -> None:
    """``--from-run``: the run's config must be the row's, its iterations finished."""
    from baselines.common.checkpoint import load_checkpoint
    from baselines.train import algo_module, build_config, make_parser

    if row["train"]["runner"] != "baselines.train":
        raise SystemExit(f"{row['name']}: --from-run takes python -m baselines.train runs only")
    args = make_parser().parse_args(_argv(row["train"]["argv"], run=run / "__none__")[3:])
    expected = dataclasses.asdict(build_config(args, algo_module(args.algo)))
    ckpt = load_checkpoint(run, algo=args.algo, env_id=args.env)
    diffs = {k: (ckpt.config.get(k), v) for k, v in expected.items()
             if k not in NON_RESULT_KEYS and _norm(ckpt.config.get(k)) != _norm(v)}
    if diffs:
        listed = ", ".join(f"{k}: run {a!r}, row {b!r}" for k, (a, b) in sorted(diffs.items()))
        raise SystemExit(f"{row['name']}: {run} was trained with another config ({listed}); "
                         "change the row's definition in benchmarks/reference_suite.py or train it")
    if ckpt.iteration != row["train"]["budget"]["iterations"]:
        raise SystemExit(f"{row['name']}: {run} is at iteration {ckpt.iteration}, the row's "
                         f"budget is {row['train']['budget']['iterations']}")


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def same_checkpoint(a: Path, b: Path) -> bool:
    """Whether two baselines checkpoints hold the same algo, env, iteration, config and
    tensors (bit for bit), whatever their file bytes."""
    import torch

    from baselines.common.checkpoint import CheckpointError, load_checkpoint

    try:
        x, y = load_checkpoint(a), load_checkpoint(b)
    except CheckpointError:
        return False

    def same(u: Any, v: Any) -> bool:
        if isinstance(u, torch.Tensor) or isinstance(v, torch.Tensor):
            return (isinstance(u, torch.Tensor) and isinstance(v, torch.Tensor)
                    and u.dtype == v.dtype and u.shape == v.shape and torch.equal(u, v))
        if isinstance(u, dict) and isinstance(v, dict):
            return u.keys() == v.keys() and all(same(u[k], v[k]) for k in u)
        if isinstance(u, (list, tuple)) and isinstance(v, (list, tuple)):
            return len(u) == len(v) and all(same(i, j) for i, j in zip(u, v))
        return u == v

    return all(same(getattr(x, f.name), getattr(y, f.name)) for f in dataclasses.fields(x))


def ship_checkpoint(row: dict, run: Path, staging: Path) -> Path:
    """The small checkpoint (and its training logs) in ``staging``; returns the checkpoint."""
    staging.mkdir(parents=True)
    target = staging / Path(row["checkpoint"]).name
    if row["train"]["runner"] == "baselines.train":
        from baselines.common.checkpoint import Checkpoint, load_checkpoint, save_checkpoint

        ckpt = load_checkpoint(run)
        # what the harness agents load (baselines.rl2.load_agent / GradientMetaAgent): the
        # policy's weights and shape; the optimiser state and random streams only resume runs
        state = {k: ckpt.state[k] for k in ("policy", "model", "model_spec") if k in ckpt.state}
        save_checkpoint(target, Checkpoint(algo=ckpt.algo, env_id=ckpt.env_id,
                                           iteration=ckpt.iteration, config=ckpt.config,
                                           state=state, rng={}))
        shipped = REFERENCE_DIR / row["checkpoint"]
        if shipped.is_file() and same_checkpoint(shipped, target):
            # torch.save writes a random serialization id: keep the shipped bytes when the
            # weights are the same, so re-producing a row does not churn the repository
            shutil.copyfile(shipped, target)
        extras = ("config.json", "progress.csv")
    else:
        shutil.copyfile(run / "sb3.zip", target)
        extras = ("sb3.train.json",)
    for name in extras:
        if (run / name).is_file():
            shutil.copyfile(run / name, staging / name)
    return target


def _install_dir(staging: Path, final: Path) -> None:
    """Put ``staging`` at ``final`` (replacing an earlier one)."""
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    if old.exists():
        shutil.rmtree(old)


def produce(row: dict, args: argparse.Namespace) -> dict:
    """Train (or reuse), ship, evaluate, verify and install one row; returns its record."""
    from krazy_gym.evaluation.results import write_bytes_atomic
    from krazy_gym.evaluation.runner import machine
    from leaderboard.validate import load_submission

    bench = _bench(row["benchmark"])
    run = (args.from_run or args.work / row["benchmark"] / row["agent"]).resolve()
    if row["train"] is not None:
        if args.from_run:
            check_imported_run(row, run)
        else:
            train(row, run, args.resume)
    else:
        run.mkdir(parents=True, exist_ok=True)
    staging = None
    env = dict(row["evaluate"]["env"])
    if row["checkpoint"] is not None:
        final_dir = (REFERENCE_DIR / row["checkpoint"]).parent
        final_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = final_dir.with_name(f".{final_dir.name}.staging-{os.getpid()}")
        if staging.exists():
            shutil.rmtree(staging)
        ckpt = ship_checkpoint(row, run, staging)
        size = sum(f.stat().st_size for f in staging.iterdir())
        if size > ref.ROW_CHECKPOINT_BUDGET_BYTES:
            shutil.rmtree(staging)
            raise SystemExit(f"{row['name']}: the checkpoint directory is {size:,} bytes, over the "
                             f"budget of {ref.ROW_CHECKPOINT_BUDGET_BYTES:,} per row")
        # evaluate the staged copy: its bytes are the ones that will ship
        rel = ckpt.relative_to(REFERENCE_DIR).as_posix()
        env = {k: v.replace(f"{{reference}}/{row['checkpoint']}", f"{{reference}}/{rel}")
               for k, v in env.items()}
    try:
        out = run / "reference-results.json"
        for stale in (out, Path(f"{out}.partial.json"), Path(f"{out}.previous.json")):
            stale.unlink(missing_ok=True)
        cmd = _argv(row["evaluate"]["argv"], run=run, out=out)
        real_env = {k: ref.expand(v, reference=REFERENCE_DIR) for k, v in env.items()}
        print(f"# {row['name']}: evaluating: {shlex.join(cmd)}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.run(cmd, cwd=REPO, env={**os.environ, **real_env}).returncode
        eval_seconds = time.perf_counter() - t0
        if code != 0:
            raise SystemExit(f"{row['name']}: evaluation exited with code {code}")
        sub = load_submission(out)  # every check of `leaderboard submit`
        print(f"# {row['name']}: re-running the evaluation to check it reproduces ...", flush=True)
        from krazy_gym.evaluation.agents import agent_environment
        from leaderboard.api import verify_scores

        with agent_environment(real_env):
            ok, report = verify_scores(sub, sub.agent_factory, compare="returns")
        print(f"# {row['name']}: {report}", flush=True)
        if staging is not None:
            _install_dir(staging, (REFERENCE_DIR / row["checkpoint"]).parent)
            staging = None
        (REFERENCE_DIR / row["results"]).parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(REFERENCE_DIR / row["results"], out.read_bytes())
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging)
    commit, dirty = _git_commit()
    agg = sub.aggregates
    record = {
        "definition_sha256": definition_sha256(row),
        "date": _now(), "commit": commit, "dirty": dirty,
        "machine": machine(),
        "train": training_record(row, run, imported=bool(args.from_run)) if row["train"] else None,
        "evaluate": {"wall_seconds": round(eval_seconds, 1), "seeds": sub.seeds},
        "seeds": sub.seeds,
        "results_sha256": sub.sha256,
        "checkpoint_sha256": (ref.file_sha256(REFERENCE_DIR / row["checkpoint"])
                              if row["checkpoint"] else None),
        "checkpoint_bytes": (sum(f.stat().st_size for f in (REFERENCE_DIR / row["checkpoint"]).parent.iterdir())
                             if row["checkpoint"] else 0),
        "scores": {"score": float(agg["score_mean"]), "random_score": float(bench.random_score),
                   "normalised_iqm": [sub.headline["iqm"], sub.headline["iqm_low"], sub.headline["iqm_high"]],
                   "normalised_mean": [sub.headline["mean"], sub.headline["mean_low"],
                                       sub.headline["mean_high"]]},
        "verified_reproducible": ok, "verify_report": report,
    }
    if args.from_run:
        record["machine_note"] = ("the machine of the import; the imported run does not record "
                                  "the machine it was trained on")
    return record


def update_manifest(name: str, record: dict) -> dict:
    """Record one produced row. An exclusive lock on the ``reference/`` directory makes the
    read-modify-write safe when two suite processes (one per core) finish rows at once."""
    import fcntl

    fd = os.open(REFERENCE_DIR, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        manifest, stale = build_manifest(read_manifest_json())
        for row in manifest["rows"]:
            if row["name"] == name:
                row["produced"], row["status"] = record, "done"
        write_manifest(manifest)
    finally:
        os.close(fd)  # releases the lock
    return manifest


def select(manifest: dict, args: argparse.Namespace) -> list[dict]:
    rows = manifest["rows"]
    names = {r["name"] for r in rows}
    if args.row:
        for name in args.row:
            if name not in names:
                import difflib

                close = difflib.get_close_matches(name, sorted(names), n=3)
                hint = f" (did you mean {' or '.join(close)}?)" if close else ""
                raise SystemExit(f"--row {name!r}: no such row{hint}; --list shows them")
        chosen = [r for r in rows if r["name"] in args.row]
    elif args.benchmark:
        full = _bench(args.benchmark).full_name
        chosen = [r for r in rows if r["benchmark"] == full]
    else:
        chosen = list(rows)
    if not args.row and not args.redo:
        chosen = [r for r in chosen if status_of(r) != "done"]
    blocked = [r for r in chosen if r["evaluate"] is None]
    for r in blocked:
        print(f"# {r['name']}: cannot be produced yet: {r['note']}", flush=True)
        if args.row:
            raise SystemExit(2)
    return [r for r in chosen if r["evaluate"] is not None]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--list", action="store_true", help="the rows with status and estimates")
    what.add_argument("--row", action="append", metavar="NAME", help="produce this row (repeatable)")
    what.add_argument("--benchmark", metavar="NAME", help="produce the missing rows of a benchmark")
    what.add_argument("--all", action="store_true", help="produce every missing row")
    what.add_argument("--write-manifest", action="store_true",
                      help="rewrite manifest.json, MANIFEST.md and the README table from definitions()")
    ap.add_argument("--resume", action="store_true", help="continue partial training runs")
    ap.add_argument("--redo", action="store_true", help="with --benchmark/--all: also rows already done")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="training run directories")
    ap.add_argument("--from-run", type=Path, default=None, metavar="DIR",
                    help="with one --row: ship this finished baselines.train run")
    args = ap.parse_args(argv)
    if args.from_run is not None and (not args.row or len(args.row) != 1):
        ap.error("--from-run needs exactly one --row")
    if args.from_run is not None and not (args.from_run / "checkpoint.pt").is_file():
        ap.error(f"--from-run {args.from_run}: no checkpoint.pt there")

    manifest, stale = build_manifest(read_manifest_json())
    if stale:
        print(f"# definitions changed since these rows were produced (now missing; their old "
              f"files stay until re-produced): {', '.join(stale)}", flush=True)
    if args.write_manifest:
        write_manifest(manifest)
        print(f"wrote {REFERENCE_DIR / ref.MANIFEST_NAME} ({len(manifest['rows'])} rows), "
              f"{REFERENCE_DIR / 'MANIFEST.md'} and the README table")
        return 0
    if args.list:
        print(list_rows(manifest))
        return 0

    chosen = select(manifest, args)
    if not chosen:
        print("nothing to do: every selected row is done (--redo produces them again)")
        return 0
    total = sum(estimate_seconds(r) for r in chosen)
    print(f"# {len(chosen)} row(s), estimated {_duration(total)} on one core:", flush=True)
    for r in chosen:
        t = r.get("train")
        what = ("evaluation only" if t is None else
                f"{t['budget']['env_steps']:,} env steps ({t['estimate']['basis']})")
        print(f"#   {r['name']}: ~{_duration(estimate_seconds(r))}, {what}", flush=True)
    from tqdm import tqdm

    bar = tqdm(total=round(total), unit="s est.", desc="reference rows", disable=len(chosen) < 2)
    for r in chosen:
        started = time.perf_counter()
        record = produce(r, args)
        manifest = update_manifest(r["name"], record)
        s = record["scores"]
        print(f"RESULT {r['name']}: score {s['score']:.4f} (random {s['random_score']:.4f}), "
              f"normalised IQM {_ci(s['normalised_iqm'])}, verified reproducible "
              f"{record['verified_reproducible']}, "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        bar.update(round(estimate_seconds(r)))
    bar.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
