"""Fine-tune a trained model (e.g. the shipped GFN1-pretrained `chno-gfn1`) on your DFT data.

    python -m orbjax.train --config configs/finetune.py --workdir runs/ft \
        --config.init.model=chno-gfn1 --config.data.train_path=my_dft.extxyz

Energy and forces only (what DFT data has). The architecture comes from the model file; the
reference energies are refitted on your data. The optimiser is that of training from scratch
(configs/energy_only.py) at a lower peak learning rate, 3×10⁻⁴: the rate experiments/pretraining
chose on validation (results/recipe_choice.json; at the scratch rate, 5×10⁻³, the pretrained
forces drift after the first validated step).
"""

from orbjax.config import sibling_config


def get_config():
    config = sibling_config(__file__, "energy_only")
    config.init.model = "chno-gfn1"
    config.optimizer.learning_rate = 3e-4
    config.train.num_steps = 2000
    config.train.eval_every = 250
    config.train.checkpoint_every = 250
    return config
