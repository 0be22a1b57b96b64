#!/usr/bin/env bash
# A short real training run of the default model (the issue-3 closing-note numbers):
# label the shared CHNO set with GFN1-xTB, then train energy-only and +orbital for the same
# number of steps on the same molecule-disjoint split, and collect the validation metrics.
#   bash experiments/short_run.sh [steps]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-1500}
out=experiments/short_run
mkdir -p "$out" data
[ -f data/chno_gfn1.h5 ] || python -m orbjax.label ../shared/data/chno/chno_wb97x.extxyz data/chno_gfn1.h5 --key-preset chno
for variant in energy_only orbital; do
  python -m orbjax.train --config "configs/$variant.py" --workdir "runs/short_$variant" \
    --config.data.train_path=data/chno_gfn1.h5 --config.train.num_steps="$steps" \
    --config.train.eval_every=250 --config.train.progress_bar=False > "$out/$variant.log" 2>&1
  cp "runs/short_$variant/final_metrics.json" "$out/$variant.final_metrics.json"
  cp "runs/short_$variant/metrics.csv" "$out/$variant.metrics.csv"
done
echo "done: $out"
