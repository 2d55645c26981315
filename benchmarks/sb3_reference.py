"""sb3-contrib RecurrentPPO on RL² trials, trained and scored the way a third party would.

A third-party reference row: the model is trained only through the public API
(``to_sb3(make_trial_vec(...))``) on **training** tasks and scored by the harness on the
benchmark's held-out test tasks through ``sb3_agent`` (the ``sb3`` built-in agent), which
builds the trial inputs and keeps the LSTM state per task. One trial is the benchmark's
explore + exploit episodes, so the LSTM can explore in the first ones and exploit later.

Benchmarks (``--benchmark``), each with fixed hyperparameters (:data:`CONFIGS`):

* ``Bandit``: 5-armed Bernoulli bandit, trials of 10 pulls (0 explore + 10 exploit
  episodes). Random 0.5 per pull, Gittins 0.66 (the RL² paper's 6.6 per trial).
* ``KrazyWorld-Easy``: trials of 5 episodes (3 explore + 2 exploit) of at most 24 steps.

Usage (``--steps`` is the training budget in env steps; the figures in docs/results.md)::

    nice python benchmarks/sb3_reference.py --benchmark Bandit --steps 300000 \\
        --out runs/sb3/bandit.json
    nice python benchmarks/sb3_reference.py --benchmark KrazyWorld-Easy --steps 20000000 \\
        --out runs/sb3/kw-easy.json --resume     # continue after an interruption

Writes the harness results file ``--out`` (``krazy-gym validate``/``leaderboard submit``
accept it; re-run it with ``KRAZY_GYM_SB3_MODEL=<model> KRAZY_GYM_SB3_ALGO=RecurrentPPO
krazy-gym evaluate --agent sb3 ...``), the model ``<out stem>.zip`` (saved every
``--save-every`` steps, atomically) and ``<out stem>.train.json`` (the command, config, seed,
steps, training wall time, machine (CPU model, cores, versions), commit and the model's sha256).

Resuming: ``--resume`` loads the saved model and continues to ``--steps``. SB3 saves neither
the envs nor its random streams, so a resumed run re-seeds them from (seed, steps done): it
is reproducible but not identical to an uninterrupted run. Without ``--resume`` an existing
model is an error (nothing is overwritten).

SB3 seeds Python's, numpy's and torch's global generators itself (``seed=``); the harness
part uses only explicit seeds. torch runs on one thread, so the run is deterministic on a
given machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: hyperparameters per benchmark (RecurrentPPO keywords; ``n_envs`` trials run in lockstep)
CONFIGS: dict[str, dict[str, Any]] = {
    "Bandit": {
        "n_envs": 32, "n_steps": 50, "batch_size": 400, "n_epochs": 4, "learning_rate": 1e-3,
        "gamma": 0.99, "gae_lambda": 0.95, "ent_coef": 0.01,
        "policy_kwargs": {"lstm_hidden_size": 64, "net_arch": [64]},
    },
    "KrazyWorld-Easy": {
        "n_envs": 32, "n_steps": 120, "batch_size": 960, "n_epochs": 4, "learning_rate": 3e-4,
        "gamma": 0.99, "gae_lambda": 0.95, "ent_coef": 0.01,
        "policy_kwargs": {"lstm_hidden_size": 128, "net_arch": [128]},
    },
}
ALGO = "RecurrentPPO"


def paths(out: Path) -> tuple[Path, Path]:
    """The model and the training-record paths beside ``out``."""
    stem = out.with_suffix("")
    return Path(f"{stem}.zip"), Path(f"{stem}.train.json")


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    from krazy_gym.evaluation.results import write_json_atomic as write

    write(path, data)


def save_model_atomic(model: Any, path: Path) -> None:
    """``model.save`` to a temporary file in the same directory, then rename (0644)."""
    tmp = path.with_name(f".{path.name}.tmp.zip")
    model.save(tmp)
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(Path(__file__).resolve().parents[1]), "rev-parse",
                              "HEAD"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def make_env(bench: Any, n_envs: int) -> Any:
    """Training trials of the benchmark's env (training tasks), as an SB3 VecEnv."""
    from krazy_gym.wrappers import make_trial_vec, to_sb3

    return to_sb3(make_trial_vec(bench.env_id, n_envs, episodes_per_trial=bench.episodes,
                                 **bench.env_kwargs))


