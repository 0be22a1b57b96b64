"""`OrbjaxCalculator`: the ASE calculator (numpy neighbour list, padding ladder, jitted `predict`)."""
from __future__ import annotations

import jax
import jraph
import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from orbjax.data.batching import PaddingBudget, pad_batch
from orbjax.data.neighbours import neighbour_list
from orbjax.data.structures import MIN_DISTANCE, StructureError, check_cell
from orbjax.potential.core import Potential, load_potential


class OrbjaxCalculator(Calculator):
    """ASE calculator: numpy neighbour list, geometrically growing padding, jitted `predict`.

    Stress (ASE Voigt order xx, yy, zz, yz, xz, xy; eV/Å³) is computed only for periodic
    atoms. `n_compilations` counts XLA compilations (one per padding budget and stress flag)
    of the potential's graph function, which all calculators of one `Potential` share.

    Args:
      potential: a `Potential`, a model file or a training workdir.
      which, dtype: passed to `load_potential` when `potential` is a workdir.
      headroom: the edge budget is at least `headroom` × the edges needed when it grows.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, potential, which: str = "best", dtype=None, headroom: float = 1.1, **kwargs):
        super().__init__(**kwargs)
        self.potential = potential if isinstance(potential, Potential) else load_potential(potential, which, dtype)
        self.headroom = headroom
        self.budget: PaddingBudget | None = None

    @property
    def n_compilations(self) -> int:
        return self.potential._jitted_predict._cache_size()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms, pot = self.atoms, self.potential
        pot.check_elements(atoms.numbers)
        periodic = bool(atoms.pbc.any())
        graph = self._padded_graph(atoms)
        with pot.precision():
            out = jax.device_get(pot._jitted_predict(pot.params, _cast(graph, pot.dtype), periodic))
        energy = float(out["energy"][0])
        self.results = {"energy": energy, "free_energy": energy,
                        "forces": np.asarray(out["forces"][: len(atoms)], np.float64)}
        if periodic:
            self.results["stress"] = full_3x3_to_voigt_6_stress(np.asarray(out["stress"][0], np.float64))

    def _padded_graph(self, atoms) -> jraph.GraphsTuple:
        positions = np.asarray(atoms.positions, np.float64)
        cell = np.asarray(atoms.cell.array, np.float64)
        name = atoms.get_chemical_formula() or "empty"
        _check_geometry(name, positions, cell, atoms.pbc)
        senders, receivers, shifts = neighbour_list(positions, cell, atoms.pbc, self.potential.cutoff)
        _check_contacts(name, positions, senders, receivers, shifts)
        graph = jraph.GraphsTuple(
            nodes={"positions": positions, "atomic_numbers": np.asarray(atoms.numbers, np.int32)},
            edges={"shifts": shifts}, globals={"cell": cell[None], "total_charge": np.zeros(1)},
            senders=senders, receivers=receivers,
            n_node=np.array([len(atoms)], np.int32), n_edge=np.array([len(senders)], np.int32))
        self.budget = next_budget(self.budget, len(atoms), len(senders), self.headroom)
        return pad_batch([graph], self.budget)


def _check_geometry(name, positions, cell, pbc) -> None:
    """The cheap part of `Structure` validation, on every MD step (no extra neighbour list)."""
    if len(positions) == 0:
        raise StructureError(name, "empty structure (no atoms)")
    if not np.isfinite(positions).all():
        i = int(np.argmax(~np.isfinite(positions).all(axis=1)))
        raise StructureError(name, f"non-finite (NaN/inf) position at atom {i}")
    check_cell(name, cell, pbc)


def _check_contacts(name, positions, senders, receivers, shifts) -> None:
    """Overlapping atoms, read off the neighbour list the step needs anyway."""
    if len(senders) == 0:
        return
    d = np.linalg.norm(positions[senders] - positions[receivers] + shifts, axis=1)
    k = int(np.argmin(d))
    if d[k] < MIN_DISTANCE:
        raise StructureError(name, f"atoms {receivers[k]} and {senders[k]} are {d[k]:.3g} Å apart "
                                   f"(< {MIN_DISTANCE} Å): overlapping atoms")


def next_budget(current: PaddingBudget | None, n_node: int, n_edge: int, headroom: float = 1.1) -> PaddingBudget:
    """Keep `current` while it holds the graph and is not 4× too large; else a new budget of
    `headroom` × what is needed, rounded up to a size on the ladder 2^k × {1, 1.25, 1.5, 1.75}
    (at most 25 % more), so a drifting edge count recompiles rarely and padded edges, whose
    cost is that of real ones, stay below ~1.2× (it was ~1.5× with a 2^k, 1.5·2^k ladder)."""
    if current is not None and current.fits(n_node, n_edge, 1) and current.n_node <= 4 * (n_node + 1) \
            and current.n_edge <= 4 * max(n_edge, 16):
        return current
    return PaddingBudget(_bucket(n_node + 1), _bucket(headroom * n_edge), 2)


def _bucket(x: float, smallest: int = 16) -> int:
    """Smallest size 2^k × {1, 1.25, 1.5, 1.75} ≥ x (and ≥ `smallest`, a power of two)."""
    power = smallest
    while 2 * power <= x:
        power *= 2
    for quarter in (4, 5, 6, 7, 8):
        if power * quarter // 4 >= x:
            return int(power * quarter // 4)
    raise AssertionError("unreachable")



def _cast(graph, dtype):
    """Floats of a numpy graph in the compute dtype (numpy: jit moves it in one transfer)."""
    return jax.tree.map(lambda x: x.astype(dtype) if np.issubdtype(x.dtype, np.floating) else x, graph)

