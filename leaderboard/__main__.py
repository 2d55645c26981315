"""``python -m leaderboard``: see :mod:`leaderboard.cli`."""

import sys

from leaderboard.cli import main

sys.exit(main())
