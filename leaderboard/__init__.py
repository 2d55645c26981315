"""krazy_gym leaderboard: accept, validate, store and show evaluation results.

``python -m leaderboard submit|show|render|serve|export`` (also the ``krazy-leaderboard``
console script); the Python API is :mod:`leaderboard.api`. A submission is a results file
written by ``krazy-gym evaluate``; the leaderboard checks it (schema, content sha256,
benchmark hash and shape, finite numbers, no duplicate), recomputes every score from the raw
returns and stores it in SQLite in one transaction, so a rejected file changes nothing.
"""
