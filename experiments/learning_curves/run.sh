#!/usr/bin/env bash
# Stage 2 of the learning curves: the whole plan for one dataset, in priority order (README.md),
# as stages of queue.sh: resumable, finished runs skipped. Two copies fill the two cores:
#   ORBJAX_CPUS=0 bash experiments/learning_curves/run.sh acac &
#   ORBJAX_CPUS=1 bash experiments/learning_curves/run.sh chno &
set -euo pipefail
d=${1:?dataset: acac or chno}
# The decisive comparison (energy-only vs orbital at the chosen weight, 3 seeds) comes before
# the weight-100 orbital runs of seed 2 and the controls.
exec bash "$(dirname "$0")/queue.sh" "lc_$d@0" "lc_$d@1" "lc_$d:weights" "lc_$d:curve_chosen@0" "lc_$d:controls@0" \
  "lc_$d:curve_chosen@1" "lc_$d@2+config=energy_only" "lc_$d:curve_chosen@2" \
  "lc_$d@2" "lc_$d:controls@1" "lc_$d:noforces@0" \
  "lc_$d:controls@2" "lc_$d:noforces@1" "lc_$d:noforces@2" "lc_$d:head_input"
