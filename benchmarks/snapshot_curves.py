"""Copy the progress of long training runs into the repo (``reference/curves/<run>/``).

Long runs (MuJoCo learning curves: ~15 s per ProMP iteration here) outlive a working session;
their ``runs/`` directories do not travel with the repository. This copies each run's
``progress.csv``, ``config.json``, ``learning_curve.png`` and ``checkpoint.pt`` (small: the
policy, optimiser and RNG states; ~100 kB) and writes ``command.txt`` with the command that
continues it, so that curves live in the repo and a later session resumes the run bit for bit
(copy the directory back to ``runs/`` first)::

    python benchmarks/snapshot_curves.py runs/mujoco/promp-HalfCheetahDir-s0 ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from krazy_gym.atomic_io import write_bytes_atomic, write_text_atomic  # noqa: E402

DEST = Path(__file__).resolve().parents[1] / "reference" / "curves"


def snapshot(run: Path) -> Path:
    config = json.loads((run / "config.json").read_text())
    out = DEST / run.name
    write_bytes_atomic(out / "progress.csv", (run / "progress.csv").read_bytes())
    for name in ("config.json", "learning_curve.png", "checkpoint.pt"):
        if (run / name).exists():
            write_bytes_atomic(out / name, (run / name).read_bytes())
    rows = (run / "progress.csv").read_text().count("\n") - 1
    write_text_atomic(out / "command.txt", (
        f"# {rows} of {config['iterations']} iterations; start and continue with\n"
        f"python -m baselines.train --algo {config['algo']} --env {config['env_id']} --config paper "
        f"--seed {config['seed']} --iterations {config['iterations']} --out {run}\n"
        f"# continue (after a fresh clone: cp -r reference/curves/{run.name} {run})\n"
        f"python -m baselines.train --algo {config['algo']} --env {config['env_id']} --out {run} "
        f"--resume --iterations {config['iterations']}\n"))
    return out


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(snapshot(Path(arg)))
