"""Trained baselines as harness agents: ``baselines.agents.load(path) -> MetaAgent``.

``path`` is a checkpoint file or a run directory written by ``python -m baselines.train``. The
checkpoint says which algorithm made it; :func:`load` hands it to that algorithm module's
``load_agent`` (gradient-based ones: explore with the pre-update policy, ``adapt()`` takes the
inner gradient step(s) on the explore episodes, exploit with the adapted policy; RL²/E-RL²: the
recurrent policy keeps its hidden state across the episodes of a task).

Example::

    from baselines.agents import load
    agent = load("runs/nav-promp")          # then give it to the harness runner
"""

from __future__ import annotations

import os
from typing import Any

from baselines.common.checkpoint import CheckpointError, load_checkpoint


def load(path: str | os.PathLike[str], **kwargs: Any) -> Any:
    """The ``MetaAgent`` stored in a checkpoint (file or run directory).

    ``kwargs`` go to the algorithm's ``load_agent`` (gradient-based ones take ``seed`` for
    their action sampling and ``deterministic``).

    Raises:
        CheckpointError: no checkpoint there, or its algorithm is unknown.
    """
    from baselines.train import ALGOS, algo_module

    ckpt = load_checkpoint(path)
    if ckpt.algo not in ALGOS:
        raise CheckpointError(f"checkpoint algo {ckpt.algo!r} is not one of {', '.join(ALGOS)}")
    return algo_module(ckpt.algo).load_agent(path, **kwargs)


def make(path: str | os.PathLike[str] | None = None, seed: int = 0) -> Any:
    """Harness factory: ``KRAZY_GYM_CHECKPOINT=runs/x krazy-gym evaluate --agent
    baselines.agents:make ...``. The runner passes ``seed`` (one per batch of tasks)."""
    path = path if path is not None else os.environ.get("KRAZY_GYM_CHECKPOINT")
    if not path:
        raise ValueError("baselines.agents.make needs path= or KRAZY_GYM_CHECKPOINT set")
    return load(path, seed=seed)
