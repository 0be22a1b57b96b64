"""Pretraining on cheap GFN1-xTB data: energy, forces and per-orbital populations of GFN1 MD
frames (`python -m orbjax.sample`), the start for fine-tuning on DFT (`configs/finetune.py`).

    python -m orbjax.train --config configs/pretrain_gfn1.py --workdir runs/pretrain \
        --config.data.train_path=data/pretraining/chno_gfn1.h5

The model's level of theory is "gfn1" (from data.energy_key); fine-tuning adds the DFT level.
"""

from orbjax.config import sibling_config


def get_config():
    config = sibling_config(__file__, "default")
    config.data.train_path = "data/pretraining/chno_gfn1.h5"
    config.data.key_preset = "default"
    config.data.energy_key = "xtb_energy"
    config.data.forces_key = "xtb_forces"
    config.data.val_fraction = 0.05
    config.data.test_fraction = 0.05
    config.data.split_seed = 0
    config.loss.weights.orbital_populations = 100.0
    config.model.heads = ("orbital_populations",)
    config.train.num_steps = 20000
    config.train.eval_every = 1000
    config.train.checkpoint_every = 1000
    config.train.log_every = 200
    config.train.progress_bar = False
    return config
