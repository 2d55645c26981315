"""The krazy_gym evaluation harness: benchmarks, the MetaAgent protocol, runner, metrics.

    >>> from krazy_gym.evaluation import evaluate, summary_table
    >>> results = evaluate("krazy_gym.evaluation.agents:random_agent", "KrazyWorld-Easy",
    ...                    seeds=2)                                    # doctest: +SKIP
    >>> print(summary_table(results))                                  # doctest: +SKIP

Command line: ``krazy-gym evaluate --agent pkg.module:factory --benchmark NAME --seeds K
--out results.json`` (or ``python -m krazy_gym.evaluation ...``); ``krazy-gym benchmarks``.
Importing this package is light: envs, matplotlib and ray load only when used.
"""

from krazy_gym.evaluation.agents import (
    AgentSpecError,
    MetaAgent,
    RandomAgent,
    SB3PolicyAgent,
    random_agent,
    sb3_agent,
)
from krazy_gym.evaluation.benchmarks import (
    Benchmark,
    UnknownBenchmarkError,
    get_benchmark,
    list_benchmarks,
    register_benchmark,
)
from krazy_gym.evaluation.metrics import aggregate, normalised_scores
from krazy_gym.evaluation.report import summary_table
from krazy_gym.evaluation.results import (
    SCHEMA_VERSION,
    ResultsError,
    canonical_json,
    content_sha256,
    load_schema,
    read_results,
    validate_results,
    write_results,
)
from krazy_gym.evaluation.runner import AgentError, EvaluationError, evaluate

__all__ = [
    "SCHEMA_VERSION",
    "AgentError",
    "AgentSpecError",
    "Benchmark",
    "EvaluationError",
    "MetaAgent",
    "RandomAgent",
    "ResultsError",
    "SB3PolicyAgent",
    "UnknownBenchmarkError",
    "aggregate",
    "canonical_json",
    "content_sha256",
    "evaluate",
    "get_benchmark",
    "list_benchmarks",
    "load_schema",
    "normalised_scores",
    "random_agent",
    "sb3_agent",
    "read_results",
    "register_benchmark",
    "summary_table",
    "validate_results",
    "write_results",
]
