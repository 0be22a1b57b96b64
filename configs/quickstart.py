"""Quick start: the bundled 39-structure CHNO example (ωB97X/6-31G(d) energies and forces)
labelled with GFN1-xTB orbital populations, a small model, a few minutes on 2 CPU cores."""
from orbjax.config import sibling_config


def get_config():
    config = sibling_config(__file__, "test")
    config.data.train_path = "runs/quickstart/example_gfn1.h5"  # written by `python -m orbjax.label`
    config.data.val_fraction = 0.2
    config.loss.weights.orbital_populations = 100.0
    config.train.num_steps = 150
    config.train.eval_every = 50
    config.train.checkpoint_every = 50
    config.train.progress_bar = True
    return config
