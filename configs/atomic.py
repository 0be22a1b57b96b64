"""Energy + forces + GFN1-xTB Mulliken atomic charges."""

from orbjax.config import sibling_config


def get_config():
    config = sibling_config(__file__, "default")
    config.loss.weights.orbital_populations = 0.0
    config.model.heads = ("atomic_charges",)
    config.loss.weights.atomic_charges = 100.0
    return config
