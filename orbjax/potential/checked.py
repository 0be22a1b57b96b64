"""Unknown elements under `jit`: the pure function, checked inside the compiled code.

`Potential.energy_forces_stress` checks the elements in Python when `atomic_numbers` is
concrete (a plain call, or numbers closed over by the jitted function) and raises
`UnknownElementError`. Under ``jax.jit(potential.energy_forces_stress)`` the numbers are
traced: Python never sees them, the model cannot raise, and the function returns NaN energy,
forces and stress for a structure holding an element it never saw (never a finite wrong
number). `checked_energy_forces_stress` puts the element check into the compiled function
(`jax.experimental.checkify`) and raises on the host after the call instead.
"""

from __future__ import annotations

import re
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from orbjax.model.statistics import UnknownElementError, element_names

_FAILED = re.compile(r" \(`check` failed[^)]*\)$")  # checkify's suffix, not the user's message


def checked_energy_forces_stress(potential, jit: bool = True) -> Callable[..., dict]:
    """`potential.energy_forces_stress`, compiled once per shape with its inputs traced, that
    raises `UnknownElementError` for an element the model never saw and `FloatingPointError`
    for a non-finite energy (NaN positions, or a traced cell needing more than `max_images`).

    Args:
      potential: a `Potential` (`orbjax.load_potential`).
      jit: compile the checked function (False: run it op by op, e.g. inside your own jit,
        where checkify must then wrap the outer function).
    Returns:
      f(positions, atomic_numbers, cell=None, pbc=None) -> dict(energy, forces, stress), the
      same numbers as `potential.energy_forces_stress`.
    """
    table = np.asarray(potential.statistics.z_to_species())  # [119], -1 for unknown elements
    trained = element_names(potential.statistics.species)

    def efs(positions, atomic_numbers, cell=None, pbc=None):
        z = jnp.asarray(atomic_numbers)
        inside = (z >= 0) & (z < len(table))
        known = inside & (jnp.asarray(table)[jnp.clip(z, 0, len(table) - 1)] >= 0)
        checkify.check(
            jnp.all(known),
            f"element Z={{z}} (atom {{i}}) is unknown to this model, which was trained "
            f"on {trained} only",
            z=z[jnp.argmin(known)],
            i=jnp.argmin(known),
        )
        out = potential.energy_forces_stress(positions, atomic_numbers, cell, pbc)
        checkify.check(
            jnp.all(known) <= jnp.isfinite(out["energy"]),
            "non-finite energy: NaN or infinite positions, or a traced cell that needs more "
            "periodic "
            "images than the potential's max_images (potential.replace(max_images=...))",
        )
        return out

    checked = checkify.checkify(efs)
    if jit:
        checked = jax.jit(checked)

    def call(positions, atomic_numbers, cell=None, pbc=None) -> dict:
        err, out = checked(positions, atomic_numbers, cell, pbc)
        message = err.get()
        if message is not None:
            message = _FAILED.sub("", message)
            raise (UnknownElementError if message.startswith("element") else FloatingPointError)(
                message
            )
        return out

    return call
