#!/usr/bin/env bash
# A short real training run of the default model (experiments/short_run/README.md):
# label the CHNO set with GFN1-xTB, then train energy-only and +orbital for the same
# number of steps on the same molecule-disjoint split, and collect the validation metrics.
#   bash experiments/short_run.sh [steps] [variants]
# variants: energy_only, orbital (head reads the previous layer, the default) and
# orbital_last_layer (head reads the last layer's full features).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-1500}
variants=${2:-"energy_only orbital orbital_last_layer"}
out=experiments/short_run
mkdir -p "$out" data
[ -f data/chno_gfn1.h5 ] || python -m orbjax.label experiments/data/chno/chno_wb97x.extxyz data/chno_gfn1.h5 --key-preset chno
for variant in $variants; do
  config=$variant extra=()
  if [ "$variant" = orbital_last_layer ]; then config=orbital extra=(--config.model.orbital_features=last_layer); fi
  rm -rf "runs/short_$variant"
  python -m orbjax.train --config "configs/$config.py" --workdir "runs/short_$variant" "${extra[@]}" \
    --config.data.train_path=data/chno_gfn1.h5 --config.train.num_steps="$steps" \
    --config.train.eval_every=250 --config.train.progress_bar=False > "$out/$variant.log" 2>&1
  cp "runs/short_$variant/final_metrics.json" "$out/$variant.final_metrics.json"
  cp "runs/short_$variant/metrics.csv" "$out/$variant.metrics.csv"
done
echo "done: $out"
