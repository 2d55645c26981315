#!/bin/bash
# The harness, 10 seeds, for the E-MAML shipped-defaults run (run.sh) at 300 and 600 iterations;
# then `krazy-gym summary` on the two eval.json and the random agent's. Run from the repository root.
set -euo pipefail
for d in emaml-trpo-s0-it300 emaml-trpo-s0; do
  D=runs/kw-default/$d
  [ -f "$D/eval.json" ] || KRAZY_GYM_CHECKPOINT=$D .venv/bin/python -m krazy_gym.evaluation evaluate \
      --agent baselines --benchmark KrazyWorld-Easy --seeds 10 --out "$D/eval.json"
done
echo "# done $(date)"
