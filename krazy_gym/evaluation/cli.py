"""``krazy-gym``: the command line of the evaluation harness.

    krazy-gym benchmarks
    krazy-gym evaluate --agent mypkg.agents:make --benchmark KrazyWorld-Hard --seeds 5 \\
        --out results.json [--workers N] [--engine ray] [--plot adaptation.png]
    krazy-gym summary results.json [other.json ...]
    krazy-gym validate results.json

Also ``python -m krazy_gym.evaluation ...``. Exit codes: 0 success, 1 the run failed (agent
error; finished units are kept in ``<out>.partial.json``), 2 bad input (nothing is run or
written).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse already exits 2; keep its format
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _positive_int(name: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= 1, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be >= 1, got {value}")
        return value

    return parse


def _agents_help() -> str:
    from krazy_gym.evaluation.agents import builtin_agents_help

    return builtin_agents_help()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="krazy-gym", description="krazy_gym evaluation harness")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    b = sub.add_parser("benchmarks", help="list the benchmarks")
    b.add_argument("--json", action="store_true", help="machine-readable output")

    e = sub.add_parser("evaluate", help="evaluate an agent on a benchmark")
    e.add_argument("--agent", required=True, metavar="PKG.MODULE:FACTORY|NAME",
                   help="factory returning a MetaAgent, e.g. mypkg.agents:make, or a built-in "
                   f"name: {_agents_help()}")
    e.add_argument("--benchmark", required=True, metavar="NAME", help="see `krazy-gym benchmarks`")
    e.add_argument("--seeds", required=True, type=_positive_int("--seeds"), metavar="K",
                   help="number of seeds (0..K-1)")
    e.add_argument("--out", required=True, metavar="PATH", help="results JSON to write")
    e.add_argument("--workers", type=_positive_int("--workers"), default=1, metavar="N",
                   help="processes (or Ray tasks) to spread the task batches over")
    e.add_argument("--engine", choices=("local", "ray"), default="local")
    e.add_argument("--ray-address", default=None, help="Ray cluster address (default: local)")
    e.add_argument("--batch-size", type=_positive_int("--batch-size"), default=None,
                   help="tasks run in lockstep per agent instance (default: the benchmark's)")
    e.add_argument("--plot", default=None, metavar="PNG", help="save the adaptation curve")
    e.add_argument("--resume", action="store_true", help="reuse units from <out>.partial.json")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = sub.add_parser("summary", help="print the summary table of results files")
    s.add_argument("files", nargs="+")

    v = sub.add_parser("validate", help="validate results files against the schema")
    v.add_argument("files", nargs="+")
    return parser


def _usage_error(message: str) -> int:
    print(f"krazy-gym: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _cmd_benchmarks(args) -> int:
    from krazy_gym.evaluation.benchmarks import list_benchmarks
    from krazy_gym.evaluation.report import benchmarks_table

    if args.json:
        rows = []
        for b in list_benchmarks():
            rows.append({
                "name": b.name, "version": b.version, "env_id": b.env_id,
                "env_kwargs": dict(b.env_kwargs), "num_test_tasks": b.num_test_tasks,
                "explore_episodes": b.explore_episodes, "adapt": b.adapt,
                "exploit_episodes": b.exploit_episodes, "random_score": b.random_score,
                "reference_score": b.reference_score, "reference_source": b.reference_source,
                "max_score": b.max_score, "description": b.description,
            })
        print(json.dumps(rows, indent=1))
    else:
        print(benchmarks_table())
    return EXIT_OK


def _cmd_evaluate(args) -> int:
    from krazy_gym.evaluation.agents import (
        AgentSpecError,
        load_factory,
        make_agent,
        resolve_agent_spec,
    )
    from krazy_gym.evaluation.benchmarks import get_benchmark
    from krazy_gym.evaluation.runner import EvaluationError, check_output_path, evaluate

    # every check before anything runs or is written
    try:
        bench = get_benchmark(args.benchmark)
    except (KeyError, ValueError) as exc:
        return _usage_error(str(exc))
    try:
        check_output_path(args.out)
    except ValueError as exc:
        return _usage_error(str(exc))
    if args.plot is not None:
        plot = Path(args.plot)
        if not plot.parent.is_dir():
            return _usage_error(f"--plot {args.plot!r}: directory {str(plot.parent)!r} does not exist")
    if args.engine == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            return _usage_error("--engine ray needs ray: pip install 'krazy_gym[ray]'")
    try:
        args.agent = resolve_agent_spec(args.agent)  # a built-in name -> its factory spec
        factory = load_factory(args.agent)
        make_agent(factory, 0, args.agent)
    except AgentSpecError as exc:
        return _usage_error(str(exc))
    except Exception as exc:  # noqa: BLE001 - the factory itself failed
        return _usage_error(f"agent factory {args.agent!r} raised {type(exc).__name__}: {exc}")

    progress = False if args.no_progress else None
    try:
        results = evaluate(
            args.agent, bench, seeds=args.seeds, workers=args.workers, engine=args.engine,
            progress=progress, out=args.out, batch_size=args.batch_size, resume=args.resume,
            ray_address=args.ray_address,
        )
    except EvaluationError as exc:
        print(f"krazy-gym: evaluation failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    from krazy_gym.evaluation.report import plot_adaptation, summary_table

    print(summary_table(results))
    print(f"results written to {args.out} (sha256 {results['sha256'][:12]}...)")
    if args.plot is not None:
        plot_adaptation(results, args.plot)
        print(f"adaptation curve written to {args.plot}")
    return EXIT_OK


def _load_all(files: Sequence[str]):
    from krazy_gym.evaluation.results import ResultsError, read_results

    loaded = []
    for f in files:
        try:
            loaded.append(read_results(f))
        except (OSError, ResultsError) as exc:
            raise SystemExit(_usage_error(f"{f}: {exc}")) from None
    return loaded


def _cmd_summary(args) -> int:
    from krazy_gym.evaluation.report import summary_table

    print(summary_table(_load_all(args.files)))
    return EXIT_OK


def _cmd_validate(args) -> int:
    for f in args.files:
        _load_all([f])
        print(f"{f}: valid")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``krazy-gym``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    handler = {
        "benchmarks": _cmd_benchmarks,
        "evaluate": _cmd_evaluate,
        "summary": _cmd_summary,
        "validate": _cmd_validate,
    }[args.command]
    try:
        return handler(args)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
