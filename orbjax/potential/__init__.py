"""A trained orbjax model as a potential: pure JAX functions and an ASE calculator.

Modules: `core` (loading, `Potential`), `dense` (the all-pairs graph), `neighbour_list`
(on-device cell list and the potential on it), `ase_calculator` (`OrbjaxCalculator`),
`jax_md` (the energy function jax-md takes), `dynamics` (jitted NVE/NVT/NPT MD; its
barostat in `barostat`). The public
API (`__all__`) is re-exported here, so `from orbjax.potential import ...` is the import to
use; private helpers are imported from their module. The pure functions, the calculator
and the jax-md function are thin layers: graphs,
checks and padding come from `orbjax.data` (`graphs.geometry_graph`, `structures.check_*`,
`batching.next_budget`/`round_up`), numbers from `orbjax.model.predict`, and the element
check (`UnknownElementError`) from `orbjax.model.statistics.check_elements`.

Three ways to evaluate the same `orbjax.model.predict.predict` (so what was trained is exactly
what runs):

* `Potential.energy_forces_stress(positions, atomic_numbers, cell, pbc)` — a pure function
  of arrays that can be `jax.jit`-ed, `jax.grad`-ed and `jax.vmap`-ed. It builds its
  neighbours inside JAX from *all* N² pairs times a static set of periodic images (pairs
  beyond the cutoff cost compute but contribute exactly zero: the model's envelope vanishes
  at and beyond the cutoff). Cost grows as N², so it is meant for small and medium systems
  and for batched (vmap) work.
* `Potential.neighbour_energy_forces_stress(positions, atomic_numbers, neighbours)` — the
  same numbers on an on-device neighbour list of static capacity (`Potential.neighbour_list`,
  module `neighbour_list`): memory O(N × capacity), an update cheap enough for every MD step
  inside `jit`, an overflow flag, and image shifts per edge for cells of any shape and size.
  This is what the jitted MD (`dynamics`, `python -m orbjax.md`) runs.
* `checked_energy_forces_stress(potential)` — the first, compiled with its element check
  inside (`checked`): under ``jax.jit(potential.energy_forces_stress)`` an element the model
  never saw gives NaN outputs, this one raises `UnknownElementError` instead.
* `load_committee(paths)` — M models of one architecture as one `Committee` (`committee`):
  stacked variables `vmap`ped through one compiled function; mean energy/forces/stress and
  their spread (σ_E per atom, σ_F per atom and its max); `CommitteeCalculator` for ASE.
* `OrbjaxCalculator` — an ASE calculator for molecular dynamics and optimisation: a numpy
  neighbour list, padded to budgets that grow geometrically (MD compiles once or twice, not
  every step), and a jitted `predict`.

Periodic images of the pure function. Pairs are taken at their minimum image (rounded
fractional separation) plus the images S with |S_k| ≤ m_k, m_k = floor(cutoff/h_k + 1/2) for
the face spacing h_k of the cell. A cell wider than 2·cutoff in every direction needs m = 0:
one image per pair. When `cell` and `pbc` are concrete (closed over, or unbatched under
vmap) the images are computed from them; when they are traced, `Potential.max_images` is
used (default (0, 0, 0): molecules and cells wider than 2·cutoff) and a cell that needs more
gives NaN outputs rather than a silently wrong answer.

Chunked edge loop. A potential's model runs each layer's edge loop in chunks of
`Potential.edge_chunk` edges (default `core.EDGE_CHUNK` = 4096; `load_potential(...,
edge_chunk=)`, `replace(edge_chunk=)`, 0 = the whole loop): same values, memory and time per
atom that stay flat for large systems (`orbjax.model.blocks.chunked_messages`).

Precision (float64). `load_potential(..., dtype="float64")` computes in float64. The pure
functions never change JAX's global configuration: call them with x64 enabled, e.g.
``with jax.enable_x64(True): potential.energy_forces_stress(...)``; they raise a clear error
otherwise. The calculator enables x64 itself, for its own calls only.

Units: positions and cell Å, energy eV, forces eV/Å, stress eV/Å³ (ASE sign convention:
(1/V) ∂E/∂ε, negative under compression).

Usage::

    pot = orbjax.load_potential("runs/x")
    out = pot.energy_forces_stress(x, numbers, cell, pbc)   # compiled internally on first call
    f = jax.jit(lambda x: pot.energy_forces_stress(x, numbers, cell, pbc))  # cell closed over
    batch = jax.vmap(pot.energy_forces_stress, in_axes=(0, None, None, None))(xs, numbers, cell,
        pbc)
    small_cells = jax.jit(pot.replace(max_images=1).energy_forces_stress)   # cell traced
    nbrs = pot.neighbour_list(cell, pbc).allocate(x)        # host; then inside jit:
    out = pot.neighbour_energy_forces_stress(x, numbers, nbrs.update(x))  # check nbrs.overflow
    atoms.calc = orbjax.OrbjaxCalculator(pot)
"""

from __future__ import annotations

from orbjax.model.statistics import UnknownElementError
from orbjax.potential.ase_calculator import CommitteeCalculator, OrbjaxCalculator
from orbjax.potential.checked import checked_energy_forces_stress
from orbjax.potential.committee import Committee, CommitteeError, load_committee
from orbjax.potential.core import Potential, load_potential
from orbjax.potential.dense import required_images
from orbjax.potential.jax_md import jax_md_energy_fn
from orbjax.potential.neighbour_list import NeighbourList, NeighbourListBuilder

# What a user calls or catches; helpers (dense.image_grid, core.DTYPES, ...) are imported
# from their modules.
__all__ = [
    "load_potential",
    "Potential",
    "OrbjaxCalculator",
    "load_committee",
    "Committee",
    "CommitteeError",
    "CommitteeCalculator",
    "jax_md_energy_fn",
    "checked_energy_forces_stress",
    "UnknownElementError",
    "required_images",
    "NeighbourList",
    "NeighbourListBuilder",
]
