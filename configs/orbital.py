"""Energy + forces + GFN1-xTB per-orbital (m-resolved) populations, equivariant head (the paper's
model)."""

from orbjax.config import sibling_config


def get_config():
    config = sibling_config(__file__, "default")
    config.loss.weights.orbital_populations = 100.0
    config.model.heads = ("orbital_populations",)
    config.model.orbital_head = "equivariant"
    return config
