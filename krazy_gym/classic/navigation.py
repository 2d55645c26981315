"""2-D point-mass meta-tasks: ``KrazyGym/Navigation2D-v0`` and ``KrazyGym/PointCorner-v0``.

``Navigation2D`` follows MAML's 2-D navigation env (Finn et al. 2017, ``point_env_randgoal.py``
in cbfinn/maml_rl, the env ProMP and E-MAML reuse): the agent starts at the origin, the action
is a displacement clipped to ``[-0.1, 0.1]²`` that is added to the position, the reward is the
negative Euclidean distance to the goal *after* the move, and the episode terminates when the
point is within 0.01 of the goal in both coordinates. Goals are ``U(-0.5, 0.5)²``; the
registered id truncates at 100 steps.

``PointCorner`` follows ProMP's ``MetaPointEnvCorner`` (meta_policy_search, sparse reward):
the task is one of the four corners ``(±2, ±2)``; each episode starts at a point drawn from
``U(-0.2, 0.2)²`` (``env.np_random``); the action is clipped to ``[-0.2, 0.2]²``. The reward is
zero while the point is within L1 distance 0.5 of the origin or closer to another corner than
to the goal; otherwise (the point is in the goal's quadrant, i.e. "near the goal") it is the
progress made towards the goal in this step, ``‖x_prev − g‖ − ‖x − g‖``. No termination;
truncated at 100 steps. With only four tasks the family cannot be split into disjoint train
and test sets (``splittable = False``, as for the ±1 direction families).

Both envs keep the point inside a square arena ``[-arena, arena]²`` (10 for Navigation2D, 25
for PointCorner) so that the observation space is bounded; from the start region the walls
cannot be reached within the registered 100 steps, so inside the registered horizon the
dynamics are exactly those of the reference envs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from krazy_gym.tasks import Task, TaskEnvMixin, TaskFamily

CORNERS: tuple[tuple[float, float], ...] = ((-2.0, -2.0), (2.0, -2.0), (-2.0, 2.0), (2.0, 2.0))


def planar_distance(delta: np.ndarray) -> np.ndarray:
    """Euclidean length of the 2-vectors in the last axis of ``delta``, the same bits on every
    machine and for every batch shape.

    ``sqrt(dx*dx + dy*dy)`` is three correctly rounded IEEE operations done element by element,
    so it cannot depend on the CPU. ``np.linalg.norm`` of a 1-D array is ``sqrt(dot(x, x))``,
    whose BLAS kernel fuses multiply and add on some CPUs and not on others, and with an ``axis``
    it is another code path again: the two can disagree in the last bit, which once made
    PointCorner's ``distance <= nearest`` test (the goal is the nearest corner) fail at random on
    Intel AVX-512 machines. ``np.hypot`` comes from the C library, which may differ between systems.

    >>> float(planar_distance(np.array([3.0, 4.0])))
    5.0
    """
    dx = delta[..., 0]
    dy = delta[..., 1]
    return np.sqrt(dx * dx + dy * dy)


def _check_goal(goal: tuple) -> None:
    if len(goal) != 2 or not all(
        isinstance(g, (int, float)) and not isinstance(g, bool) for g in goal
    ):
        raise ValueError(f"goal must be 2 numbers (x, y), got {goal!r}")


@dataclasses.dataclass(frozen=True)
class Navigation2DTask(Task):
    """One navigation task: the goal position."""

    goal: tuple = ()
    FAMILIES = ("Navigation2D",)

    def validate(self) -> None:
        _check_goal(self.goal)


@dataclasses.dataclass(frozen=True)
class PointCornerTask(Task):
    """One corner task: the goal, one of :data:`CORNERS`."""

    goal: tuple = ()
    FAMILIES = ("PointCorner",)

    def validate(self) -> None:
        _check_goal(self.goal)
        if tuple(float(g) for g in self.goal) not in CORNERS:
            raise ValueError(f"goal must be one of the corners {list(CORNERS)}, got {self.goal!r}")


class Navigation2DFamily(TaskFamily):
    """Goals uniform on ``[-0.5, 0.5]²`` (MAML)."""

    name = "Navigation2D"
    task_class = Navigation2DTask

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"goal": rng.uniform(-0.5, 0.5, size=2)}


class PointCornerFamily(TaskFamily):
    """One of the four corners ``(±2, ±2)``, each with probability 1/4 (ProMP)."""

    name = "PointCorner"
    task_class = PointCornerTask
    splittable = False

    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"goal": CORNERS[int(rng.integers(len(CORNERS)))]}


class _PointEnv(TaskEnvMixin, gym.Env):
    """Shared point-mass mechanics: ``x ← x + clip(a, -max_step, max_step)``."""

    metadata = {"render_modes": ["ansi"], "render_fps": 10}
    max_step: float = 0.1
    arena: float = 10.0

    def __init__(self, render_mode: str | None = None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.render_mode = render_mode
        self.action_space = spaces.Box(-self.max_step, self.max_step, shape=(2,), dtype=np.float32)
        self.observation_space = spaces.Box(-self.arena, self.arena, shape=(2,), dtype=np.float32)
        self._goal = np.zeros(2)
        self._pos = np.zeros(2)

    def _apply_task(self, task: Task) -> None:
        self._goal = np.asarray(task.goal, dtype=np.float64)  # type: ignore[attr-defined]

    def _start_position(self) -> np.ndarray:
        return np.zeros(2)

    def _obs(self) -> np.ndarray:
        return self._pos.astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._reset_task(options)
        self._pos = self._start_position()
        return self._obs(), {}

    def _move(self, action: Any) -> tuple[np.ndarray, np.ndarray]:
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (2,) or not np.all(np.isfinite(a)):
            raise ValueError(f"action must be 2 finite numbers, got {action!r}")
        prev = self._pos
        moved = prev + np.clip(a, -self.max_step, self.max_step)
        self._pos = np.clip(moved, -self.arena, self.arena)
        return prev, self._pos

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        x, y = self._pos
        gx, gy = self._goal
        return f"{type(self).__name__} pos=({x:+.3f}, {y:+.3f}) goal=({gx:+.3f}, {gy:+.3f})\n"


class Navigation2DEnv(_PointEnv):
    """MAML's 2-D navigation: reward ``-‖x − goal‖``, start at the origin (see module doc).

    * Observation: position, ``Box(-10, 10, (2,), float32)``.
    * Action: displacement, ``Box(-0.1, 0.1, (2,), float32)``; larger actions are clipped.
    * Terminates when ``|x − goal| < 0.01`` in both coordinates. ``info["distance"]``.
    """

    max_step = 0.1
    success_tolerance = 0.01

    def __init__(self, render_mode: str | None = None) -> None:
        self.task_family = Navigation2DFamily()
        super().__init__(render_mode=render_mode)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        _, pos = self._move(action)
        delta = pos - self._goal
        distance = float(planar_distance(delta))
        terminated = bool(np.all(np.abs(delta) < self.success_tolerance))
        return self._obs(), -distance, terminated, False, {"distance": distance}


class PointCornerEnv(_PointEnv):
    """ProMP's sparse corner-goal point env (see module doc for the reward).

    * Observation: position, ``Box(-25, 25, (2,), float32)``.
    * Action: displacement, ``Box(-0.2, 0.2, (2,), float32)``; larger actions are clipped.
    * Start: ``U(-0.2, 0.2)²`` from ``env.np_random``. Never terminates.
      ``info["distance"]`` is the distance to the goal, ``info["in_goal_region"]`` whether the
      reward was live this step.
    """

    max_step = 0.2
    arena = 25.0
    start_noise = 0.2
    start_radius = 0.5  # no reward within this L1 distance of the origin

    def __init__(self, render_mode: str | None = None) -> None:
        self.task_family = PointCornerFamily()
        super().__init__(render_mode=render_mode)
        self._corners = np.asarray(CORNERS)

    def _start_position(self) -> np.ndarray:
        return self.np_random.uniform(-self.start_noise, self.start_noise, size=2)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        prev, pos = self._move(action)
        # The goal is one of the corners and both distances come from planar_distance (whose
        # squares ignore the sign of the difference), so when the goal is the nearest corner
        # ``distance == nearest`` exactly.
        distance = float(planar_distance(pos - self._goal))
        nearest = float(planar_distance(self._corners - pos).min())
        live = bool(abs(pos[0]) + abs(pos[1]) >= self.start_radius and distance <= nearest)
        reward = float(planar_distance(prev - self._goal)) - distance if live else 0.0
        return self._obs(), reward, False, False, {"distance": distance, "in_goal_region": live}
