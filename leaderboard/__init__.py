"""krazy_gym leaderboard: accept, validate, store and show evaluation results.

``python -m leaderboard submit|seed-reference|show|render|serve|export`` (also the
``krazy-leaderboard`` console script); the Python API is :mod:`leaderboard.api`. A submission is a results file
written by ``krazy-gym evaluate``; the leaderboard checks it (strict JSON, plain-text names,
schema, content sha256, benchmark hash and shape, the prescribed seeds, finite returns within
the benchmark's range, no duplicate under any spelling), recomputes every score from the raw
returns and stores it in SQLite in one transaction, so a rejected file changes nothing.
``seed-reference`` loads the shipped ``reference/`` rows the same way, flagged as reference
rows and verified by re-running their checkpoints (:mod:`leaderboard.reference`).
Everything it prints or writes treats strings from files as plain text.
"""
