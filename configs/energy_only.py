"""Energy + forces only: the baseline the auxiliary targets are compared against."""

from orbjax.config import sibling_config


def get_config():
    config = sibling_config(__file__, "default")
    config.loss.weights.orbital_populations = 0.0
    config.model.heads = ()
    return config
