#!/bin/bash
# harness, 10 seeds, for the E-MAML shipped-defaults run at 300 and 600 iterations
cd /work/wt-study
for d in emaml-trpo-s0-it300 emaml-trpo-s0; do
  D=/work/main/runs/kw-default/$d
  [ -f $D/eval.json ] || KRAZY_GYM_CHECKPOINT=$D .venv/bin/python -m krazy_gym.evaluation evaluate --agent baselines --benchmark KrazyWorld-Easy --seeds 10 --out $D/eval.json
done
echo "# done $(date)"
