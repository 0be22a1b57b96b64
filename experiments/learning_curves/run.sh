#!/usr/bin/env bash
# Stage 2 of the learning curves: every sweep stage behind RESULTS.md for one dataset, in
# priority order (README.md), as stages of queue.sh: resumable, finished runs skipped. Two
# copies fill the two cores (stage 1, `python -m experiments.learning_curves.prepare`, first):
#   ORBJAX_CPUS=0 bash experiments/learning_curves/run.sh acac &
#   ORBJAX_CPUS=1 bash experiments/learning_curves/run.sh chno &
#   bash experiments/learning_curves/run.sh chno_grown        # after prepare --chno-grown
set -euo pipefail
d=${1:?dataset: acac, chno or chno_grown}
q="$(dirname "$0")/queue.sh"
case "$d" in
  acac|chno)
    # The decisive comparison (energy-only vs orbital at the chosen weight) comes before the
    # weight-100 orbital runs of seed 2 and the controls; seeds 3-4 of the decisive pair, the
    # force-free shuffled control and the 4x budgets last.
    stages=("lc_$d@0" "lc_$d@1" "lc_$d:weights" "lc_$d:curve_chosen@0" "lc_$d:controls@0"
      "lc_$d:curve_chosen@1" "lc_$d@2+config=energy_only" "lc_$d:curve_chosen@2"
      "lc_$d@2" "lc_$d:controls@1" "lc_$d:noforces@0"
      "lc_$d:controls@2" "lc_$d:noforces@1" "lc_$d:noforces@2" "lc_$d:head_input"
      "lc_$d@3" "lc_$d:curve_chosen@3" "lc_$d@4" "lc_$d:curve_chosen@4" "lc_$d:noforces_controls"
      "lc_$d:long@0" "lc_$d:long@1" "lc_$d:long@2")
    # acac's 4x budgets have 5 seeds, and n = 50 at 4x (CHNO: seeds 0-2 at its largest size)
    [ "$d" = acac ] && stages+=("lc_acac:long@3" "lc_acac:long@4" "lc_acac:long_small")
    ;;
  chno_grown)
    # energy-only and the chosen weight (no weight-100 curve), then scan, controls, 4x budgets
    stages=()
    for s in 0 1 2 3 4; do stages+=("lc_chno_grown@$s+config=energy_only" "lc_chno_grown:curve_chosen@$s"); done
    stages+=("lc_chno_grown:weights" "lc_chno_grown:controls" "lc_chno_grown:long" "lc_chno_grown:long_small")
    ;;
  *) echo "run.sh: unknown dataset $d (acac, chno or chno_grown)" >&2; exit 2 ;;
esac
exec bash "$q" "${stages[@]}"
