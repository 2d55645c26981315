"""``python -m krazy_gym.evaluation`` = ``krazy-gym`` (see :mod:`krazy_gym.evaluation.cli`)."""

import sys

from krazy_gym.evaluation.cli import main

sys.exit(main())
