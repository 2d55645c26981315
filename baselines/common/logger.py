"""Run logging: one CSV row per iteration, optional TensorBoard scalars, a learning-curve PNG.

Files in the run directory:

* ``progress.csv``: one row per completed iteration (column ``iteration`` first, then the
  metrics in first-seen order). Rewritten atomically on every ``log`` so a crash never leaves a
  half-written row; on resume the rows of iterations after the checkpoint are dropped, so the
  CSV of a resumed run equals that of an uninterrupted one.
* ``learning_curve.png``: chosen columns against the iteration (matplotlib, Agg backend).
* ``tb/``: TensorBoard event files, only with ``tensorboard=True``.

Example::

    log = RunLogger(out_dir, resume_iteration=ckpt.iteration if resume else None)
    log.log(it, {"pre_return": 1.0, "post_return": 2.0})
    log.plot(["pre_return", "post_return"], title="ProMP on Navigation2D")
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from krazy_gym.atomic_io import write_bytes_atomic

CSV_NAME = "progress.csv"
PNG_NAME = "learning_curve.png"


def read_progress(path: str | os.PathLike[str]) -> list[dict[str, float]]:
    """Read a ``progress.csv`` (a file or run directory) as a list of float dicts."""
    p = Path(path)
    p = p / CSV_NAME if p.is_dir() else p
    with open(p, newline="") as fh:
        return [
            {k: (float(v) if v != "" else math.nan) for k, v in row.items()}
            for row in csv.DictReader(fh)
        ]


class RunLogger:
    """CSV (+ optional TensorBoard) logger for one run directory.

    Args:
        out_dir: the run directory.
        resume_iteration: when resuming from a checkpoint taken after ``n`` completed
            iterations, pass ``n``: existing rows with ``iteration >= n`` are dropped.
            ``None`` starts a fresh log (an existing CSV is replaced).
        tensorboard: also write TensorBoard scalars to ``out_dir/tb``.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        resume_iteration: int | None = None,
        tensorboard: bool = False,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.out_dir / CSV_NAME
        self.rows: list[dict[str, float]] = []
        if resume_iteration is not None and self.csv_path.is_file():
            self.rows = [
                r for r in read_progress(self.csv_path) if r["iteration"] < resume_iteration
            ]
        self._writer: Any = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.out_dir / "tb"))

    def log(self, iteration: int, metrics: Mapping[str, float]) -> None:
        """Record the metrics of one completed iteration and rewrite the CSV."""
        row = {"iteration": float(iteration), **{k: float(v) for k, v in metrics.items()}}
        self.rows.append(row)
        columns: list[str] = []
        for r in self.rows:
            columns.extend(k for k in r if k not in columns)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: (int(v) if k == "iteration" else repr(v)) for k, v in r.items()})
        write_bytes_atomic(self.csv_path, buf.getvalue().encode())
        if self._writer is not None:
            for k, v in metrics.items():
                self._writer.add_scalar(k, float(v), iteration)
            self._writer.flush()

    def plot(self, columns: Sequence[str], *, title: str = "", ylabel: str = "return") -> Path:
        """Draw ``columns`` against the iteration into ``learning_curve.png`` (atomically)."""
        return plot_learning_curve(self.rows, self.out_dir / PNG_NAME, columns, title, ylabel)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def plot_learning_curve(
    rows: Sequence[Mapping[str, float]],
    png_path: str | os.PathLike[str],
    columns: Sequence[str],
    title: str = "",
    ylabel: str = "return",
) -> Path:
    """Plot ``columns`` of ``rows`` against ``iteration`` and save a PNG atomically."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot()
    xs = [r["iteration"] for r in rows]
    for col in columns:
        ax.plot(xs, [r.get(col, math.nan) for r in rows], label=col)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if columns:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    out = Path(png_path)
    write_bytes_atomic(out, buf.getvalue())
    return out
