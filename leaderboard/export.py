"""Export the leaderboard to CSV (one row per submission) or JSON (rows plus details).

JSON carries every value exactly as stored. CSV is meant for spreadsheets, so its text cells
(names, factories, hashes, dates) are neutralised with OWASP's rule: a cell starting with
``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading ``'`` and is shown, never
evaluated. Numeric columns are written by this module from floats and left as numbers.
Unranked rows (fewer seeds than the benchmark ranks) have an empty ``rank`` (JSON: null);
``reference_kind``/``reference_row`` are empty (null) except for the shipped reference rows.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from krazy_gym.evaluation.text import spreadsheet_safe
from leaderboard.render import atomic_write_bytes, group_by_benchmark, ranks
from leaderboard.store import list_submissions

#: CSV columns, in order.
COLUMNS = (
    "benchmark", "benchmark_hash", "rank", "id", "agent", "factory", "iqm", "iqm_low",
    "iqm_high", "mean", "mean_low", "mean_high", "seeds", "verified", "verified_factory",
    "submitted_at", "sha256", "reference_kind", "reference_row",
)
#: CSV columns holding text that came from a results file or the database (neutralised).
TEXT_COLUMNS = ("benchmark", "benchmark_hash", "agent", "factory", "verified_factory",
                "submitted_at", "sha256", "reference_kind", "reference_row")
FORMATS = ("csv", "json")


def leaderboard_rows(db: str | os.PathLike[str], *, details: bool = False) -> list[dict[str, Any]]:
    """One dict per submission, ranked within each benchmark (keys :data:`COLUMNS`).

    With ``details``, each dict also has ``aggregates``, ``provenance``, ``exploration_metrics``,
    ``timing`` and the raw ``returns`` (nested lists).
    """
    rows = []
    for name, subs in sorted(group_by_benchmark(list_submissions(db)).items()):
        for rank, s in zip(ranks(subs), subs):
            row: dict[str, Any] = {
                "benchmark": name, "benchmark_hash": s.benchmark_hash, "rank": rank, "id": s.id,
                "agent": s.agent_name, "factory": s.agent_factory, "iqm": s.iqm,
                "iqm_low": s.iqm_low, "iqm_high": s.iqm_high, "mean": s.mean,
                "mean_low": s.mean_low, "mean_high": s.mean_high, "seeds": s.num_seeds,
                "verified": s.verified, "verified_factory": s.verified_factory,
                "submitted_at": s.submitted_at, "sha256": s.sha256,
                "reference_kind": s.reference_kind, "reference_row": s.reference_row,
            }
            if details:
                row.update(
                    seed_list=s.seeds, aggregates=s.aggregates, provenance=s.provenance,
                    exploration_metrics=s.exploration_metrics, timing=s.timing,
                    returns=s.returns.tolist(),
                )
            rows.append(row)
    return rows


def export_text(db: str | os.PathLike[str], fmt: str) -> str:
    """The export as text: ``fmt`` is "csv" or "json"."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if fmt == "json":
        return json.dumps(leaderboard_rows(db, details=True), indent=1, sort_keys=True) + "\n"
    buf = io.StringIO()
    # RFC 4180 line ends: a cell holding "\r" or "\n" is then always quoted
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in leaderboard_rows(db):
        writer.writerow({
            k: ("" if v is None else spreadsheet_safe(str(v)) if k in TEXT_COLUMNS
                else int(v) if isinstance(v, bool) else v)
            for k, v in row.items()
        })
    return buf.getvalue()


def export(db: str | os.PathLike[str], out: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Write the export to ``out`` atomically; ``fmt`` defaults to the file's extension.

    ``out`` must be a new path or a regular file in an existing directory: a symlink,
    device or FIFO is never replaced (``ValueError``, nothing written).
    """
    from krazy_gym.evaluation.results import check_output_file

    out = Path(out)
    fmt = fmt or out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(
            f"cannot tell the export format from {out.name!r}: pass format 'csv' or 'json' "
            "(or use a .csv/.json file name)"
        )
    check_output_file(out, "--out")
    text = export_text(db, fmt)
    atomic_write_bytes(out, text.encode("utf-8"))
    return out
