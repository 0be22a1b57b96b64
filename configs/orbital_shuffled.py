"""Control: the orbital model trained on per-orbital populations shuffled among atoms of the
same element (one fixed permutation of whole per-atom vectors per seed, training split only).
Same label statistics, no electronic information: what is left of any gain is multitask
regularisation, not chemistry (`orbjax/data/shuffle.py`)."""

from orbjax.config import sibling_config


def get_config():
    config = sibling_config(__file__, "orbital")
    config.data.shuffle_targets = "xtb_orbital_populations"
    return config
