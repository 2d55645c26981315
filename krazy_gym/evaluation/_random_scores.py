"""Random-agent scores per benchmark, measured by this harness. GENERATED: do not edit.

Regenerate with ``python -m krazy_gym.evaluation.calibrate`` (the uniform random agent,
seeds 0-4, every test task); ``tests/evaluation`` re-measures them in a slow test.
Benchmarks missing here (their env family was not available when calibrating) use 0.0.
"""

RANDOM_SCORES: dict[str, float] = {
    'AntDir': -26.710758801129717,
    'AntDir2D': -27.206416079665424,
    'AntGoal': -734.0694846347027,
    'Bandit': 0.5094000000000001,
    'HalfCheetahDir': -14.226277340276686,
    'HalfCheetahVel': -166.91468518112302,
    'HopperParams': 19.59965832064098,
    'HumanoidDir': 117.2368151435659,
    'HumanoidDir2D': 117.26502907083861,
    'KrazyWorld-Easy': 0.65625,
    'KrazyWorld-Hard': 0.228125,
    'KrazyWorld-Medium': 0.2,
    'Maze': -1.046584375,
    'Navigation2D': -62.57005591805745,
    'PointCorner': 0.4627450724862652,
    'TabularMDP': 10.095528330541471,
    'Walker2dDir': 19.40930007750385,
    'Walker2dParams': 3.252713686256085,
    'Walker2dVel': 211.79472238400714,
}
