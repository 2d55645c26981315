"""The oracle bound of every Krazy World test task, computed once and stored with the benchmark.

    python -m krazy_gym.evaluation.oracle                  # every Krazy World benchmark: compute, store
    python -m krazy_gym.evaluation.oracle KrazyWorld-Hard  # one
    python -m krazy_gym.evaluation.oracle --check          # recompute and compare, write nothing
                                                           # (exit 1 if a stored file is stale)

For each test task, :func:`krazy_gym.krazy_world.oracle.solve` finds by exact search the best
return of one episode on the known MDP within the benchmark's horizon (the env id's
``max_episode_steps``), and the exact expected return of one episode of uniform random
actions. Krazy World starts are fixed per task, so both are one number per task; since every
episode of a task is the same MDP, the oracle bound is also the best possible *score* (mean
exploit return) of the task. The file ``oracle-<name>-v<version>.json`` (package data, next to
the stored test tasks) keeps per task the bound, the random expectation, the goals on the
board and on the optimal path, the number of states searched, and one optimal action sequence
(digits, the env's actions).

The file is *not* part of the benchmark hash (it is derived from what the hash covers: the
tasks and the env); its header names the benchmark, env, horizon and a sha256 of the test
tasks, and a file whose header does not match the installed benchmark is not used.

:func:`krazy_gym.evaluation.metrics.oracle_fraction` turns scores into
``(score - random) / (oracle - random)`` per task with these numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from krazy_gym.atomic_io import write_text_atomic
from krazy_gym.evaluation.benchmarks import Benchmark, get_benchmark, list_benchmarks

FORMAT_VERSION = 1


class OracleUnavailableError(ValueError):
    """No (current) oracle file for a benchmark; the message says why and how to make one."""


@dataclasses.dataclass(frozen=True)
class OracleTable:
    """The stored oracle figures of one benchmark, in test-task order.

    Attributes:
        oracle: best return of one episode per task (the oracle bound).
        random: exact expected return of one episode of uniform random actions per task.
        goals_on_board: goals on each task's board.
        oracle_goals: goals collected by the stored optimal action sequence.
        actions: one optimal action sequence per task.
        horizon: the episode horizon the bound is for.
    """

    oracle: np.ndarray
    random: np.ndarray
    goals_on_board: np.ndarray
    oracle_goals: np.ndarray
    actions: tuple[tuple[int, ...], ...]
    horizon: int


def supports_oracle(benchmark: Benchmark | str) -> bool:
    """True for the Krazy World benchmarks (the only family with an oracle search here)."""
    return get_benchmark(benchmark).metric_kind == "krazy_world"


def _check_supported(benchmark: Benchmark) -> None:
    if not supports_oracle(benchmark):
        names = [b.name for b in list_benchmarks() if supports_oracle(b)]
        raise OracleUnavailableError(
            f"benchmark {benchmark.name!r} has no oracle bound; benchmarks with one: {', '.join(names)}"
        )


def benchmark_horizon(benchmark: Benchmark | str) -> int:
    """The episode horizon of the benchmark's env: ``max_episode_steps`` from its kwargs, else
    the env id's registered value."""
    import gymnasium as gym

    import krazy_gym  # noqa: F401  (registers the ids)

    bench = get_benchmark(benchmark)
    horizon = bench.env_kwargs.get("max_episode_steps", gym.spec(bench.env_id).max_episode_steps)
    if horizon is None:
        raise OracleUnavailableError(f"{bench.name}: the env has no horizon (max_episode_steps), so no finite oracle")
    return int(horizon)


def oracle_path(benchmark: Benchmark | str) -> Path:
    """``krazy_gym/evaluation/oracle-<name>-v<version>.json`` (package data)."""
    return Path(__file__).with_name(f"oracle-{get_benchmark(benchmark).full_name}.json")


def _tasks_sha256(benchmark: Benchmark) -> str:
    text = json.dumps([t.to_dict() for t in benchmark.tasks()], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _header(benchmark: Benchmark) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "benchmark": benchmark.full_name,
        "env_id": benchmark.env_id,
        "env_kwargs": dict(benchmark.env_kwargs),
        "num_test_tasks": benchmark.num_test_tasks,
        "horizon": benchmark_horizon(benchmark),
        "tasks_sha256": _tasks_sha256(benchmark),
    }


def compute_oracle(benchmark: Benchmark | str, indices: Sequence[int] | None = None) -> dict[str, Any]:
    """The oracle file's content for ``benchmark`` (all test tasks, or those at ``indices``).

    Returns ``{"header": ..., "summary": ..., "tasks": [per-task dicts]}`` (``summary`` only
    when every task is computed).
    """
    from krazy_gym.krazy_world.oracle import solve

    bench = get_benchmark(benchmark)
    _check_supported(bench)
    header = _header(bench)
    tasks = bench.tasks()
    chosen = range(len(tasks)) if indices is None else [int(i) for i in indices]
    rows = []
    for i in chosen:
        if not 0 <= i < len(tasks):
            raise ValueError(f"task index must be in [0, {len(tasks)}), got {i}")
        task = tasks[i]
        sol = solve(task, header["horizon"])
        rows.append({
            "index": i,
            "oracle": sol.value,
            "random": sol.random_value,
            "goals_on_board": sum(row.count("G") for row in task.tiles),
            "oracle_goals": sol.goals,
            "states": sol.states,
            "actions": "".join(str(a) for a in sol.actions),
        })
    out: dict[str, Any] = {"header": header}
    if indices is None:
        oracle = np.array([r["oracle"] for r in rows])
        short = sum(r["oracle_goals"] < r["goals_on_board"] for r in rows)
        out["summary"] = {
            "oracle_mean": float(oracle.mean()),
            "random_mean": float(np.mean([r["random"] for r in rows])),
            "tasks_not_all_goals": int(short),
            "max_score": bench.max_score,
        }
    out["tasks"] = rows
    return out


