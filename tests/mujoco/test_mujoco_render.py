"""Rendering of the MuJoCo meta-task envs, as gymnasium's own envs render.

MuJoCo picks its OpenGL backend from ``MUJOCO_GL`` when it is first imported, so each
check runs in a subprocess: first a bare probe of the backend (``egl``, then ``osmesa``),
then the envs. Without any working backend the tests skip and say which libraries to
install; with one, a failure is a real failure.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("mujoco")

BACKENDS = ("egl", "osmesa")
PROBE = "import mujoco; c = mujoco.GLContext(64, 64); c.make_current(); c.free(); print('ok')"
RENDER_SCRIPT = textwrap.dedent(
    """
    import json, warnings
    import gymnasium as gym
    import numpy as np
    import krazy_gym
    from krazy_gym.mujoco.base import mujoco_warnings_to_python

    PAIRS, SIZE = {pairs!r}, {size!r}
    out = {{}}
    for name, raw_id in PAIRS:
        env = gym.make(f"KrazyGym/{{name}}-v0", render_mode="rgb_array", **SIZE)
        with mujoco_warnings_to_python():
            raw = gym.make(raw_id, render_mode="rgb_array", **SIZE)
        env.reset(seed=0)
        raw.reset(seed=0)
        first, raw_first = env.render(), raw.render()
        for _ in range(10):
            env.step(np.full(env.action_space.shape, 0.3, dtype=np.float32))
        later = env.render()
        out[name] = {{
            "shape": list(first.shape), "dtype": str(first.dtype),
            "std": float(first.std()),
            "same_as_gymnasium": bool(np.array_equal(first, raw_first)),
            "changed_after_steps": bool(not np.array_equal(first, later)),
            "render_modes": env.unwrapped.metadata["render_modes"],
        }}
        env.close()
        raw.close()
    print(json.dumps(out))
    """
)


def _run(code: str, backend: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "MUJOCO_GL": backend}
    if backend == "egl":
        env.setdefault("PYOPENGL_PLATFORM", "egl")
    elif backend == "osmesa":
        env.setdefault("PYOPENGL_PLATFORM", "osmesa")
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout
    )


@functools.lru_cache(maxsize=1)
def working_backend() -> tuple[str | None, str]:
    """The first backend whose bare GL context works, and why the others failed."""
    reasons = []
    for backend in BACKENDS:
        result = _run(PROBE, backend, timeout=60)
        if result.returncode == 0 and result.stdout.strip().endswith("ok"):
            return backend, ""
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        reasons.append(f"MUJOCO_GL={backend}: {last}")
    return None, "; ".join(reasons)


def require_backend() -> str:
    backend, why = working_backend()
    if backend is None:
        pytest.skip(
            "no headless OpenGL backend for MuJoCo (install libegl1 for MUJOCO_GL=egl or "
            f"libosmesa6 for MUJOCO_GL=osmesa): {why}"
        )
    return backend


ALL_PAIRS = [
    ("HalfCheetahDir", "HalfCheetah-v5"),
    ("AntGoal", "Ant-v5"),
    ("HumanoidDir2D", "Humanoid-v5"),
    ("Walker2dVel", "Walker2d-v5"),
    ("HopperParams", "Hopper-v5"),
]


def check_rgb_frames(pairs: list[tuple[str, str]], size: dict[str, int], shape: list[int]) -> None:
    backend = require_backend()
    result = _run(RENDER_SCRIPT.format(pairs=pairs, size=size), backend, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    frames = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(frames) == sorted(name for name, _ in pairs)
    for name, frame in frames.items():
        assert frame["shape"] == shape and frame["dtype"] == "uint8", name
        assert frame["std"] > 1.0, f"{name}: blank frame"
        assert frame["same_as_gymnasium"], f"{name}: differs from gymnasium's frame"
        assert frame["changed_after_steps"], f"{name}: frame did not change after moving"
        assert {"human", "rgb_array"} <= set(frame["render_modes"])


def test_rgb_array_renders_like_gymnasiums_own_env():
    """One robot, small frames (each GL context costs a second or more); all five robots at
    the default size are the slow test below."""
    check_rgb_frames(ALL_PAIRS[:1], {"width": 96, "height": 64}, [64, 96, 3])


@pytest.mark.slow
def test_rgb_array_renders_every_robot_at_default_size():
    check_rgb_frames(ALL_PAIRS, {}, [480, 480, 3])


@pytest.mark.skipif(
    not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"),
    reason="render_mode='human' opens a window: no DISPLAY / WAYLAND_DISPLAY here",
)
def test_human_mode_opens_a_window_and_steps():
    code = textwrap.dedent(
        """
        import gymnasium as gym, numpy as np, krazy_gym
        env = gym.make("KrazyGym/Walker2dDir-v0", render_mode="human")
        env.reset(seed=0)
        for _ in range(5):
            env.step(np.zeros(env.action_space.shape, dtype=np.float32))
        env.close()
        print("ok")
        """
    )
    result = _run(code, "glfw", timeout=120)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


FAIL_CLEANLY = textwrap.dedent(
    """
    import gymnasium as gym, krazy_gym
    for mode in ("rgb_array", "human"):
        env = gym.make("KrazyGym/HalfCheetahDir-v0", render_mode=mode, width=32, height=32)
        try:
            env.reset(seed=0)  # human mode renders in reset
            env.render()
        except gym.error.DependencyNotInstalled as exc:
            print(mode, "|", exc)
        env.close()
    print("survived")
    """
)


def test_rendering_without_a_backend_raises_a_clear_error_and_the_process_survives():
    """No MUJOCO_GL and no display: MuJoCo would fail inside mjr_makeContext; the env says
    what to set instead, and the process carries on."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "-c", FAIL_CLEANLY], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "survived"
    offscreen = next(line for line in lines if line.startswith("rgb_array |"))
    assert "MUJOCO_GL is not set" in offscreen
    assert "MUJOCO_GL=egl" in offscreen and "MUJOCO_GL=osmesa" in offscreen
    human = next(line for line in lines if line.startswith("human |"))
    assert "needs a display" in human


def test_a_backend_whose_context_fails_is_reported_with_the_reason(monkeypatch):
    from gymnasium.error import DependencyNotInstalled

    from krazy_gym.mujoco import rendering

    monkeypatch.setenv("MUJOCO_GL", "egl")
    monkeypatch.setattr(rendering, "_probed", {})
    monkeypatch.setattr(rendering, "_PROBE", "raise SystemExit('eglInitialize: no EGL device')")
    with pytest.raises(DependencyNotInstalled, match="no EGL device") as info:
        rendering.check_render_backend("rgb_array")
    assert "MUJOCO_GL=egl" in str(info.value) and "MUJOCO_GL=osmesa" in str(info.value)
    rendering.check_render_backend(None)  # no rendering: nothing to check
    backend, _ = working_backend()
    if backend is not None:  # the real probe accepts the backend that renders here
        monkeypatch.setenv("MUJOCO_GL", backend)
        monkeypatch.setattr(rendering, "_PROBE", PROBE)
        monkeypatch.setattr(rendering, "_probed", {})  # forget the failed probe
        rendering.check_render_backend("rgb_array")
