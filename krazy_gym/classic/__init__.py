"""Small sanity families for checking meta-RL baselines against known answers.

* :mod:`~krazy_gym.classic.bandit`: ``KrazyGym/Bandit-v0``, k Bernoulli arms, one pull per
  episode (RL², Duan et al. 2016, Table 1).
* :mod:`~krazy_gym.classic.tabular_mdp`: ``KrazyGym/TabularMDP-v0``, random 10-state,
  5-action MDPs, 10 steps per episode (RL², Table 2).
* :mod:`~krazy_gym.classic.navigation`: ``KrazyGym/Navigation2D-v0`` (MAML's 2-D point
  navigation) and ``KrazyGym/PointCorner-v0`` (ProMP's sparse corner-goal point env).
* :mod:`~krazy_gym.classic.vector`: the native numpy vector envs of all four
  (``gym.make_vec``), bit-identical to ``SyncVectorEnv`` over the single envs.

Modules are imported by their registered entry points; this package imports nothing heavy.
"""
