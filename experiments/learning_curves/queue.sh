#!/usr/bin/env bash
# Run sweep stages one after another (resumable: finished runs are skipped, unfinished ones
# resume from their checkpoints). A stage is SWEEP[:KIND][@SEED][+KEY=VALUE...], e.g.
# lc_acac:weights, lc_chno@1 (configs/sweeps/SWEEP.py, get_config(KIND), only runs of that
# seed) or lc_acac@2+config=energy_only (also only runs whose swept KEY is VALUE).
#   bash experiments/learning_curves/queue.sh lc_acac@0 lc_chno@0 lc_acac:weights ...
# CPU pinning: ORBJAX_CPUS (e.g. 0); python: PYTHON (default .venv/bin/python).
# QUEUE_LIST=1 prints the stages and runs nothing (tests/test_results_tables.py reads it).
set -uo pipefail
cd "$(dirname "$0")/../.."
if [ -n "${QUEUE_LIST:-}" ]; then printf '%s\n' "$@"; exit 0; fi
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-$PWD/.jax_cache}
pin=()
[ -n "${ORBJAX_CPUS:-}" ] && pin=(taskset -c "$ORBJAX_CPUS")
PY=${PYTHON:-.venv/bin/python}
for stage in "$@"; do
  IFS=+ read -r -a parts <<< "$stage"
  head=${parts[0]}
  sweep=${head%%@*}
  only=()
  [ "$sweep" != "$head" ] && only=(--only "seed=${head##*@}")
  for filter in "${parts[@]:1}"; do only+=(--only "$filter"); done
  file=${sweep%%:*}
  kind=${sweep#"$file"}
  echo "$(date -Is) start $stage"
  "${pin[@]}" "$PY" -m orbjax.sweep --config "configs/sweeps/$file.py$kind" --launcher local --workers 1 "${only[@]}"
done
echo "$(date -Is) done"
