"""Shared core of the baselines: policies, returns/GAE, linear baseline, samplers, optimisers,
checkpoints, logging and config handling. Each algorithm module builds on these pieces."""
