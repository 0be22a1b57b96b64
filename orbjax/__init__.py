"""orbjax: JAX/Flax interatomic potentials trained with GFN1-xTB orbital charges.

Public face::

    import orbjax
    potential = orbjax.load_potential("runs/x")            # jit/grad/vmap-able functions
    potential = orbjax.load_potential("model.orbjax")      # the same from a one-file model
    atoms.calc = orbjax.OrbjaxCalculator(potential)         # ASE molecular dynamics

`load_potential` and `OrbjaxCalculator` are imported lazily, so `import orbjax.data` does not
pull in the model code.
"""
from __future__ import annotations

from orbjax.runtime import configure_process as _configure_process

_configure_process()  # before JAX starts: XLA:CPU flags and malloc settings (orbjax/runtime.py)

from orbjax._version import __version__

__all__ = ["load_potential", "Potential", "OrbjaxCalculator", "__version__"]


def __getattr__(name: str):
    if name in ("load_potential", "Potential", "OrbjaxCalculator"):
        from orbjax import potential

        return getattr(potential, name)
    raise AttributeError(f"module 'orbjax' has no attribute {name!r}")
