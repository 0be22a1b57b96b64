"""Energy + forces + DFT atomic charges (e.g. Mulliken/Hirshfeld/CM5 from the reference method).

The charge key comes from the key preset (chno: dft_mulliken_charges); change it with
--config.data.key_overrides.dft_charges=dft_lowdin_charges."""

from orbjax.config import sibling_config


def get_config():
    config = sibling_config(__file__, "default")
    config.loss.weights.orbital_populations = 0.0
    config.model.heads = ("dft_charges",)
    config.loss.weights.dft_charges = 100.0
    return config
