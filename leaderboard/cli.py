"""Command line: ``python -m leaderboard {submit,seed-reference,show,render,serve,export}``.

Exit codes: 0 success; 2 bad input (a rejected results file, a refused reference row, a bad
option, a missing or foreign database, an output path that is not ours to write: the message
names the failed check and how to fix it, and the database is unchanged); 1 when ``submit
--verify`` (or ``seed-reference``) stored a row but the re-run did not reproduce it (the row
stays unverified).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from leaderboard import api
from leaderboard.errors import SubmissionError
from leaderboard.store import StoreError

EXIT_OK, EXIT_UNVERIFIED, EXIT_BAD_INPUT = 0, 1, 2


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        default=None,
        help=f"SQLite database (default: ${api.DB_ENV} or {api.default_db()})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m leaderboard",
        description="krazy_gym leaderboard: submit results files, show and render the ranking.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("submit", help="validate a results file and store it")
    p.add_argument("results", help="results JSON written by `krazy-gym evaluate --out`")
    _add_db(p)
    p.add_argument(
        "--verify",
        metavar="PKG.MODULE:FACTORY",
        help="re-run the factory the file records (must be this one) on its seeds; mark "
             "verified only if the agent name and every task score match",
    )
    p.add_argument("--create", action="store_true",
                   help="allow starting a new database (and its directory) at --db")

    p = sub.add_parser(
        "seed-reference",
        help="load the shipped reference rows (reference/) as verified reference rows",
        description="Load every produced row of reference/manifest.json: each results file "
                    "is checked like a submission and against the manifest (sha256 of the "
                    "results and of the checkpoint), then re-run from its shipped checkpoint "
                    "and marked verified only if every return is reproduced. Idempotent: rows "
                    "already stored are not added again. If any row fails a check, nothing "
                    "is stored.")
    _add_db(p)
    p.add_argument("--reference", default=None, metavar="DIR",
                   help="the reference directory (default: reference/ of this checkout)")
    p.add_argument("--no-verify", action="store_true",
                   help="store new rows unverified without re-running their checkpoints (fast)")
    p.add_argument("--create", action="store_true",
                   help="allow starting a new database (and its directory) at --db")

    p = sub.add_parser("show", help="print the ranking per benchmark")
    _add_db(p)

    p = sub.add_parser("render", help="write the static HTML page")
    _add_db(p)
    p.add_argument("--out", required=True,
                   help="output directory: new, empty or rendered before (created if missing)")
    p.add_argument("--force", action="store_true",
                   help="render into a non-empty directory that holds no earlier render")

    p = sub.add_parser("serve", help="render (unless --no-render) and serve the page on localhost")
    _add_db(p)
    p.add_argument("--dir", default="site", help="directory to render into and serve (default: site)")
    p.add_argument("--port", type=int, default=8000, help="TCP port; 0 picks a free one (default: 8000)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--no-render", action="store_true", help="serve --dir as it is")
    p.add_argument("--force", action="store_true",
                   help="render into a non-empty --dir that holds no earlier render")

    p = sub.add_parser("export", help="export the ranking as CSV or JSON")
    _add_db(p)
    p.add_argument("--out", default="-", help="output file, or - for stdout (default)")
    p.add_argument("--format", choices=("csv", "json"), default=None,
                   help="default: from --out's extension, csv for stdout")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "submit":
        result = api.submit(args.results, db=args.db, verify=args.verify, create=args.create)
        print(result.summary())
        if args.verify is not None and not result.verified:
            return EXIT_UNVERIFIED
        return EXIT_OK
    if args.command == "seed-reference":
        from leaderboard.reference import ReferenceError

        try:
            report = api.seed_reference(db=args.db, reference=args.reference,
                                        verify=not args.no_verify, create=args.create,
                                        progress=lambda line: print(line, flush=True))
        except ReferenceError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(report.summary())
        return EXIT_UNVERIFIED if report.unverified else EXIT_OK
    if args.command == "show":
        print(api.show(db=args.db))
        return EXIT_OK
    if args.command == "render":
        index = api.render(db=args.db, out_dir=args.out, force=args.force)
        print(f"wrote {index}")
        return EXIT_OK
    if args.command == "serve":
        if not 0 <= args.port <= 65535:
            raise ValueError(f"--port must be in 0..65535, got {args.port}")
        if not args.no_render:
            api.render(db=args.db, out_dir=args.dir, force=args.force)
        api.serve(args.dir, port=args.port, host=args.host)
        return EXIT_OK
    if args.command == "export":
        from leaderboard.export import export_text

        if args.out == "-":
            sys.stdout.write(export_text(api.default_db() if args.db is None else args.db,
                                         args.format or "csv"))
        else:
            print(f"wrote {api.export(db=args.db, out=args.out, fmt=args.format)}")
        return EXIT_OK
    raise AssertionError(args.command)  # argparse guarantees a known command


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m leaderboard`` and ``krazy-leaderboard``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except SubmissionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (StoreError, ValueError, OSError, OverflowError, RecursionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
