"""Fine-tune a trained model (e.g. the shipped GFN1-pretrained `chno-gfn1`) on your DFT data.

    python -m orbjax.train --config configs/finetune.py --workdir runs/ft \
        --config.init.model=chno-gfn1 --config.data.train_path=my_dft.extxyz

Energy and forces only (what DFT data has). The architecture comes from the model file; the
reference energies are refitted on your data; a lower learning rate than from scratch and a
short warm-up keep the pretrained weights from being thrown away in the first steps.
"""
from orbjax.config import sibling_config


def get_config():
    config = sibling_config(__file__, "energy_only")
    config.init.model = "chno-gfn1"
    config.optimizer.learning_rate = 2e-3
    config.optimizer.warmup_steps = 50
    config.train.num_steps = 2000
    config.train.eval_every = 250
    config.train.checkpoint_every = 250
    return config
