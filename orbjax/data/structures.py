"""Structure records: what every reader produces and every later stage consumes.

A `Structure` is plain numpy (no JAX), validated when it is built so that bad input is
caught at the door with a message naming the structure, never deep inside the network.

Units: positions and cell in Å, energies in eV, forces in eV/Å, stress in eV/Å³ (ASE sign
convention: positive = tensile), charges and orbital populations in elementary charges,
dipoles in e·Å.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

MIN_DISTANCE = 0.1  # Å; closer atoms are rejected as overlapping
MAX_Z = 118

# Per-structure label keys and their expected trailing shape ("n" = n_atoms,
# "o" = n_orbitals, "s" = n_shells). Labels not listed here are kept but not checked.
LABEL_SHAPES: dict[str, tuple] = {
    "energy": (),  # eV, reference (e.g. DFT) total energy
    "forces": ("n", 3),  # eV/Å
    "stress": (3, 3),  # eV/Å³
    "dipole": (3,),  # e·Å
    "dft_charges": ("n",),  # e, atomic partial charges from the reference method
    "xtb_energy": (),  # eV
    "xtb_forces": ("n", 3),  # eV/Å
    "xtb_charges": ("n",),  # e, Mulliken atomic charges (Z_valence_ref − population)
    "xtb_spd_populations": ("n", 3),  # e, per-atom s, p, d shell-population sums
    "xtb_shell_populations": ("s",),  # e, per shell, tblite shell order
    "xtb_shell_l": ("s",),  # int, angular momentum of each shell
    "xtb_shell_atom": ("s",),  # int, atom index (0-based) of each shell
    "xtb_orbital_populations": ("o",),  # e, diag(P·S) per AO, tblite order
    "xtb_orbital_shell": ("o",),  # int, shell index of each AO
    "xtb_supercell_repeats": (3,),  # int, copies of the cell labelled (min_cell_length option)
}


class StructureError(ValueError):
    """Bad input: the message names the structure and the problem."""

    def __init__(self, name: str, problem: str):
        super().__init__(f"structure {name!r}: {problem}")
        self.name = name
        self.problem = problem


@dataclasses.dataclass
class Structure:
    """One molecule or periodic cell with its labels.

    Attributes:
      atomic_numbers: [n_atoms] int.
      positions: [n_atoms, 3] Å.
      cell: [3, 3] Å, rows are lattice vectors; zeros for a molecule.
      pbc: [3] bool.
      name: identifier used in every error message (e.g. ``"file.xyz:12"``).
      mol_id: molecule identity for molecule-disjoint splits (mol_id, SMILES or formula).
      charge: total charge in e.
      multiplicity: spin multiplicity 2S+1.
      labels: label name → numpy array (see `LABEL_SHAPES` for known keys and units).
      info: free-form metadata (strings, numbers) carried along.
    """

    atomic_numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((3, 3)))
    pbc: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(3, bool))
    name: str = "?"
    mol_id: str | None = None
    charge: float = 0.0
    multiplicity: int = 1
    labels: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.atomic_numbers = np.asarray(self.atomic_numbers, dtype=np.int64).reshape(-1)
        self.positions = np.asarray(self.positions, dtype=np.float64)
        self.cell = np.asarray(self.cell, dtype=np.float64).reshape(3, 3)
        self.pbc = np.broadcast_to(np.asarray(self.pbc, dtype=bool), (3,)).copy()
        self.labels = {k: np.asarray(v) for k, v in self.labels.items()}
        validate(self)

    @property
    def n_atoms(self) -> int:
        return len(self.atomic_numbers)

    @property
    def is_periodic(self) -> bool:
        return bool(self.pbc.any())

    def replace(self, **changes) -> "Structure":
        return dataclasses.replace(self, **changes)


def validate(s: Structure, min_distance: float = MIN_DISTANCE) -> None:
    """Raise `StructureError` naming `s` and the first problem found."""
    n = len(s.atomic_numbers)
    if n == 0:
        raise StructureError(s.name, "empty structure (no atoms)")
    if s.positions.shape != (n, 3):
        raise StructureError(s.name, f"positions have shape {s.positions.shape}, expected ({n}, 3)")
    bad_z = (s.atomic_numbers <= 0) | (s.atomic_numbers > MAX_Z)
    if bad_z.any():
        i = int(np.argmax(bad_z))
        raise StructureError(s.name, f"unknown element Z={s.atomic_numbers[i]} at atom {i}")
    _check_charge_and_spin(s)
    check_geometry(s.name, s.positions, s.cell, s.pbc)
    _check_min_distance(s, min_distance)
    for key, value in s.labels.items():
        _check_label(s, key, value, n)


def _check_charge_and_spin(s: Structure) -> None:
    """Reject what no method can compute: counted with all Z electrons, so only the
    impossible is caught here (parity and valence counts are method-specific, see xTB)."""
    if not np.isfinite(s.charge):
        raise StructureError(s.name, f"non-finite total charge {s.charge}")
    if not float(s.multiplicity).is_integer() or s.multiplicity < 1:
        raise StructureError(
            s.name, f"multiplicity {s.multiplicity} is not a positive integer (it is 2S+1)"
        )
    n_electrons = int(s.atomic_numbers.sum()) - s.charge
    if n_electrons < 0:
        raise StructureError(
            s.name,
            f"charge {s.charge:g} removes more electrons than the "
            f"{int(s.atomic_numbers.sum())} the atoms have",
        )
    if s.multiplicity - 1 > n_electrons:
        raise StructureError(
            s.name,
            f"multiplicity {s.multiplicity} needs {s.multiplicity - 1} unpaired electrons, "
            f"but charge {s.charge:g} leaves {n_electrons:g} electrons",
        )


def check_geometry(name: str, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray) -> None:
    """The cheap geometric checks (no neighbour list): atoms present, finite positions, a
    usable cell. Part of `validate`; the ASE calculator runs it on every step."""
    if len(positions) == 0:
        raise StructureError(name, "empty structure (no atoms)")
    if not np.isfinite(positions).all():
        i = int(np.argmax(~np.isfinite(positions).all(axis=1)))
        raise StructureError(name, f"non-finite (NaN/inf) position at atom {i}")
    check_cell(name, cell, pbc)


def check_contacts(
    name: str, positions, senders, receivers, shifts, min_distance: float = MIN_DISTANCE
) -> None:
    """Overlapping atoms, read off a neighbour list (edge vector positions[j] − positions[i] +
    shift) that the caller has anyway, e.g. the ASE calculator on every step."""
    if len(senders) == 0:
        return
    d = np.linalg.norm(positions[senders] - positions[receivers] + shifts, axis=1)
    k = int(np.argmin(d))
    if d[k] < min_distance:
        _overlap(name, int(receivers[k]), int(senders[k]), d[k], min_distance)


def _overlap(name, i, j, distance, min_distance):
    raise StructureError(
        name,
        f"atoms {i} and {j} are {distance:.3g} Å apart (< {min_distance} Å): overlapping atoms",
    )


def check_cell(name: str, cell: np.ndarray, pbc: np.ndarray) -> None:
    """Periodic directions need finite, linearly independent lattice vectors (slabs and wires
    may leave the open directions' vectors zero)."""
    pbc = np.asarray(pbc, bool)
    if not pbc.any():
        return
    cell = np.asarray(cell, np.float64).reshape(3, 3)
    if not np.isfinite(cell).all():
        raise StructureError(name, "non-finite cell")
    periodic = cell[pbc]
    lengths = np.linalg.norm(periodic, axis=1)
    if (
        lengths.min() < 1e-6
        or np.linalg.svd(periodic / lengths[:, None], compute_uv=False).min() < 1e-6
    ):
        raise StructureError(name, "periodic cell has zero volume (degenerate lattice vectors)")


def _check_min_distance(s: Structure, min_distance: float) -> None:
    from orbjax.data.neighbours import minimum_distance  # local: avoid import cycle

    dmin, (i, j) = minimum_distance(s.positions, s.cell, s.pbc)
    if dmin < min_distance:
        _overlap(s.name, i, j, dmin, min_distance)


def _check_label(s: Structure, key: str, value: np.ndarray, n: int) -> None:
    spec = LABEL_SHAPES.get(key)
    if spec is None:
        return
    if key.startswith("xtb_orbital"):
        n_dim = len(s.labels.get("xtb_orbital_populations", value))
    elif key.startswith("xtb_shell"):
        n_dim = len(s.labels.get("xtb_shell_populations", value))
    else:
        n_dim = None
    expected = tuple({"n": n, "o": n_dim, "s": n_dim}.get(d, d) for d in spec)
    if value.shape != expected:
        raise StructureError(s.name, f"label {key!r} has shape {value.shape}, expected {expected}")
