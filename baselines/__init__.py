"""Reference meta-RL agents for krazy_gym: MAML, E-MAML, ProMP (gradient-based) and RL², E-RL².

Train with ``python -m baselines.train --algo promp --env KrazyGym/Navigation2D-v0 --out runs/x``;
load a trained run as a harness ``MetaAgent`` with ``baselines.agents.load(path)``.
Needs the ``[baselines]`` extra (torch, matplotlib).
"""
