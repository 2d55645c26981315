"""Train a baseline: ``python -m baselines.train --algo ALGO --env ID --out runs/NAME``.

Usage::

    python -m baselines.train --algo promp --env KrazyGym/Navigation2D-v0 --out runs/nav-promp
    python -m baselines.train --algo maml-trpo --env KrazyGym/HalfCheetahDir-v0 --config paper \\
        --iterations 500 --seed 1 --out runs/hc-maml
    python -m baselines.train --algo promp --env KrazyGym/Navigation2D-v0 --out runs/nav-promp \\
        --resume --iterations 200          # continue the same run up to 200 iterations
    python -m baselines.train --algo rl2 --env KrazyGym/KrazyWorld-Easy-v0 --config paper \
        --iterations 10000 --max-env-steps 1000000 --out runs/kw-rl2   # an env-step budget
    python -m baselines.train --algo erl2 --explore-episodes 3 --env KrazyGym/KrazyWorld-Easy-v0 \\
        --set episodes_per_trial=5 --out runs/kw-erl2

A run directory holds ``config.json``, ``checkpoint.pt`` (written after every iteration),
``progress.csv`` and ``learning_curve.png``. Bad input (unknown algo, env or config key, a
checkpoint of another algo/env, ``--resume`` without a checkpoint, a fresh run into a directory
that already has a checkpoint) prints one clear line and exits with code 2.

CONTRACT (every algorithm module named in :data:`ALGOS` follows it)
-------------------------------------------------------------------
* ``Config``: a dataclass, every field with a default and a comment/docstring saying what it
  is. Required fields: ``algo: str`` (the CLI name, e.g. ``"maml-trpo"``), ``env_id: str``,
  ``seed: int``, ``iterations: int`` (total iterations of the run). ``Config.paper(env_id)``
  (classmethod) returns the paper's settings for that env's family (``--config paper``);
  ``Config(env_id=...)`` gives the defaults. Invalid values raise ``ValueError`` naming the
  field (in ``__post_init__``). ``baselines.rl2.Config`` also has ``explore_episodes: int``
  (0 = RL², p > 0 = E-RL² with the first p episodes' training rewards zeroed).
* ``train(config, out_dir: Path, resume: bool = False) -> None``: runs iterations
  ``[start, config.iterations)``, writes ``out_dir/checkpoint.pt`` via
  ``baselines.common.checkpoint.save_checkpoint`` after every iteration (``Checkpoint.algo =
  config.algo``, ``env_id = config.env_id``, every RNG in ``rng``), logs one row per iteration
  with ``baselines.common.logger.RunLogger`` (columns ``pre_return``/``post_return`` or the
  algorithm's own) and refreshes the PNG. With ``resume=True`` it loads the checkpoint
  (``load_checkpoint(out_dir, algo=config.algo, env_id=config.env_id)``), restores every
  state and continues, so that N iterations == k + resume + (N - k), bit for bit.
  It shows a tqdm progress bar over iterations.
* ``load_agent(path) -> MetaAgent``: a harness agent from a checkpoint file or run directory
  (used by :func:`baselines.agents.load`).
* Errors the user can fix raise ``ConfigError``/``CheckpointError`` (both ``ValueError``);
  this CLI turns them into exit code 2.

On ``--resume`` the config is taken from the checkpoint (only ``--iterations`` and
``--max-env-steps`` may change it), so a resumed run is the same run. ``--max-env-steps N``
ends a run after the first iteration at which its env steps reach N, whichever of it and
``--iterations`` comes first: comparisons between algorithms at equal sample budgets.
"""

from __future__ import annotations

import os

# Single-threaded BLAS for the small per-task solves (linear baseline): on a shared or busy
# machine multi-threaded OpenBLAS spins and runs many times slower. Must precede numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from baselines.common.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checkpoint
from baselines.common.config import ConfigError, apply_overrides, config_from_dict
from krazy_gym.atomic_io import write_bytes_atomic

#: CLI name -> (module, config overrides that select the variant)
ALGOS: dict[str, tuple[str, dict[str, Any]]] = {
    "maml-vpg": ("baselines.maml", {"outer": "vpg"}),
    "maml-trpo": ("baselines.maml", {"outer": "trpo"}),
    "emaml-vpg": ("baselines.emaml", {"outer": "vpg"}),
    "emaml-trpo": ("baselines.emaml", {"outer": "trpo"}),
    "promp": ("baselines.promp", {"objective": "promp"}),
    "lvc-vpg": ("baselines.promp", {"objective": "lvc-vpg"}),
    "dice": ("baselines.promp", {"objective": "dice"}),
    "rl2": ("baselines.rl2", {"explore_episodes": 0}),
    "erl2": ("baselines.rl2", {}),  # explore_episodes from --explore-episodes
}


