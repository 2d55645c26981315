"""Fixtures for the harness tests: toy benchmarks (see ``eval_toys.py``) in the registry."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # eval_toys must import here and in spawned worker processes
    sys.path.insert(0, str(HERE))


@pytest.fixture
def toy_benchmarks():
    """Register ToyChain (no start noise), ToyChainNoisy and ToyBandit; unregister after."""
    import eval_toys

    from krazy_gym.evaluation import benchmarks as bm

    added = {
        "ToyChain": eval_toys.chain_benchmark(env_kwargs={"start_noise": False}),
        "ToyChainNoisy": eval_toys.chain_benchmark(name="ToyChainNoisy"),
        "ToyBandit": eval_toys.bandit_benchmark(),
    }
    for b in added.values():
        bm.register_benchmark(b, replace=True)
    yield added
    for name in added:
        bm._REGISTRY.pop(name, None)
