#!/usr/bin/env bash
# The device-machine run of the MD scaling and of orbjax's side of the
# time-to-accuracy benchmark, prepared to fit one 10-minute command. Run from the repository root:
#   OUT=/some/dir bash benchmarks/gpu.sh            # on a GPU machine (jax with CUDA)
#   OUT=/tmp/smoke SMOKE=1 bash benchmarks/gpu.sh   # the same steps, tiny, on a CPU
# Needs the acetylacetone split of the learning curves (data/learning_curves/, written by
# python -m experiments.learning_curves.prepare; carry it to the device machine). Writes under $OUT:
#   md_gpu.csv          ASE-calculator path vs jitted neighbour-list loop, default model,
#                       periodic water 648 … 98,304 atoms (md_scaling.py compare)
#   acac_time/          a default-model training run on the 400 acac frames (metrics.csv:
#                       validation errors every 250 steps with steps/s, final_metrics.json)
#   env.txt             devices and versions
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the output folder}
mkdir -p "$OUT"
PY=${PYTHON:-python}
if [ -n "${SMOKE:-}" ]; then sizes="4 5"; steps=200; md_steps=3; config=configs/test.py
else sizes="6 10 15 22 32"; steps=4000; md_steps=20; config=configs/default.py; fi
"$PY" -c "import jax, jaxlib, flax, optax, e3nn_jax; print(jax.devices(), 'jax', jax.__version__, jaxlib.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'e3nn_jax', e3nn_jax.__version__)" > "$OUT/env.txt" 2>&1
(command -v nvidia-smi >/dev/null && nvidia-smi >> "$OUT/env.txt") || true
# Item 3: one fresh process per implementation and size (peak RSS is that size's).
timeout 270 "$PY" -m benchmarks.md_scaling compare --sizes $sizes --config "$config" --impls orbjax orbjax_jit \
  --steps "$md_steps" --budget-s 20 --out "$OUT/md_gpu.csv" || echo "md scaling stopped early (rc $?)"
# Item 5, orbjax's side: validation/test error against training steps and steps/s.
D=data/learning_curves
timeout 250 "$PY" -m orbjax.train --config configs/energy_only.py --workdir "$OUT/acac_time" \
  --config.data.train_path=$D/acac_train.h5 --config.data.val_path=$D/acac_val.h5 \
  --config.data.test_path=$D/acac_test.h5 --config.data.extra_tests=test600=$D/acac_test600.h5 \
  --config.data.isolated_atoms_path=${ISOLATED:-data/public/botnet/acac/isolated_atoms.xyz} \
  --config.train.num_steps=$steps --config.train.eval_every=250 --config.train.log_every=250 \
  --config.train.checkpoint_every=1000 --config.train.progress_bar=false \
  || echo "training stopped early (rc $?)"
rm -rf "$OUT/acac_time/checkpoints" "$OUT/acac_time/tensorboard"
ls -R "$OUT" | head -30
