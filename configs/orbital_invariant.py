"""Per-orbital populations through an invariant (scalars-only) head: the paper's baseline head.

It can only learn each shell's rotational average; see tests/model/test_symmetries.py."""

from orbjax.config import sibling_config


def get_config():
    config = sibling_config(__file__, "default")
    config.loss.weights.orbital_populations = 100.0
    config.model.heads = ("orbital_populations",)
    config.model.orbital_head = "invariant"
    return config