class UsageError(ValueError):
    """Bad command-line input (exit code 2)."""


def algo_module(algo: str) -> ModuleType:
    """Import the module that implements ``algo`` (a key of :data:`ALGOS`)."""
    if algo not in ALGOS:
        raise UsageError(f"unknown --algo {algo!r}; choose from {', '.join(ALGOS)}")
    name = ALGOS[algo][0]
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            raise UsageError(f"algo {algo!r} needs module {name}, which is not available") from exc
        raise


def check_env_id(env_id: str) -> None:
    """Raise :class:`UsageError` unless ``env_id`` is a registered Gymnasium id."""
    import gymnasium as gym

    import krazy_gym  # noqa: F401  (registers the KrazyGym/* ids)

    if env_id not in gym.registry:
        known = ", ".join(i for i in gym.registry if i.startswith("KrazyGym/"))
        raise UsageError(f"unknown --env {env_id!r}; krazy_gym ids: {known}")


def _parse_sets(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set takes key=value, got {item!r}")
        out[key.strip()] = value
    return out


def build_config(args: argparse.Namespace, module: ModuleType) -> Any:
    """The run's config from the CLI arguments (fresh run) or the checkpoint (``--resume``)."""
    cfg_cls = module.Config
    out = Path(args.out)
    if args.resume:
        if args.set or args.config != "default" or args.seed is not None:
            raise UsageError("--resume continues the saved config: drop --set/--config/--seed")
        ckpt = load_checkpoint(out, algo=args.algo, env_id=args.env)  # CheckpointError if not
        config = config_from_dict(cfg_cls, ckpt.config)
        changes = {k: v for k, v in (("iterations", args.iterations),
                                     ("max_env_steps", args.max_env_steps)) if v is not None}
        return apply_overrides(config, changes) if changes else config
    if (out / CHECKPOINT_NAME).exists():
        raise UsageError(
            f"{str(out)!r} already holds a checkpoint: pass --resume to continue it "
            "or choose another --out"
        )
    config = cfg_cls.paper(args.env) if args.config == "paper" else cfg_cls(env_id=args.env)
    overrides: dict[str, Any] = dict(ALGOS[args.algo][1])
    overrides["algo"] = args.algo
    if args.algo == "erl2" and args.explore_episodes is not None:
        overrides["explore_episodes"] = args.explore_episodes
    elif args.explore_episodes is not None:
        raise UsageError("--explore-episodes applies only to --algo erl2")
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.iterations is not None:
        overrides["iterations"] = args.iterations
    if args.max_env_steps is not None:
        overrides["max_env_steps"] = args.max_env_steps
    overrides.update(_parse_sets(args.set))
    return apply_overrides(config, overrides)


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m baselines.train",
        description="Train a krazy_gym baseline (MAML, E-MAML, ProMP, RL², E-RL²).",
    )
    p.add_argument("--algo", required=True, help=f"one of: {', '.join(ALGOS)}")
    p.add_argument("--env", required=True, help="a registered id, e.g. KrazyGym/Navigation2D-v0")
    p.add_argument("--out", required=True, help="run directory (checkpoint, CSV, PNG)")
    p.add_argument("--config", default="default", choices=("default", "paper"))
    p.add_argument("--iterations", type=int, default=None, help="total iterations of the run")
    p.add_argument(
        "--max-env-steps", type=int, default=None, metavar="N",
        help="env-step budget: also stop after the first iteration at which the run's env "
        "steps reach N (0: none)",
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field"
    )
    p.add_argument(
        "--explore-episodes", type=int, default=None, help="E-RL²: episodes with zeroed reward"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit code (2 for bad input)."""
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        module = algo_module(args.algo)
        check_env_id(args.env)
        config = build_config(args, module)
        if getattr(config, "tensorboard", False) and importlib.util.find_spec("tensorboard") is None:
            raise UsageError(
                "--set tensorboard=true needs the tensorboard package, which is not installed "
                "(pip install 'krazy_gym[tensorboard]')"
            )
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        from baselines.common.config import config_to_json

        write_bytes_atomic(out / "config.json", config_to_json(config).encode())
        module.train(config, out, resume=args.resume)
    except (UsageError, ConfigError, CheckpointError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


def config_fields(module: ModuleType) -> list[str]:
    """Names of an algorithm's config fields (for help texts and tests)."""
    return [f.name for f in dataclasses.fields(module.Config)]


if __name__ == "__main__":
    sys.exit(main())
