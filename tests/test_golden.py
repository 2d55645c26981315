"""Every id against numbers computed once and committed (tests/golden.py says how and why).

A mismatch here, with the determinism tests of test_envs.py passing, means the env computes
differently on this machine than where the values were made: an operation whose rounding
depends on the CPU (BLAS, a C library function, a reduction) has crept into an env.
"""

from __future__ import annotations

import importlib.util
import json

import golden
import numpy as np
import pytest

GOLDEN = json.loads(golden.GOLDEN_PATH.read_text())
HAS_MUJOCO = importlib.util.find_spec("mujoco") is not None
REGENERATE = "tests/golden.py --write (only with a version bump of the id: its behaviour changed)"


def test_every_non_mujoco_id_and_variant_has_golden_values():
    assert sorted(GOLDEN["exact"]) == sorted(name for name, _, _ in golden.VARIANTS)
    assert {f"KrazyGym/{name}" for name in GOLDEN["mujoco"]} == set(golden.MUJOCO_IDS)


@pytest.mark.parametrize("part", ["tasks", "single", "batched"])
@pytest.mark.parametrize(("name", "env_id", "kwargs"), golden.VARIANTS, ids=[v[0] for v in golden.VARIANTS])
def test_trajectories_and_tasks_match_the_golden_sha256(name, env_id, kwargs, part):
    compute = {"tasks": golden.tasks_sha256, "single": golden.single_sha256,
               "batched": golden.batched_sha256}[part]
    assert compute(env_id, kwargs) == GOLDEN["exact"][name][part], (
        f"{name}: the {part} sha256 differs from the committed value; if the change is "
        f"deliberate, regenerate with {REGENERATE}"
    )


@pytest.mark.skipif(not HAS_MUJOCO, reason="mujoco is not installed")
@pytest.mark.parametrize("env_id", golden.MUJOCO_IDS, ids=lambda i: i.split("/")[1])
def test_mujoco_rewards_and_observations_match_golden_values_within_tolerance(env_id):
    expected = GOLDEN["mujoco"][env_id.split("/")[1]]
    got = golden.mujoco_values(env_id)
    tol = golden.MUJOCO_RTOL
    assert len(got["rewards"]) == len(expected["rewards"])  # same termination step
    np.testing.assert_allclose(got["rewards"], expected["rewards"], rtol=tol, atol=tol)
    assert sorted(got["observations"]) == sorted(expected["observations"])
    for step, obs in expected["observations"].items():
        np.testing.assert_allclose(got["observations"][step], obs, rtol=tol, atol=tol,
                                   err_msg=f"observation after {step} steps")


@pytest.mark.skipif(not HAS_MUJOCO, reason="mujoco is not installed")
@pytest.mark.parametrize("env_id", golden.MUJOCO_IDS, ids=lambda i: i.split("/")[1])
def test_mujoco_test_tasks_match_the_golden_sha256(env_id):
    name = env_id.split("/")[1]
    assert golden.tasks_sha256(env_id, {}) == GOLDEN["mujoco_tasks"][name], (
        f"{name}: the test tasks differ from the committed ones; regenerate with {REGENERATE}"
    )


def test_a_changed_trajectory_changes_the_hash():
    """The hash sees a single flipped reward bit (it would be useless otherwise)."""
    import hashlib

    a, b = hashlib.sha256(), hashlib.sha256()
    golden._feed(a, [np.zeros(3, np.float32), 0.1, False, {"goals": 1}])
    golden._feed(b, [np.zeros(3, np.float32), np.nextafter(0.1, 1.0), False, {"goals": 1}])
    assert a.hexdigest() != b.hexdigest()
