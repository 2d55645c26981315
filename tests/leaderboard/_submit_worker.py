"""Helper process for the concurrency test: wait for the start signal, then submit files.

``python _submit_worker.py DB START_FILE RESULTS...`` prints one JSON line per file:
``{"file": ..., "id": ...}`` when stored or ``{"file": ..., "check": ...}`` when rejected.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from leaderboard import api
from leaderboard.errors import SubmissionError


def main() -> None:
    db, start, *files = sys.argv[1:]
    print(json.dumps({"ready": True}), flush=True)
    while not Path(start).exists():  # all workers are imported and waiting: go at once
        time.sleep(0.005)
    for name in files:
        try:
            print(json.dumps({"file": name, "id": api.submit(name, db=db).id}), flush=True)
        except SubmissionError as exc:
            print(json.dumps({"file": name, "check": exc.check}), flush=True)


if __name__ == "__main__":
    main()
