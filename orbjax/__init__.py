"""orbjax: JAX/Flax interatomic potentials trained with GFN1-xTB orbital charges.

Public face::

    import orbjax
    potential = orbjax.load_potential("runs/x")            # jit/grad/vmap-able functions
    potential = orbjax.load_potential("model.orbjax")      # the same from a one-file model
    atoms.calc = orbjax.OrbjaxCalculator(potential)         # ASE molecular dynamics
    committee = orbjax.load_committee(["m0.orbjax", "m1.orbjax", "m2.orbjax", "m3.orbjax"])
    atoms.calc = orbjax.CommitteeCalculator(committee)      # + results["max_force_std"], ...

`load_potential`, `load_committee` and the calculators are imported lazily, so `import orbjax.data`
does not pull in the model code. Importing orbjax changes no process-wide setting; on CPUs call
`orbjax.runtime.tune_cpu()` before using JAX for the speed the command lines get
(orbjax/runtime.py).
"""

from __future__ import annotations

from orbjax._version import __version__

__all__ = [
    "load_potential",
    "load_pretrained",
    "Potential",
    "OrbjaxCalculator",
    "load_committee",
    "Committee",
    "CommitteeCalculator",
    "__version__",
]
_LAZY = (
    "load_potential",
    "Potential",
    "OrbjaxCalculator",
    "load_committee",
    "Committee",
    "CommitteeCalculator",
)


def load_pretrained(name: str, **kwargs):
    """A model shipped with orbjax (e.g. "chno-gfn1", `orbjax.pretrained.available()`) as a
    `Potential`; keyword arguments as for `load_potential`."""
    from orbjax import pretrained
    from orbjax.potential import load_potential

    return load_potential(pretrained.model_path(name), **kwargs)


def __getattr__(name: str):
    if name in _LAZY:
        from orbjax import potential

        return getattr(potential, name)
    raise AttributeError(f"module 'orbjax' has no attribute {name!r}")
