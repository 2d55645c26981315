"""MuJoCo locomotion meta-tasks (the ProMP / MAML task distributions) on gymnasium's v5 envs.

Importing this package imports nothing heavy: :mod:`krazy_gym.mujoco.tasks` (the task
classes and families) needs only numpy, and the env modules (``half_cheetah``, ``ant``,
``humanoid``, ``walker2d``, ``params``) import ``mujoco`` and gymnasium's MuJoCo envs only
when an env is made::

    >>> import gymnasium as gym, krazy_gym
    >>> env = gym.make("KrazyGym/HalfCheetahVel-v0")
    >>> env.unwrapped.set_task(env.unwrapped.sample_tasks(1, split="test")[0])
    >>> obs, info = env.reset(seed=0)
"""
