#!/usr/bin/env bash
# Pretraining of the shipped model (chno-gfn1) on the full GFN1 set: the first 10,000 sampled
# pool molecules (5 frames each) plus the 10,000 acac MD frames (training only), energy +
# forces + per-orbital populations at the GFN1 level. 1 % of the pool molecules validate (the
# model card's structures), 1 % are held out. Resumable: re-running continues from the
# checkpoint. Then: python -m experiments.pretraining.ship_model runs/pretrain/chno_gfn1_full_efo
set -euo pipefail
POOL=${POOL:-data/pretraining/chno_gfn1_10000mol.h5}
ACAC=${ACAC:-experiments/pretraining/data/acac_gfn1_md.h5}
STEPS=${STEPS:-30000}
if [ ! -f "$POOL" ]; then  # from the committed chunks; SMILES: the CHNO set's pretrain_pool.txt
    : "${SMILES:?set SMILES=path/to/pretrain_pool.txt (the sampler checks it is the input of the job)}"
    python -m orbjax.sample "$SMILES" \
        experiments/pretraining/data/chno_gfn1_md.h5 --limit 10000 --collect "$POOL"
fi
if [ ! -f "$ACAC" ]; then  # the finished job re-merges its committed chunks
    python -m orbjax.sample data/learning_curves/acac_train.extxyz "$ACAC" \
        --temperatures 300,500,700,900 --frames 25 --interval 40 --chunk-size 10
fi
python -m orbjax.train --config configs/pretrain_gfn1.py --workdir runs/pretrain/chno_gfn1_full_efo \
    --config.data.train_path="$POOL" --config.data.extra_train_path="$ACAC" \
    --config.data.val_fraction=0.01 --config.data.test_fraction=0.01 \
    --config.train.num_steps="$STEPS"
