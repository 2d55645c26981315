"""``krazy-gym``: the command line of the evaluation harness.

    krazy-gym benchmarks
    krazy-gym evaluate --agent mypkg.agents:make --benchmark KrazyWorld-Hard --seeds 5 \\
        --out results.json [--workers N] [--engine ray] [--plot adaptation.png]
    krazy-gym summary results.json [other.json ...]
    krazy-gym validate results.json

Also ``python -m krazy_gym.evaluation ...``. Exit codes: 0 success, 1 the run failed (agent
error, including an agent that calls ``sys.exit()`` or times out under ``--agent-timeout``;
finished units are kept in ``<out>.partial.json`` and an older ``<out>`` is moved to
``<out>.previous.json``), 2 bad input (nothing is run or written), 130 interrupted (Ctrl-C).

``validate`` runs every check the leaderboard's ``submit`` runs (except the database's
duplicate check); ``summary`` runs them too, except the prescribed-seeds rule, and shows
scores recomputed from the raw returns, never the file's own ``aggregates``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: Most seeds ``--seeds K`` accepts (a results file of 1000 Krazy World seeds is ~40 MB).
MAX_SEEDS = 1000


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse already exits 2; keep its format
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _positive_int(name: str, maximum: int | None = None):
    def parse(text: str) -> int:
        allowed = ">= 1" if maximum is None else f"in 1..{maximum}"
        if len(text) > 30:  # no conversion of a huge literal
            raise argparse.ArgumentTypeError(f"{name} must be an integer {allowed}, got {text[:20]!r}...")
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer {allowed}, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be >= 1, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{name} must be an integer {allowed}, got {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"--agent-timeout must be a number of seconds > 0, got {text!r}")
    return value


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
    e.add_argument("--seeds", required=True, type=_positive_int("--seeds", MAX_SEEDS), metavar="K",
                   help=f"number of seeds: runs seeds 0..K-1, as the leaderboard requires "
                        f"(K <= {MAX_SEEDS})")
    e.add_argument("--out", required=True, metavar="PATH", help="results JSON to write")
    e.add_argument("--workers", type=_positive_int("--workers"), default=1, metavar="N",
                   help="processes (or Ray tasks) to spread the task batches over")
    e.add_argument("--engine", choices=("local", "ray"), default="local")
    e.add_argument("--ray-address", default=None, help="Ray cluster address (default: local)")
    e.add_argument("--batch-size", type=_positive_int("--batch-size"), default=None,
                   help="tasks run in lockstep per agent instance (default: the benchmark's)")
    e.add_argument("--plot", default=None, metavar="PNG", help="save the adaptation curve")
    e.add_argument("--resume", action="store_true", help="reuse units from <out>.partial.json")
    e.add_argument("--agent-timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="fail the run if one agent call (act, observe, adapt, reset, factory) "
                        "takes longer; units then run in worker processes")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")

    s = sub.add_parser("summary", help="print the summary table of results files "
                                         "(scores recomputed from the raw returns)")
    s.add_argument("files", nargs="+")

    v = sub.add_parser("validate", help="run the leaderboard's checks on results files")
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
                "min_seeds": b.min_seeds, "rank_seeds": b.rank_seeds,
                "return_range": list(b.return_range) if b.return_range else None,
                "return_range_source": b.return_range_source,
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
    from krazy_gym.evaluation.results import check_output_file
    from krazy_gym.evaluation.runner import (
        EvaluationError,
        check_agent_timeout,
        check_output_path,
        evaluate,
    )

    # every check before anything runs or is written
    try:
        bench = get_benchmark(args.benchmark)
    except (KeyError, ValueError) as exc:
        return _usage_error(str(exc))
    try:
        check_output_path(args.out)
    except ValueError as exc:
        return _usage_error(str(exc))
    try:
        if args.plot is not None:
            check_output_file(args.plot, "--plot")
        check_agent_timeout(args.agent_timeout, args.engine)
    except ValueError as exc:
        return _usage_error(str(exc))
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
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # noqa: BLE001 - the factory failed
        return _usage_error(f"agent factory {args.agent!r} raised {type(exc).__name__}: {exc}")

    progress = False if args.no_progress else None
    try:
        results = evaluate(
            args.agent, bench, seeds=args.seeds, workers=args.workers, engine=args.engine,
            progress=progress, out=args.out, batch_size=args.batch_size, resume=args.resume,
            ray_address=args.ray_address, agent_timeout=args.agent_timeout,
        )
    except EvaluationError as exc:
        print(f"krazy-gym: evaluation failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"krazy-gym: interrupted; finished units are kept in {args.out}.partial.json "
              "(--resume reuses them)", file=sys.stderr)
        return EXIT_INTERRUPTED
    from krazy_gym.evaluation.report import plot_adaptation, summary_table

    print(summary_table(results))
    print(f"results written to {args.out} (sha256 {results['sha256'][:12]}...)")
    if args.plot is not None:
        plot_adaptation(results, args.plot)
        print(f"adaptation curve written to {args.plot}")
    return EXIT_OK


def _checked(path: str, prescribed_seeds: bool) -> dict:
    """``path`` after the leaderboard's checks, with ``aggregates`` recomputed from its raw
    returns (``SystemExit(2)`` with the failed check's message otherwise)."""
    from leaderboard.errors import SubmissionError
    from leaderboard.validate import load_submission

    try:
        sub = load_submission(path, prescribed_seeds=prescribed_seeds)
    except SubmissionError as exc:
        raise SystemExit(_usage_error(f"{path}: {exc}")) from None
    data = json.loads(sub.document)  # the very document that was checked
    data["aggregates"] = sub.aggregates  # recomputed, never the file's own
    return data


def _cmd_summary(args) -> int:
    from krazy_gym.evaluation.report import summary_table

    print(summary_table([_checked(f, prescribed_seeds=False) for f in args.files]))
    return EXIT_OK


def _cmd_validate(args) -> int:
    for f in args.files:
        _checked(f, prescribed_seeds=True)
        print(f"{f}: valid (the leaderboard's checks pass)")
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
