#!/usr/bin/env bash
# The two controls of the decisive arm, on the same 9,900-frame snapshot, steps and seed as
# pretrain_v1.sh: per-orbital populations only (no GFN1 energy or forces), and coordinate
# denoising on the same structures with no GFN1 label at all (experiments/pretraining/
# denoise.py writes its set: 3 noisy copies per structure, restoring forces as the target).
# Resumable: re-running continues each run from its checkpoint.
set -euo pipefail
DATA=${DATA:-data/pretraining/chno_gfn1_10k.h5}
DENOISE=${DENOISE:-data/pretraining/chno_denoise_10k.h5}
STEPS=${STEPS:-12000}
python -m orbjax.train --config configs/pretrain_gfn1.py --workdir runs/pretrain/chno_gfn1_10k_o \
    --config.data.train_path="$DATA" --config.train.num_steps="$STEPS" \
    --config.loss.weights.energy=0 --config.loss.weights.forces=0
python -m experiments.pretraining.denoise "$DATA" "$DENOISE"  # a no-op once made; refuses others
python -m orbjax.train --config configs/pretrain_gfn1.py --workdir runs/pretrain/chno_denoise_10k \
    --config.data.train_path="$DENOISE" --config.train.num_steps="$STEPS" \
    --config.data.energy_key=energy --config.data.forces_key=forces \
    --config.loss.weights.energy=0 --config.loss.weights.orbital_populations=0 \
    --config.model.heads="()"
