#!/usr/bin/env bash
# The pretraining-size curve: the decisive arm's pretraining (energy + forces + per-orbital
# populations, GFN1) on nested pool-only subsets of the sampled CHNO molecules, the first
# 5,000 and 10,000 of the job's fixed order (24,500 and 49,000 training frames; the
# 9,900-frame model of pretrain_v1.sh is the first 1,980). 1 % of the molecules validate,
# 1 % are held out; 20,000 steps each, one seed. Resumable: re-running continues from the
# checkpoints. Then the `size` sweep of configs/sweeps/pretraining.py fine-tunes them.
set -euo pipefail
JOB=experiments/pretraining/data/chno_gfn1_md.h5
STEPS=${STEPS:-20000}
for MOLS in 5000 10000; do
    DATA=data/pretraining/chno_gfn1_${MOLS}mol.h5
    if [ ! -f "$DATA" ]; then  # from the committed chunks; SMILES: the CHNO pretrain_pool.txt
        : "${SMILES:?set SMILES=path/to/pretrain_pool.txt (the sampler checks it is the job input)}"
        python -m orbjax.sample "$SMILES" "$JOB" --limit "$MOLS" --collect "$DATA"
    fi
    WORKDIR=runs/pretrain/chno_gfn1_${MOLS}mol_efo
    python -m orbjax.train --config configs/pretrain_gfn1.py --workdir "$WORKDIR" \
        --config.data.train_path="$DATA" \
        --config.data.val_fraction=0.01 --config.data.test_fraction=0.01 \
        --config.train.num_steps="$STEPS"
    mkdir -p experiments/pretraining/models/pretrained
    cp "$WORKDIR/model.orbjax" "experiments/pretraining/models/pretrained/chno_gfn1_${MOLS}mol_efo.orbjax"
done
