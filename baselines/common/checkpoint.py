"""Checkpoints that resume a training run exactly (bit for bit).

A checkpoint is one file (``torch.save`` of plain containers and tensors) holding:

* ``algo``, ``env_id``: which algorithm and env made it (a resume or ``agents.load`` checks them);
* ``iteration``: how many training iterations are complete;
* ``config``: the run's config as a dict (``dataclasses.asdict``);
* ``state``: whatever the algorithm needs (model/optimiser/baseline ``state_dict``s, ...);
* ``rng``: the state of every random generator the run uses (named ``numpy.random.Generator``
  and ``torch.Generator`` objects plus torch's global CPU generator), so that the rest of the
  run draws exactly the same numbers as an uninterrupted one.

Writes are atomic (temporary file in the same directory + ``os.replace``): a crash while saving
leaves the previous checkpoint intact.

Example::

    rngs = {"sampler": np.random.default_rng(0), "torch": torch.Generator().manual_seed(0)}
    save_checkpoint(out / CHECKPOINT_NAME, Checkpoint(
        algo="promp", env_id="KrazyGym/Navigation2D-v0", iteration=3,
        config=dataclasses.asdict(cfg), state={"policy": policy.state_dict()},
        rng=capture_rng_state(rngs)))
    ckpt = load_checkpoint(out / CHECKPOINT_NAME, algo="promp", env_id=cfg.env_id)
    restore_rng_state(ckpt.rng, rngs)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from krazy_gym.atomic_io import atomic_output

#: file name of the latest checkpoint inside a run directory
CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or belongs to another algorithm or env."""


@dataclasses.dataclass
class Checkpoint:
    """Everything needed to continue a run (see the module docstring)."""

    algo: str
    env_id: str
    iteration: int
    config: dict[str, Any]
    state: dict[str, Any]
    rng: dict[str, Any]


def checkpoint_path(path: str | os.PathLike[str]) -> Path:
    """``path`` itself if it is a file or ends in ``.pt``, else ``path/checkpoint.pt``."""
    p = Path(path)
    return p if p.is_file() or p.suffix == ".pt" else p / CHECKPOINT_NAME


def capture_rng_state(
    generators: Mapping[str, np.random.Generator | torch.Generator],
) -> dict[str, Any]:
    """Snapshot the named generators and torch's global CPU generator."""
    out: dict[str, Any] = {"__torch_global__": torch.get_rng_state()}
    for name, gen in generators.items():
        if isinstance(gen, np.random.Generator):
            out[name] = {"kind": "numpy", "state": gen.bit_generator.state}
        elif isinstance(gen, torch.Generator):
            out[name] = {"kind": "torch", "state": gen.get_state()}
        else:
            raise TypeError(
                f"generator {name!r} must be a numpy.random.Generator or torch.Generator, "
                f"got {type(gen).__name__}"
            )
    return out


def restore_rng_state(
    state: Mapping[str, Any],
    generators: Mapping[str, np.random.Generator | torch.Generator],
) -> None:
    """Put the named generators (in place) and torch's global generator back to ``state``.

    Raises:
        CheckpointError: a generator is missing from ``state`` or of another kind.
    """
    missing = sorted(set(generators) - set(state))
    if missing:
        raise CheckpointError(f"checkpoint has no RNG state for {missing}")
    for name, gen in generators.items():
        entry = state[name]
        if isinstance(gen, np.random.Generator) and entry["kind"] == "numpy":
            gen.bit_generator.state = entry["state"]
        elif isinstance(gen, torch.Generator) and entry["kind"] == "torch":
            gen.set_state(entry["state"])
        else:
            raise CheckpointError(
                f"RNG {name!r}: checkpoint holds a {entry['kind']} generator state, "
                f"the run has a {type(gen).__name__}"
            )
    if "__torch_global__" in state:
        torch.set_rng_state(state["__torch_global__"])


def save_checkpoint(path: str | os.PathLike[str], ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` atomically to ``path`` (a file, or a run directory). Returns the file."""
    target = checkpoint_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format_version": FORMAT_VERSION, **dataclasses.asdict(ckpt)}
    with atomic_output(target) as tmp:
        torch.save(payload, tmp)
    return target


def load_checkpoint(
    path: str | os.PathLike[str],
    *,
    algo: str | None = None,
    env_id: str | None = None,
) -> Checkpoint:
    """Read a checkpoint; optionally insist on its algorithm and env id.

    Args:
        path: the checkpoint file or its run directory.
        algo: if given, the checkpoint must have been written by this algorithm.
        env_id: if given, the checkpoint must have been trained on this env id.

    Raises:
        CheckpointError: no such file, not a checkpoint, or another algorithm/env.
    """
    target = checkpoint_path(path)
    if not target.is_file():
        raise CheckpointError(f"no checkpoint at {str(target)!r}")
    try:
        payload = torch.load(target, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise CheckpointError(f"{str(target)!r} is not a readable checkpoint: {exc}") from exc
    fields = [f.name for f in dataclasses.fields(Checkpoint)]
    if not isinstance(payload, dict) or any(k not in payload for k in fields):
        raise CheckpointError(f"{str(target)!r} is not a krazy_gym baselines checkpoint")
    ckpt = Checkpoint(**{k: payload[k] for k in fields})
    if algo is not None and ckpt.algo != algo:
        raise CheckpointError(
            f"checkpoint {str(target)!r} was written by algo {ckpt.algo!r}, not {algo!r}"
        )
    if env_id is not None and ckpt.env_id != env_id:
        raise CheckpointError(
            f"checkpoint {str(target)!r} was trained on env {ckpt.env_id!r}, not {env_id!r}"
        )
    return ckpt
