"""Perfect mazes (``KrazyGym/Maze-v0``): generator, compiled batched engine, env and vector env.

* :mod:`~krazy_gym.maze.generator`: randomised depth-first search, BFS, perfectness checks
  (plain numpy/Python).
* :mod:`~krazy_gym.maze.task`: :class:`~krazy_gym.maze.task.MazeTask` and its family.
* :mod:`~krazy_gym.maze.engine`: numba kernels over a batch of mazes (imported lazily).
* :mod:`~krazy_gym.maze.env` / :mod:`~krazy_gym.maze.vector`: ``MazeEnv`` (a batch of one)
  and the native ``MazeVectorEnv`` behind ``gym.make_vec``.
"""
