"""The leaderboard's Python API (what the CLI and ``krazy_gym/demo.py`` call).

    >>> from leaderboard import api
    >>> result = api.submit("results.json", db="board.db")      # doctest: +SKIP
    >>> print(api.show(db="board.db"))                          # doctest: +SKIP
    >>> api.render(db="board.db", out_dir="site")               # doctest: +SKIP
    >>> api.export(db="board.db", out="board.csv")              # doctest: +SKIP

``db=None`` means :func:`default_db`: ``$KRAZY_LEADERBOARD_DB`` if set, else
``leaderboard/leaderboard.db`` next to this package (ignored by git).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from leaderboard import store
from leaderboard.errors import SubmissionError

DB_ENV = "KRAZY_LEADERBOARD_DB"

#: Tolerances when ``--verify`` compares re-run task scores with the submitted ones.
VERIFY_RTOL = 1e-6
VERIFY_ATOL = 1e-8


def default_db() -> Path:
    """``$KRAZY_LEADERBOARD_DB`` if set, else ``leaderboard/leaderboard.db`` in the package."""
    env = os.environ.get(DB_ENV)
    return Path(env) if env else Path(__file__).with_name("leaderboard.db")


def _db(db: str | os.PathLike[str] | None) -> Path:
    return default_db() if db is None else Path(db)


@dataclasses.dataclass(frozen=True)
class SubmitResult:
    """What :func:`submit` stored."""

    id: int
    sha256: str
    benchmark: str
    agent: str
    iqm: float
    iqm_low: float
    iqm_high: float
    mean: float
    verified: bool
    verify_report: str | None

    def summary(self) -> str:
        text = (
            f"accepted as submission #{self.id}: {self.agent} on {self.benchmark}, normalised "
            f"IQM {self.iqm:.3f} [{self.iqm_low:.3f}, {self.iqm_high:.3f}], mean {self.mean:.3f}"
        )
        if self.verify_report:
            text += f"\n{self.verify_report}"
        return text


def verify_scores(sub: store.NewSubmission, factory_spec: str) -> tuple[bool, str]:
    """Re-run ``factory_spec`` through the harness on the submission's benchmark and seeds.

    The run uses the submitted file's batch size (``run.batch_size``) when it records one.

    Returns ``(matches, report)``: whether every seed × task score of the re-run equals the
    submitted one (within :data:`VERIFY_RTOL`/:data:`VERIFY_ATOL`), and a one-line report.
    """
    from krazy_gym.evaluation.benchmarks import get_benchmark
    from krazy_gym.evaluation.metrics import task_scores
    from krazy_gym.evaluation.runner import evaluate

    bench = get_benchmark(sub.benchmark_name)
    # the batch size shapes an agent's random stream, so re-run with the submitted one
    batch_size = json.loads(sub.document).get("run", {}).get("batch_size")
    rerun = evaluate(
        factory_spec, bench, seeds=list(sub.seeds), batch_size=batch_size, progress=False
    )
    rerun_returns = np.asarray(rerun["returns"], dtype=np.float64)
    if rerun_returns.shape != sub.returns.shape:
        return False, (
            f"verification FAILED: the re-run of {factory_spec} gave returns of shape "
            f"{rerun_returns.shape}, the file has {sub.returns.shape}"
        )
    ours, theirs = task_scores(rerun_returns, bench), task_scores(sub.returns, bench)
    diff = float(np.max(np.abs(ours - theirs)))
    if np.allclose(ours, theirs, rtol=VERIFY_RTOL, atol=VERIFY_ATOL):
        return True, f"verified: re-running {factory_spec} reproduced every task score (max |diff| {diff:.3g})"
    mismatched = int(np.sum(~np.isclose(ours, theirs, rtol=VERIFY_RTOL, atol=VERIFY_ATOL)))
    return False, (
        f"verification FAILED: re-running {factory_spec} on seeds {list(sub.seeds)} changed "
        f"{mismatched} of {ours.size} task scores (max |diff| {diff:.3g}); the row is stored "
        "unverified — check that the factory and seeds are the ones that produced the file"
    )


def submit(
    path: str | os.PathLike[str],
    db: str | os.PathLike[str] | None = None,
    verify: str | None = None,
) -> SubmitResult:
    """Validate ``path``, recompute its aggregates and store it in one transaction.

    With ``verify="pkg.module:factory"`` the agent is first re-run through the harness and the
    row is marked verified only if the task scores match (a mismatch still stores the row,
    unverified, and the report says why).

    Raises:
        SubmissionError: the file failed a check (``error.check`` names it); the database is
            unchanged.
        store.StoreError: the database itself cannot be used.
    """
    db = _db(db)
    sub = _load(path)
    store.check_not_duplicate(db, sub)  # cheap, before a possibly long --verify
    report = None
    if verify is not None:
        try:
            ok, report = verify_scores(sub, verify)
        except Exception as exc:  # noqa: BLE001 - any failure of the re-run is reported
            raise SubmissionError(
                "verify",
                f"re-running {verify!r} failed ({type(exc).__name__}: {exc}); fix the factory "
                "spec or submit without --verify",
            ) from exc
        sub = dataclasses.replace(sub, verified=ok, verified_factory=verify)
    submitted_at = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    new_id = store.insert_submission(db, sub, submitted_at)
    h = sub.headline
    return SubmitResult(
        id=new_id, sha256=sub.sha256, benchmark=sub.benchmark_name, agent=sub.agent_name,
        iqm=h["iqm"], iqm_low=h["iqm_low"], iqm_high=h["iqm_high"], mean=h["mean"],
        verified=sub.verified, verify_report=report,
    )


def _load(path: str | os.PathLike[str]) -> store.NewSubmission:
    from leaderboard.validate import load_submission

    return load_submission(path)


def submissions(db: str | os.PathLike[str] | None = None) -> list[store.Submission]:
    """Every stored submission, ranked within each benchmark."""
    return store.list_submissions(_db(db))


def show(db: str | os.PathLike[str] | None = None) -> str:
    """The ranking per benchmark as a terminal table (what ``show`` prints)."""
    from leaderboard.render import group_by_benchmark

    groups = group_by_benchmark(store.list_submissions(_db(db)))
    if not groups:
        return "no submissions yet"
    header = ("rank", "agent", "IQM [95% CI]", "mean [95% CI]", "seeds", "verified", "date")
    blocks = []
    for name, rows in sorted(groups.items()):
        table = [header] + [
            (
                str(rank),
                s.agent_name,
                f"{s.iqm:.3f} [{s.iqm_low:.3f}, {s.iqm_high:.3f}]",
                f"{s.mean:.3f} [{s.mean_low:.3f}, {s.mean_high:.3f}]",
                str(s.num_seeds),
                "yes" if s.verified else "no",
                s.submitted_at[:10],
            )
            for rank, s in enumerate(rows, start=1)
        ]
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        lines = [
            f"{name}  (benchmark hash {rows[0].benchmark_hash[:12]}, {len(rows)} submission(s); "
            "normalised scores)"
        ]
        for i, r in enumerate(table):
            lines.append("  ".join(c.rjust(w) if j in (0, 4) else c.ljust(w)
                                   for j, (c, w) in enumerate(zip(r, widths))).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def render(db: str | os.PathLike[str] | None = None, out_dir: str | os.PathLike[str] = "site") -> Path:
    """Write the static page for ``db`` into ``out_dir``; returns the path of index.html."""
    from leaderboard.render import render_site

    return render_site(_db(db), out_dir)


def export(
    db: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] = "leaderboard.csv",
    fmt: str | None = None,
) -> Path:
    """Export the ranking to CSV or JSON (``fmt`` defaults to ``out``'s extension)."""
    from leaderboard.export import export as _export

    return _export(_db(db), out, fmt)


def serve(directory: str | os.PathLike[str] = "site", port: int = 8000, host: str = "127.0.0.1") -> None:
    """Serve a rendered directory on localhost until Ctrl-C."""
    from leaderboard.serve import serve as _serve

    _serve(directory, port, host)


__all__: list[Any] = [
    "SubmissionError", "SubmitResult", "default_db", "export", "render", "serve", "show",
    "submissions", "submit", "verify_scores",
]
