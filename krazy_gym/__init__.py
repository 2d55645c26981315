"""krazy_gym: Gymnasium task families for meta-reinforcement learning that has to explore.

``import krazy_gym`` registers every ``KrazyGym/*`` id and stays light: numba, mujoco, torch
and pygame are imported only by the envs and tools that use them.

    >>> import gymnasium as gym
    >>> import krazy_gym  # noqa: F401  (registers the ids)
    >>> env = gym.make("KrazyGym/KrazyWorld-Hard-v0")
    >>> tasks = env.unwrapped.sample_tasks(3, split="test")
"""

from krazy_gym.registration import all_env_ids, register_envs
from krazy_gym.tasks import SPLITS, MetaEnv, Task, TaskEnvMixin, TaskFamily

__version__ = "0.1.0"

__all__ = [
    "SPLITS",
    "MetaEnv",
    "Task",
    "TaskEnvMixin",
    "TaskFamily",
    "__version__",
    "all_env_ids",
    "register_envs",
]

register_envs()
