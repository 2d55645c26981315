"""Golden values: what every id produces, pinned as numbers committed to the repo.

A determinism test that compares a run with a second run on the same machine cannot see a
result that changes with the CPU (a BLAS kernel that fuses multiply and add on one processor
and not on another once changed PointCorner's rewards on Intel AVX-512 machines). These values
were computed once and are checked on every machine against the same numbers:

* every non-MuJoCo id (and a few observation variants): the sha256 of the first 1,000 steps of
  a single env (observations, rewards, flags, every numeric ``info`` entry) for a fixed test
  task, seed and action sequence, of 1,000 steps of its batched env (4 tasks), and of
  ``sample_tasks(8, split="test")``. These must match bit for bit: the envs use only IEEE
  element-wise arithmetic (and integer logic), which is the same on every x86-64 CPU.
* every MuJoCo id: the sha256 of ``sample_tasks(8, split="test")`` (exact: task parameters are
  drawn with IEEE-only arithmetic, ``krazy_gym.mujoco.tasks.portable_pow``), and rewards and
  observations of 25 steps, compared with a tolerance
  (:data:`MUJOCO_RTOL`), since MuJoCo's compiled physics may round differently on another CPU
  or build and contacts amplify a last-bit difference.

Regenerate (only after a deliberate change of an env's behaviour, which needs a version bump of
the id)::

    .venv/bin/python tests/golden.py --write
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import krazy_gym
from krazy_gym.registration import MUJOCO_IDS

GOLDEN_PATH = Path(__file__).with_name("data") / "golden_values.json"
STEPS = 1000
NUM_ENVS = 4
SEED = 7
MUJOCO_STEPS = 25
# MuJoCo: relative tolerance (and the same absolute one for values near 0) for rewards and
# observations after 25 steps. A last-bit difference in the physics grows by orders of magnitude
# through contacts within 125 physics substeps, yet stays far below this; a changed reward term,
# model or start distribution changes the values by far more.
MUJOCO_RTOL = 1e-5

# (name, env id, kwargs): every non-MuJoCo id with its defaults, plus observation variants
VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    *[(i.split("/")[1], i, {}) for i in krazy_gym.all_env_ids() if i not in MUJOCO_IDS],
    ("KrazyWorld-Hard-v0[index]", "KrazyGym/KrazyWorld-Hard-v0", {"obs_mode": "index"}),
    ("KrazyWorld-Hard-v0[rgb]", "KrazyGym/KrazyWorld-Hard-v0", {"obs_mode": "rgb"}),
    ("KrazyWorld-Medium-v0[global]", "KrazyGym/KrazyWorld-Medium-v0", {"view": "global"}),
    ("Maze-v0[global,size=6]", "KrazyGym/Maze-v0", {"view": "global", "size": 6}),
]


def _feed(h: Any, value: Any) -> None:
    """Hash ``value`` with its structure, dtype and shape (dict keys sorted)."""
    if isinstance(value, dict):
        h.update(b"{")
        for key in sorted(value):
            h.update(str(key).encode() + b":")
            _feed(h, value[key])
        h.update(b"}")
    elif value is None:
        h.update(b"None")
    elif isinstance(value, str):
        h.update(b"s" + value.encode())
    elif isinstance(value, (list, tuple)) or (
        isinstance(value, np.ndarray) and value.dtype == object
    ):
        h.update(b"[")
        for item in value:
            _feed(h, item)
        h.update(b"]")
    else:
        arr = np.ascontiguousarray(np.asarray(value))
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())


def _actions(space: gym.Space, n: int, rng: np.random.Generator, batch: int | None = None):
    """``n`` actions from ``rng`` (Box: 1.5x the bounds, so clipping is exercised)."""
    shape = (n,) if batch is None else (n, batch)
    if isinstance(space, gym.spaces.Discrete):
        return space.start + rng.integers(space.n, size=shape)
    if isinstance(space, gym.spaces.Box):
        low = np.where(np.isfinite(space.low), space.low, -1.0)
        high = np.where(np.isfinite(space.high), space.high, 1.0)
        mid, half = (low + high) / 2, (high - low) / 2
        u = rng.uniform(-1.5, 1.5, size=(*shape, *space.shape))
        return (mid + half * u).astype(space.dtype)
    raise TypeError(f"no action recipe for {space}")


def _tasks(env_id: str, kwargs: dict, n: int) -> list:
    env = gym.make(env_id, **kwargs)
    tasks = env.unwrapped.sample_tasks(n, split="test")
    env.close()
    return tasks


def tasks_sha256(env_id: str, kwargs: dict) -> str:
    tasks = _tasks(env_id, kwargs, 8)
    text = json.dumps([t.to_dict() for t in tasks], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def single_sha256(env_id: str, kwargs: dict) -> str:
    """The first :data:`STEPS` steps of one env (reset without a seed after each episode)."""
    env = gym.make(env_id, **kwargs)
    task = _tasks(env_id, kwargs, 1)[0]
    h = hashlib.sha256()
    obs, info = env.reset(seed=SEED, options={"task": task})
    _feed(h, [obs, info])
    for action in _actions(env.action_space, STEPS, np.random.default_rng(SEED)):
        obs, reward, terminated, truncated, info = env.step(action)
        _feed(h, [obs, float(reward), bool(terminated), bool(truncated), info])
        if terminated or truncated:
            obs, info = env.reset()
            _feed(h, [obs, info])
    env.close()
    return h.hexdigest()


def batched_sha256(env_id: str, kwargs: dict) -> str:
    """:data:`STEPS` steps of ``gym.make_vec`` (native where registered) on 4 test tasks."""
    envs = gym.make_vec(env_id, num_envs=NUM_ENVS, **kwargs)
    tasks = _tasks(env_id, kwargs, NUM_ENVS)
    h = hashlib.sha256()
    obs, info = envs.reset(seed=SEED, options={"task": tasks})
    _feed(h, [obs, info])
    rng = np.random.default_rng(SEED + 1)
    for action in _actions(envs.single_action_space, STEPS, rng, batch=NUM_ENVS):
        _feed(h, list(envs.step(action)))
    envs.close()
    return h.hexdigest()


def mujoco_values(env_id: str) -> dict[str, list]:
    """Rewards of :data:`MUJOCO_STEPS` steps and the observations after 1, 5 and 25 of them."""
    env = gym.make(env_id)
    task = _tasks(env_id, {}, 1)[0]
    env.reset(seed=SEED, options={"task": task})
    rewards, observations = [], {}
    actions = _actions(env.action_space, MUJOCO_STEPS, np.random.default_rng(SEED))
    for t, action in enumerate(actions, start=1):
        obs, reward, terminated, truncated, _ = env.step(np.clip(action, -1, 1))
        rewards.append(float(reward))
        if t in (1, 5, MUJOCO_STEPS):
            observations[str(t)] = [float(x) for x in obs]
        if terminated or truncated:
            break
    env.close()
    return {"rewards": rewards, "observations": observations}


def compute_all(include_mujoco: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"exact": {}, "mujoco": {}, "mujoco_tasks": {}}
    for name, env_id, kwargs in VARIANTS:
        out["exact"][name] = {
            "tasks": tasks_sha256(env_id, kwargs),
            "single": single_sha256(env_id, kwargs),
            "batched": batched_sha256(env_id, kwargs),
        }
    if include_mujoco:
        for env_id in MUJOCO_IDS:
            out["mujoco"][env_id.split("/")[1]] = mujoco_values(env_id)
            out["mujoco_tasks"][env_id.split("/")[1]] = tasks_sha256(env_id, {})
    return out


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print(__doc__)
        return 2
    values = compute_all()
    GOLDEN_PATH.parent.mkdir(exist_ok=True)
    GOLDEN_PATH.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
