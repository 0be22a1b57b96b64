"""Fine-tune a trained model (e.g. the shipped GFN1-pretrained `chno-gfn1`) on your DFT data.

    python -m orbjax.train --config configs/finetune.py --workdir runs/ft \
        --config.init.model=chno-gfn1 --config.data.train_path=my_dft.extxyz

Energy and forces only (what DFT data has). The architecture comes from the model file; the
reference energies are refitted on your data. The optimiser is that of training from scratch
(configs/energy_only.py), the recipe experiments/pretraining measured.
"""

from orbjax.config import sibling_config


def get_config():
    config = sibling_config(__file__, "energy_only")
    config.init.model = "chno-gfn1"
    config.train.num_steps = 2000
    config.train.eval_every = 250
    config.train.checkpoint_every = 250
    return config
