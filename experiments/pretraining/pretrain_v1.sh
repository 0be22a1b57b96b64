#!/usr/bin/env bash
# Pretraining on the 9,900-frame GFN1 snapshot (1,980 pool molecules): the decisive arm
# (energy + forces + per-orbital populations) and the energy + forces-only arm, same data,
# steps and seed. Resumable: re-running continues each run from its checkpoint.
set -euo pipefail
DATA=${DATA:-data/pretraining/chno_gfn1_10k.h5}
STEPS=${STEPS:-12000}
python -m orbjax.train --config configs/pretrain_gfn1.py --workdir runs/pretrain/chno_gfn1_10k_efo \
    --config.data.train_path="$DATA" --config.train.num_steps="$STEPS"
python -m orbjax.train --config configs/pretrain_gfn1.py --workdir runs/pretrain/chno_gfn1_10k_ef \
    --config.data.train_path="$DATA" --config.train.num_steps="$STEPS" \
    --config.loss.weights.orbital_populations=0 --config.model.heads="()"
