#!/bin/bash
# Issue 19 done-bar: E-MAML with its shipped defaults (no --config) on KrazyWorld-Easy, 300 then
# 600 iterations, seed 0. Run from the repository root (its .venv): bash reference/kw-default/run.sh
# (resumable: run it again after an interruption). As produced 2026-12-03.
set -euo pipefail
OUT=runs/kw-default/emaml-trpo-s0
TRAIN=(.venv/bin/python -m baselines.train --algo emaml-trpo --env KrazyGym/KrazyWorld-Easy-v0)
if [ ! -f "$OUT/checkpoint.pt" ]; then
  nice "${TRAIN[@]}" --seed 0 --iterations 300 --out "$OUT"
else
  nice "${TRAIN[@]}" --resume --iterations 300 --out "$OUT"
fi
[ -d "$OUT-it300" ] || cp -r "$OUT" "$OUT-it300"     # the 300-iteration point, evaluated separately
nice "${TRAIN[@]}" --resume --iterations 600 --out "$OUT"
echo "# done $(date)"
