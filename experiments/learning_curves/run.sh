#!/usr/bin/env bash
# Stage 2 of the learning curves: the sweeps, seed by seed, acac then CHNO (resumable:
# finished runs are skipped, unfinished ones resume from their checkpoints).
#   bash experiments/learning_curves/run.sh [seeds] [sweeps]      # from the repository root
# Defaults: seeds "0 1 2", sweeps "lc_acac lc_chno". CPU pinning: ORBJAX_CPUS (default: all).
set -uo pipefail
cd "$(dirname "$0")/../.."
seeds=${1:-"0 1 2"}
sweeps=${2:-"lc_acac lc_chno"}
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-$PWD/.jax_cache}
pin=()
[ -n "${ORBJAX_CPUS:-}" ] && pin=(taskset -c "$ORBJAX_CPUS")
PY=${PYTHON:-.venv/bin/python}
for seed in $seeds; do
  for sweep in $sweeps; do
    echo "$(date -Is) start $sweep seed=$seed"
    "${pin[@]}" "$PY" -m orbjax.sweep --config "configs/sweeps/$sweep.py" --launcher local --workers 1 --only "seed=$seed"
  done
done
echo "$(date -Is) done"
