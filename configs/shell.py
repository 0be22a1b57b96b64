"""Energy + forces + GFN1-xTB s/p/d shell-population sums (rotation-invariant targets)."""

from orbjax.config import sibling_config


def get_config():
    config = sibling_config(__file__, "default")
    config.loss.weights.orbital_populations = 0.0
    config.model.heads = ("spd_populations",)
    config.loss.weights.spd_populations = 100.0
    return config
