"""The energy function jax-md integrators take: `energy(positions, **kwargs) -> [] eV`."""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
import numpy as np

from orbjax.data.lattice import cell_and_pbc
from orbjax.potential.dense import _key, dense_energy_jit
from orbjax.potential.neighbour_list import NeighbourList, neighbour_energy


def jax_md_energy_fn(potential, atomic_numbers, cell=None, pbc=None) -> Callable[..., jnp.ndarray]:
    """`energy(positions, **kwargs) -> [] eV` for jax-md (positions in Cartesian Å).

    Elements and periodic images are checked and fixed here, once. Forces are
    `-jax.grad(energy)`. With ``neighbor=nbrs`` (an orbjax `NeighbourList` from
    `potential.neighbour_list(cell, pbc).allocate(positions)`, kept up to date with
    `nbrs.update(positions)`) the energy is computed on the list: memory O(n × capacity);
    without it (or ``neighbor=None``) on all pairs (`dense`). The energy is the network's part plus
    Σ E0, a constant in JAX's default float (float32 unless x64 is enabled). `box`/`perturbation`
    (NPT) are not supported. A jax-md `NeighborList` is refused: it has no image shifts.
    """
    atomic_numbers = np.asarray(atomic_numbers, np.int32)
    potential.check_elements(atomic_numbers)
    reference = potential.reference_energy(atomic_numbers)  # Σ E0, a constant: no force
    n = len(atomic_numbers)
    cell, pbc = cell_and_pbc(cell, pbc)
    images = _key(potential.images(cell, pbc))

    def energy(positions, **kwargs):
        if "box" in kwargs or "perturbation" in kwargs:
            raise NotImplementedError(
                "orbjax energy functions take a fixed cell; NPT (box=...) is not supported"
            )
        potential._require_precision()
        positions = jnp.asarray(positions, potential.dtype).reshape(n, 3)
        neighbor = kwargs.get("neighbor")
        if neighbor is not None:
            if not isinstance(neighbor, NeighbourList):
                raise TypeError(
                    f"neighbor must be an orbjax NeighbourList (potential.neighbour_list(cell, pbc)"
                    f".allocate(positions)), not {type(neighbor).__name__}: jax-md's lists store "
                    "no periodic image shifts"
                )
            if (
                neighbor.builder.cell_array().tolist() != cell.tolist()
                or neighbor.builder.pbc != tuple(pbc)
            ):
                raise ValueError(
                    "neighbor was built for another cell or pbc than this energy function's"
                )
            return reference + neighbour_energy(
                potential.model,
                potential.variables,
                positions,
                atomic_numbers,
                neighbor,
                level=potential.level,
            )
        return reference + dense_energy_jit(
            potential.model,
            potential.variables,
            positions,
            atomic_numbers,
            jnp.asarray(cell, potential.dtype),
            pbc,
            images=images,
            level=potential.level,
        )

    return energy
