#!/bin/bash
# issue 19 done-bar: E-MAML with its shipped defaults (no --config) on KrazyWorld-Easy, 300 then 600 iterations
cd /work/wt-run
OUT=/work/main/runs/kw-default/emaml-trpo-s0
if [ ! -f $OUT/checkpoint.pt ]; then
  .venv/bin/python -m baselines.train --algo emaml-trpo --env KrazyGym/KrazyWorld-Easy-v0 --seed 0 --iterations 300 --out $OUT
else
  .venv/bin/python -m baselines.train --algo emaml-trpo --env KrazyGym/KrazyWorld-Easy-v0 --resume --iterations 300 --out $OUT
fi
[ -d $OUT-it300 ] || cp -r $OUT $OUT-it300
.venv/bin/python -m baselines.train --algo emaml-trpo --env KrazyGym/KrazyWorld-Easy-v0 --resume --iterations 600 --out $OUT
echo "# done $(date)"
