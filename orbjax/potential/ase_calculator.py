"""`OrbjaxCalculator` (and `CommitteeCalculator`): the ASE calculator, a thin layer over
`orbjax.data.graphs.potential_graph`
(checks, neighbour list, graph, padding ladder `next_budget`) and the potential's jitted
`predict`."""

from __future__ import annotations

import jax
import jraph
import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from orbjax.data.batching import PaddingBudget
from orbjax.data.graphs import potential_graph
from orbjax.potential.committee import Committee, committee_predict_jit, load_committee
from orbjax.potential.core import Potential, _cast, load_potential, predict_jit

# What the committee calculator reports beyond energy, forces and stress: spreads (calibrated
# when the committee has a scale, raw as `*_raw`) and each member's energy.
COMMITTEE_RESULTS = (
    "energy_std_per_atom",
    "forces_std",
    "max_force_std",
    "energies",
    "energy_std_per_atom_raw",
    "forces_std_raw",
    "max_force_std_raw",
)


class OrbjaxCalculator(Calculator):
    """ASE calculator: numpy neighbour list, geometrically growing padding, jitted `predict`.

    Stress (ASE Voigt order xx, yy, zz, yz, xz, xy; eV/Å³) is computed only for periodic
    atoms. The energy is the network's part plus Σ E0 added in float64 on the host.
    `n_compilations` counts XLA compilations (one per padding budget and stress flag) of the
    graph function, which all calculators and all potentials of the process share.

    Args:
      potential: a `Potential`, a model file or a training workdir.
      which, dtype: passed to `load_potential` when `potential` is a workdir.
      level: the level of theory to predict (e.g. "gfn1") when `potential` is a path;
        None: the model's default.
      headroom: the edge budget is at least `headroom` × the edges needed when it grows.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(
        self,
        potential,
        which: str = "best",
        dtype=None,
        headroom: float = 1.1,
        level: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(potential, Potential) and level is not None:
            raise ValueError("level= is for a model path; a Potential already has its level")
        self.potential = (
            potential
            if isinstance(potential, Potential)
            else load_potential(potential, which, dtype, level=level)
        )
        self.headroom = headroom
        self.budget: PaddingBudget | None = None

    @property
    def n_compilations(self) -> int:
        return predict_jit._cache_size()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms, pot = self.atoms, self.potential
        pot.check_elements(atoms.numbers, atoms.get_chemical_formula() or "empty")
        periodic = bool(atoms.pbc.any())
        graph = self._padded_graph(atoms)
        with pot.precision():
            out = jax.device_get(pot.predict_graph(_cast(graph, pot.dtype), periodic))
        energy = float(np.float64(out["network_energy"][0]) + pot.reference_energy(atoms.numbers))
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": np.asarray(out["forces"][: len(atoms)], np.float64),
        }
        if periodic:
            self.results["stress"] = full_3x3_to_voigt_6_stress(
                np.asarray(out["stress"][0], np.float64)
            )

    def _padded_graph(self, atoms) -> jraph.GraphsTuple:
        graph, self.budget = potential_graph(
            atoms.get_chemical_formula() or "empty",
            atoms.positions,
            atoms.numbers,
            atoms.cell.array,
            atoms.pbc,
            self.potential.cutoff,
            self.budget,
            self.headroom,
        )
        return graph


class CommitteeCalculator(OrbjaxCalculator):
    """ASE calculator of a `Committee`: the members' mean energy (eV), forces (eV/Å) and
    stress (eV/Å³, periodic only), and in `results` the spread: ``energy_std_per_atom``
    (eV/atom), ``forces_std`` [n] (eV/Å), ``max_force_std`` (eV/Å), ``energies`` [M] (eV);
    with a calibrated committee those spreads are scaled and ``*_raw`` hold the raw ones.
    All members in one vmapped compiled call on one padded graph.

    Args:
      committee: a `Committee` or a list of model files / workdirs (`load_committee`).
      which, dtype, headroom: as for `OrbjaxCalculator`.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress", *COMMITTEE_RESULTS]

    def __init__(
        self,
        committee,
        which: str = "best",
        dtype=None,
        headroom: float = 1.1,
        level: str | None = None,
        **kwargs,
    ):
        Calculator.__init__(self, **kwargs)
        if isinstance(committee, Committee) and level is not None:
            raise ValueError("level= is for model paths; a Committee already has its level")
        self.potential = (
            committee
            if isinstance(committee, Committee)
            else load_committee(committee, which, dtype, level=level)
        )
        self.headroom = headroom
        self.budget = None

    @property
    def n_compilations(self) -> int:
        return committee_predict_jit._cache_size()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        Calculator.calculate(self, atoms, properties, system_changes)
        atoms, com = self.atoms, self.potential
        com.check_elements(atoms.numbers, atoms.get_chemical_formula() or "empty")
        periodic = bool(atoms.pbc.any())
        graph = self._padded_graph(atoms)
        with com.precision():
            out = jax.device_get(com.predict_graph(_cast(graph, com.dtype), periodic))
        n = len(atoms)
        result = com.combine(
            out["network_energy"][:, 0],
            out["forces"][:, :n],
            out["stress"][:, 0] if periodic else None,
            atoms.numbers,
        )
        self.results = {
            "energy": result["energy"],
            "free_energy": result["energy"],
            "forces": result["forces"],
            **{k: result[k] for k in COMMITTEE_RESULTS},
        }
        if periodic:
            self.results["stress"] = full_3x3_to_voigt_6_stress(result["stress"])
