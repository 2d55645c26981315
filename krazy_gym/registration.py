"""Registers every ``KrazyGym/*`` id with Gymnasium (run on ``import krazy_gym``).

Entry points are ``"module:Class"`` strings, so registering imports nothing heavy: numba,
mujoco and pygame load only when an env of that kind is made. The table below is the single
source of truth for ids, versions and horizons; bump an id's version whenever its dynamics,
reward or task distribution change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gymnasium.envs.registration import register, registry

NAMESPACE = "KrazyGym"


@dataclass(frozen=True)
class EnvEntry:
    """One registered id: ``KrazyGym/{name}-v{version}``."""

    name: str
    version: int
    entry_point: str
    max_episode_steps: int | None
    kwargs: dict[str, Any] = field(default_factory=dict)
    vector_entry_point: str | None = None

    @property
    def env_id(self) -> str:
        return f"{NAMESPACE}/{self.name}-v{self.version}"


_KW = "krazy_gym.krazy_world.env:KrazyWorldEnv"
_KW_VEC = "krazy_gym.krazy_world.vector:KrazyWorldVectorEnv"
_MAZE = "krazy_gym.maze.env:MazeEnv"
_MAZE_VEC = "krazy_gym.maze.vector:MazeVectorEnv"
_CLASSIC_VEC = "krazy_gym.classic.vector"
_MJ_VEC = "krazy_gym.mujoco.vector"

ENV_TABLE: tuple[EnvEntry, ...] = (
    # Krazy World: the generic id takes every option as a keyword; presets fix them.
    EnvEntry("KrazyWorld", 0, _KW, 100, {}, _KW_VEC),
    EnvEntry("KrazyWorld-Easy", 0, _KW, 24, {"preset": "easy"}, _KW_VEC),
    EnvEntry("KrazyWorld-Medium", 0, _KW, 50, {"preset": "medium"}, _KW_VEC),
    EnvEntry("KrazyWorld-Hard", 0, _KW, 100, {"preset": "hard"}, _KW_VEC),
    # Maze: the env owns its horizon (the step reward is -1/H), so no TimeLimit is added.
    EnvEntry("Maze", 0, _MAZE, None, {}, _MAZE_VEC),
    # MuJoCo meta-tasks (ProMP / MAML task distributions) on gymnasium's v5 envs.
    # gym.make_vec gives their native batched env (krazy_gym.mujoco.vector: one MjData per env,
    # physics on a thread pool).
    EnvEntry("HalfCheetahDir", 0, "krazy_gym.mujoco.half_cheetah:HalfCheetahDirEnv", 100, {},
             f"{_MJ_VEC}:HalfCheetahDirVectorEnv"),
    EnvEntry("HalfCheetahVel", 0, "krazy_gym.mujoco.half_cheetah:HalfCheetahVelEnv", 100, {},
             f"{_MJ_VEC}:HalfCheetahVelVectorEnv"),
    EnvEntry("AntDir", 0, "krazy_gym.mujoco.ant:AntDirEnv", 200, {}, f"{_MJ_VEC}:AntDirVectorEnv"),
    EnvEntry("AntDir2D", 0, "krazy_gym.mujoco.ant:AntDir2DEnv", 200, {},
             f"{_MJ_VEC}:AntDir2DVectorEnv"),
    EnvEntry("AntGoal", 0, "krazy_gym.mujoco.ant:AntGoalEnv", 200, {}, f"{_MJ_VEC}:AntGoalVectorEnv"),
    EnvEntry("HumanoidDir", 0, "krazy_gym.mujoco.humanoid:HumanoidDirEnv", 200, {},
             f"{_MJ_VEC}:HumanoidDirVectorEnv"),
    EnvEntry("HumanoidDir2D", 0, "krazy_gym.mujoco.humanoid:HumanoidDir2DEnv", 200, {},
             f"{_MJ_VEC}:HumanoidDir2DVectorEnv"),
    EnvEntry("Walker2dDir", 0, "krazy_gym.mujoco.walker2d:Walker2dDirEnv", 200, {},
             f"{_MJ_VEC}:Walker2dDirVectorEnv"),
    EnvEntry("Walker2dVel", 0, "krazy_gym.mujoco.walker2d:Walker2dVelEnv", 200, {},
             f"{_MJ_VEC}:Walker2dVelVectorEnv"),
    EnvEntry("HopperParams", 0, "krazy_gym.mujoco.params:HopperParamsEnv", 200, {},
             f"{_MJ_VEC}:HopperParamsVectorEnv"),
    EnvEntry("Walker2dParams", 0, "krazy_gym.mujoco.params:Walker2dParamsEnv", 200, {},
             f"{_MJ_VEC}:Walker2dParamsVectorEnv"),
    # Classic sanity families.
    EnvEntry("Navigation2D", 0, "krazy_gym.classic.navigation:Navigation2DEnv", 100, {},
             f"{_CLASSIC_VEC}:Navigation2DVectorEnv"),
    EnvEntry("PointCorner", 0, "krazy_gym.classic.navigation:PointCornerEnv", 100, {},
             f"{_CLASSIC_VEC}:PointCornerVectorEnv"),
    EnvEntry("Bandit", 0, "krazy_gym.classic.bandit:BanditEnv", 1, {},
             f"{_CLASSIC_VEC}:BanditVectorEnv"),
    EnvEntry("TabularMDP", 0, "krazy_gym.classic.tabular_mdp:TabularMDPEnv", 10, {},
             f"{_CLASSIC_VEC}:TabularMDPVectorEnv"),
)

#: ids whose family needs the optional ``mujoco`` dependency
MUJOCO_IDS: tuple[str, ...] = tuple(e.env_id for e in ENV_TABLE if ".mujoco." in e.entry_point)


def register_envs() -> None:
    """Register every id in :data:`ENV_TABLE` (idempotent)."""
    for entry in ENV_TABLE:
        if entry.env_id in registry:
            continue
        register(
            id=entry.env_id,
            entry_point=entry.entry_point,
            vector_entry_point=entry.vector_entry_point,
            max_episode_steps=entry.max_episode_steps,
            kwargs=dict(entry.kwargs),
        )


def all_env_ids() -> list[str]:
    """Every registered krazy_gym id, in table order."""
    return [e.env_id for e in ENV_TABLE]
