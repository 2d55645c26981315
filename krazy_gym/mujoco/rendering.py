"""Check that MuJoCo can render before it tries: a clear error instead of a crash.

Gymnasium's MuJoCo renderer creates an OpenGL context for the backend named by
``MUJOCO_GL`` (without it, GLFW, which needs a display). When that backend cannot work (no
display for GLFW, ``libEGL`` or ``libOSMesa`` missing), MuJoCo raises ``FatalError`` from
inside ``mjr_makeContext`` and can leave the process in a state that aborts it later. So
before the first frame, :func:`check_render_backend` decides whether the backend can work:

* ``render_mode="human"`` needs a display (``DISPLAY`` or ``WAYLAND_DISPLAY``);
* offscreen modes (``rgb_array``, ``depth_array``, ``rgbd_tuple``) without ``MUJOCO_GL``, or
  with ``MUJOCO_GL=glfw``, need a display too;
* otherwise a short subprocess with the same environment creates a context of that backend
  (once per process and backend: about a second), so a broken backend fails there, not here.

A backend that cannot work raises ``gymnasium.error.DependencyNotInstalled`` naming
``MUJOCO_GL=egl`` (hardware or headless GPU: ``libegl1``) and ``MUJOCO_GL=osmesa`` (software:
``libosmesa6``); ``MUJOCO_GL`` must be set before ``mujoco`` is first imported.
"""

from __future__ import annotations

import os
import subprocess
import sys

from gymnasium.error import DependencyNotInstalled

OFFSCREEN_MODES = ("rgb_array", "depth_array", "rgbd_tuple")
#: what the probe runs: a context of MUJOCO_GL's backend, made current and freed
_PROBE = "import mujoco; c = mujoco.GLContext(16, 16); c.make_current(); c.free(); print('ok')"
_HOW = (
    "set MUJOCO_GL=egl (GPU or headless EGL: libegl1) or MUJOCO_GL=osmesa (software rendering: "
    "libosmesa6) in the environment before Python starts"
)
#: probe results of this process: (MUJOCO_GL, PYOPENGL_PLATFORM) -> None (works) or the reason
_probed: dict[tuple[str, str], str | None] = {}


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _probe(backend: str) -> str | None:
    """None if a context of ``backend`` works in a fresh process, else why not."""
    key = (backend, os.environ.get("PYOPENGL_PLATFORM", ""))
    if key not in _probed:
        env = dict(os.environ)
        if backend in ("egl", "osmesa"):
            env.setdefault("PYOPENGL_PLATFORM", backend)
        try:
            result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True,
                                    text=True, env=env, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            _probed[key] = f"the probe did not run: {exc}"
        else:
            if result.returncode == 0 and result.stdout.strip().endswith("ok"):
                _probed[key] = None
            else:
                lines = result.stderr.strip().splitlines() or [f"exit code {result.returncode}"]
                _probed[key] = lines[-1]
    return _probed[key]


def check_render_backend(render_mode: str | None) -> None:
    """Raise ``DependencyNotInstalled`` if MuJoCo cannot render ``render_mode`` here."""
    if render_mode is None:
        return
    if render_mode == "human":
        if sys.platform.startswith("linux") and not _has_display():
            raise DependencyNotInstalled(
                "render_mode='human' opens a window and needs a display (DISPLAY or "
                f"WAYLAND_DISPLAY is not set); for frames without one use render_mode="
                f"'rgb_array' and {_HOW}"
            )
        return
    if render_mode not in OFFSCREEN_MODES:
        return
    backend = os.environ.get("MUJOCO_GL", "").strip().lower()
    if backend in ("", "glfw") and sys.platform.startswith("linux") and not _has_display():
        raise DependencyNotInstalled(
            f"MuJoCo cannot render render_mode={render_mode!r}: "
            + ("MUJOCO_GL is not set, so it would use GLFW" if not backend else "MUJOCO_GL=glfw")
            + f", which needs a display, and there is none; {_HOW}"
        )
    reason = _probe(backend)
    if reason is not None:
        raise DependencyNotInstalled(
            f"MuJoCo cannot render render_mode={render_mode!r} with MUJOCO_GL={backend or 'glfw'}: "
            f"creating an OpenGL context failed ({reason}); {_HOW}"
        )