def write_oracle(benchmark: Benchmark | str) -> Path:
    """Compute the oracle of every test task and store it (atomically) in :func:`oracle_path`."""
    bench = get_benchmark(benchmark)
    data = compute_oracle(bench)

    def dumps(obj: Any) -> str:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)

    lines = ",\n".join(dumps(row) for row in data["tasks"])  # one task per line
    text = f'{{"header":{dumps(data["header"])},\n"summary":{dumps(data["summary"])},\n"tasks":[\n{lines}\n]}}\n'
    path = oracle_path(bench)
    write_text_atomic(path, text)
    _CACHE.pop(str(path), None)
    return path


def read_oracle_file(benchmark: Benchmark | str) -> dict[str, Any]:
    """The stored oracle file of ``benchmark`` as a dict, checked against the installed
    benchmark (header) — or :class:`OracleUnavailableError` saying how to regenerate it."""
    bench = get_benchmark(benchmark)
    _check_supported(bench)
    path = oracle_path(bench)
    regenerate = f"run `python -m krazy_gym.evaluation.oracle {bench.name}`"
    if not path.is_file():
        raise OracleUnavailableError(f"no oracle file {path.name} for {bench.full_name}; {regenerate}")
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("header") != _header(bench):
        raise OracleUnavailableError(
            f"{path.name} was computed for another definition of {bench.full_name} (tasks, env or horizon "
            f"changed); {regenerate}"
        )
    if [r["index"] for r in data["tasks"]] != list(range(bench.num_test_tasks)):
        raise OracleUnavailableError(f"{path.name} does not list every test task in order; {regenerate}")
    return data


_CACHE: dict[str, tuple[dict, OracleTable]] = {}


def load_oracle(benchmark: Benchmark | str) -> OracleTable:
    """The stored oracle figures of ``benchmark`` (see :func:`read_oracle_file`), cached."""
    bench = get_benchmark(benchmark)
    _check_supported(bench)
    key = str(oracle_path(bench))
    header = _header(bench)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == header:
        return cached[1]
    rows = read_oracle_file(bench)["tasks"]
    table = OracleTable(
        oracle=np.array([r["oracle"] for r in rows], dtype=np.float64),
        random=np.array([r["random"] for r in rows], dtype=np.float64),
        goals_on_board=np.array([r["goals_on_board"] for r in rows], dtype=np.int64),
        oracle_goals=np.array([r["oracle_goals"] for r in rows], dtype=np.int64),
        actions=tuple(tuple(int(c) for c in r["actions"]) for r in rows),
        horizon=int(header["horizon"]),
    )
    _CACHE[key] = (header, table)
    return table


def compare(stored: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    """Differences between stored and freshly computed per-task rows (matched by index).

    Values are the same computation on any machine (integer rewards, the same float order),
    so they must agree exactly.
    """
    by_index = {r["index"]: r for r in stored["tasks"]}
    problems = []
    for row in fresh["tasks"]:
        old = by_index.get(row["index"])
        if old != row:
            problems.append(f"task {row['index']}: stored {old}, computed {row}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m krazy_gym.evaluation.oracle")
    parser.add_argument("names", nargs="*", help="Krazy World benchmarks (default: all)")
    parser.add_argument("--check", action="store_true", help="recompute and compare, write nothing")
    args = parser.parse_args(argv)
    try:
        benches = [get_benchmark(n) for n in args.names] or [b for b in list_benchmarks() if supports_oracle(b)]
        for bench in benches:
            _check_supported(bench)
    except (KeyError, ValueError) as exc:
        print(f"oracle: error: {exc}", file=sys.stderr)
        return 2
    stale = 0
    for bench in benches:
        if args.check:
            try:
                stored = read_oracle_file(bench)
            except OracleUnavailableError as exc:
                print(f"{bench.name:18s} {exc}")
                stale += 1
                continue
            problems = compare(stored, compute_oracle(bench))
            stale += bool(problems)
            print(f"{bench.name:18s} " + ("same" if not problems else f"{len(problems)} tasks differ"))
            for p in problems[:5]:
                print(f"    {p}")
            continue
        path = write_oracle(bench)
        s = json.loads(path.read_text(encoding="utf-8"))["summary"]
        print(
            f"{bench.name:18s} oracle mean {s['oracle_mean']:.4f}, random (exact) mean {s['random_mean']:.4f}, "
            f"{s['tasks_not_all_goals']}/{bench.num_test_tasks} tasks cannot collect every goal; wrote {path.name}",
            flush=True,
        )
    return 1 if stale else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