def train(args: argparse.Namespace, bench: Any, model_path: Path, record_path: Path) -> dict:
    """Train (or continue) to ``args.steps`` env steps; returns the training record."""
    from sb3_contrib import RecurrentPPO

    cfg = dict(CONFIGS[bench.name])
    n_envs = cfg.pop("n_envs")
    venv = make_env(bench, n_envs)
    record = {"benchmark": bench.name, "algo": ALGO, "config": CONFIGS[bench.name],
              "seed": args.seed, "episodes_per_trial": bench.episodes, "steps_done": 0,
              "train_seconds": 0.0}
    if model_path.exists():
        if not args.resume:
            raise SystemExit(f"{model_path} exists: pass --resume to continue it, or another --out")
        saved = json.loads(record_path.read_text(encoding="utf-8"))
        for key in ("benchmark", "algo", "config", "seed", "episodes_per_trial"):
            if saved.get(key) != record[key]:
                raise SystemExit(f"--resume: {record_path} has {key}={saved.get(key)!r}, "
                                 f"this run {record[key]!r}")
        record = saved
        done = int(record["steps_done"])
        venv.seed(args.seed + done)
        model = RecurrentPPO.load(model_path, env=venv, device="cpu")
        model.set_random_seed(args.seed + done)
        print(f"# resumed {model_path} at {done:,} steps", flush=True)
    elif args.resume:
        raise SystemExit(f"--resume: there is no model at {model_path} to continue")
    else:
        venv.seed(args.seed)
        model = RecurrentPPO("MlpLstmPolicy", venv, seed=args.seed, device="cpu", verbose=0,
                             **cfg)
    start_steps = model.num_timesteps
    started = time.perf_counter()
    base_seconds = float(record["train_seconds"])
    while model.num_timesteps < args.steps:
        chunk = min(args.save_every, args.steps - model.num_timesteps)
        model.learn(chunk, reset_num_timesteps=False)
        elapsed = time.perf_counter() - started
        record.update(steps_done=int(model.num_timesteps),
                      train_seconds=round(base_seconds + elapsed, 1))
        save_model_atomic(model, model_path)
        write_json_atomic(record_path, record)
        rate = (model.num_timesteps - start_steps) / max(elapsed, 1e-9)
        eta = max(0, args.steps - model.num_timesteps) / max(rate, 1e-9)
        trials = [ep["r"] for ep in model.ep_info_buffer]
        mean = sum(trials) / len(trials) if trials else float("nan")
        print(f"steps {model.num_timesteps:>11,}  train trial return {mean:8.3f}  "
              f"{rate:7.0f} steps/s  eta {eta / 60:6.1f} min", flush=True)
    venv.close()
    return record


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchmark", choices=sorted(CONFIGS), required=True)
    ap.add_argument("--steps", type=int, required=True, help="training budget in env steps")
    ap.add_argument("--out", type=Path, required=True, help="harness results JSON to write")
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--eval-seeds", type=int, default=5, help="harness seeds 0..K-1")
    ap.add_argument("--stochastic", action="store_true",
                    help="sample actions (with the harness seed) instead of the most likely one")
    ap.add_argument("--save-every", type=int, default=100_000, help="env steps between saves")
    ap.add_argument("--resume", action="store_true", help="continue the model saved beside --out")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    args = ap.parse_args(argv)
    for name in ("steps", "eval_seeds", "save_every", "threads"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.seed < 0:
        ap.error(f"--seed must be >= 0, got {args.seed}")
    if not args.out.parent.is_dir():
        ap.error(f"--out {str(args.out)!r}: directory {str(args.out.parent)!r} does not exist")

    import torch

    from krazy_gym.evaluation import evaluate, get_benchmark, summary_table
    from krazy_gym.evaluation.agents import agent_environment, resolve_agent_spec
    from krazy_gym.evaluation.runner import machine

    torch.set_num_threads(args.threads)
    bench = get_benchmark(args.benchmark)
    model_path, record_path = paths(args.out)
    print(f"# {bench.name}: {ALGO} on trials of {bench.episodes} episodes, budget "
          f"{args.steps:,} env steps, seed {args.seed}; machine: "
          f"{machine()['cpu']} ({os.cpu_count()} cores), torch {torch.__version__}, "
          f"{args.threads} thread(s)", flush=True)
    record = train(args, bench, model_path, record_path)

    settings = {"KRAZY_GYM_SB3_MODEL": str(model_path), "KRAZY_GYM_SB3_ALGO": ALGO,
                "KRAZY_GYM_SB3_DETERMINISTIC": "0" if args.stochastic else "1"}
    started = time.perf_counter()
    with agent_environment(settings):  # the sb3 built-in agent reads them (as the CLI would)
        results = evaluate(resolve_agent_spec("sb3"), bench, seeds=args.eval_seeds,
                           out=args.out, progress=False)
    eval_seconds = time.perf_counter() - started
    record.update(
        command=" ".join(["python", "benchmarks/sb3_reference.py", *(argv or sys.argv[1:])]),
        evaluation={"seeds": args.eval_seeds, "environment": settings, "deterministic": not args.stochastic,
                    "seconds": round(eval_seconds, 1), "results": str(args.out),
                    "results_sha256": results["sha256"]},
        model=str(model_path), model_sha256=sha256(model_path), commit=git_commit(),
        machine=machine(), torch=torch.__version__,
    )
    write_json_atomic(record_path, record)
    print(summary_table(results))
    agg = results["aggregates"]
    iqm = agg["normalised_iqm"]
    print(f"RESULT {bench.name} {ALGO} steps={record['steps_done']} "
          f"train_seconds={record['train_seconds']} score={agg['score_mean']:.4f} "
          f"random={bench.random_score:.4f} normalised_iqm={iqm['value']:.4f} "
          f"[{iqm['ci_low']:.4f}, {iqm['ci_high']:.4f}] deterministic={not args.stochastic}",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
