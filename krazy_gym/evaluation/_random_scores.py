"""Random-agent scores per benchmark, measured by this harness. GENERATED: do not edit.

Regenerate with ``python -m krazy_gym.evaluation.calibrate`` (the uniform random agent,
seeds 0-4, every test task); ``tests/evaluation`` re-measures them in a slow test.
Benchmarks missing here (their env family was not available when calibrating) use 0.0.
"""

RANDOM_SCORES: dict[str, float] = {
    'Bandit': 0.508,
    'KrazyWorld-Easy': 0.646875,
    'KrazyWorld-Hard': 0.259375,
    'KrazyWorld-Medium': 0.178125,
    'Maze': -1.0668890625,
    'Navigation2D': -63.700492884488376,
    'PointCorner': 0.4544599762553085,
    'TabularMDP': 9.986090168283386,
}
