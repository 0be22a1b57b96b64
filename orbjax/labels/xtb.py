"""GFN1-xTB labels for one structure: energy, forces, charges and orbital populations.

Everything goes through tblite (positions in Bohr, results in Hartree) and comes back in
orbjax units: eV, eV/Å, elementary charges.

Orbital populations are Mulliken gross populations, diag(P·S), one per atomic orbital in
tblite's order (see `orbjax.orbitals`). Their per-atom sums obey the sum rule

    charge_A = Z_ref,A − Σ_{μ∈A} (P·S)_μμ

where Z_ref is the neutral valence electron count of the element (`REFERENCE_VALENCE`,
the sum of tblite's reference shell occupations, read from single-atom tblite runs).

Periodic cells: tblite is a Γ-point code. Its "overlap-matrix" and "density-matrix" are the
Γ-point (lattice-summed) matrices, S_μν = Σ_T ⟨μ(0)|ν(T)⟩ over all lattice translations T
within the integral cutoff, so for small cells an orbital overlaps its own images and the
diagonal of S exceeds 1 (7.3 for the s shell of one-atom fcc Cu). The sum rule still holds
exactly, because tblite computes its Mulliken charges from the same Γ-point P and S.

tblite is imported inside the functions: worker processes must set OMP_NUM_THREADS before
the OpenMP runtime inside tblite loads (see `orbjax.labels.runner`).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from orbjax.data.lattice import plane_spacing
from orbjax.data.structures import Structure, StructureError, validate
from orbjax.orbitals import GFN1_SHELLS, MAX_Z_GFN1
from orbjax.units import BOHR, HARTREE, HARTREE_PER_BOHR

METHODS = ("GFN1-xTB", "GFN2-xTB")

# Neutral valence electron count per element (index = Z), identical for GFN1 and GFN2 in
# tblite 0.8: main group = group electrons, d block = group number (Cu 11, Zn 2),
# lanthanides 3 (4f in the core). Checked against tblite in tests/labels/test_xtb.py.
REFERENCE_VALENCE = np.array(
    [0, 1, 2]
    + list(range(1, 9)) * 2  # Li–Ne, Na–Ar
    + list(range(1, 12))
    + list(range(2, 9))  # K–Cu, Zn–Kr
    + list(range(1, 12))
    + list(range(2, 9))  # Rb–Ag, Cd–Xe
    + [1, 2]
    + [3] * 15
    + list(range(4, 12))
    + list(range(2, 9)),  # Cs, Ba, La–Lu, Hf–Au, Hg–Rn
    dtype=np.int64,
)

# SCF retries after "SCF not converged": (mixer damping, max iterations) per extra attempt.
DEFAULT_RETRIES: tuple[tuple[float, int], ...] = ((0.2, 500), (0.05, 1000))

# Electronic temperature (Fermi smearing of the occupations). tblite's default is 300 K
# (its documentation rounds it to 9.5e-4 Hartree; 300 K × k_B reproduces the default energy
# exactly, 9.5e-4 Hartree does not: tests/labels/test_xtb.py). `electronic_temperature=None`
# leaves it untouched, so labels made before this option existed are reproduced exactly. A
# value in kelvin is passed to tblite in Hartree (k_B below, the factor tblite documents).
BOLTZMANN_HARTREE_PER_KELVIN = 3.166808578545117e-6
TBLITE_DEFAULT_TEMPERATURE_K = 300.0


def check_electronic_temperature(kelvin: float | None) -> float | None:
    """`kelvin` as a float, or None (tblite's default); ValueError unless finite and > 0."""
    if kelvin is None:
        return None
    value = float(kelvin)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(
            f"electronic temperature must be a positive number of kelvin, not {kelvin!r}"
        )
    return value


@dataclasses.dataclass
class XtbResult:
    """Raw tblite single point, atomic units, tblite orbital order.

    Attributes:
      energy: Hartree.
      gradient: [n_atoms, 3] Hartree/Bohr.
      charges: [n_atoms] e, tblite Mulliken charges.
      shell_l: [n_shells] angular momentum of each shell.
      shell_atom: [n_shells] atom of each shell.
      orbital_shell: [n_orbitals] shell of each AO.
      density: [n_orbitals, n_orbitals] Γ-point density matrix P (α+β), or None.
      overlap: [n_orbitals, n_orbitals] Γ-point overlap matrix S, or None.
    """

    energy: float
    gradient: np.ndarray
    charges: np.ndarray
    shell_l: np.ndarray
    shell_atom: np.ndarray
    orbital_shell: np.ndarray
    density: np.ndarray | None = None
    overlap: np.ndarray | None = None


def label_structure(
    structure: Structure,
    method: str = "GFN1-xTB",
    orbitals: bool = True,
    max_iter: int = 250,
    retries: Sequence[tuple[float, int]] = DEFAULT_RETRIES,
    electronic_temperature: float | None = None,
    min_cell_length: float | None = None,
) -> dict[str, np.ndarray]:
    """xTB labels of one structure (eV, eV/Å, e).

    Returns ``xtb_energy``, ``xtb_forces`` and (GFN1 only) ``xtb_charges``; with
    ``orbitals=True`` also ``xtb_orbital_populations``, ``xtb_orbital_shell``,
    ``xtb_shell_populations``, ``xtb_shell_l``, ``xtb_shell_atom``, ``xtb_spd_populations``.

    ``electronic_temperature`` (kelvin) sets the Fermi smearing of the occupations; None
    keeps tblite's default (300 K).

    ``min_cell_length`` (Å): tblite samples only the Γ point, so a small cell (2-atom bcc,
    3.2 Å) is one k-point of the crystal and gives populations of an isolated-atom-like
    d⁵s¹ metal and energies eV/atom away from those of larger cells
    (experiments/metals/RESULTS.md). With this option a periodic cell is repeated along each
    periodic direction until the distance between opposite faces is ≥ min_cell_length, the
    supercell is labelled, and the labels are folded back onto the cell: energy / number of
    copies, per-atom, per-shell and per-orbital labels averaged over the copies (equal by
    translation symmetry). ``xtb_supercell_repeats`` [3] records the repeats used. None
    (default): the cell as given.

    Raises:
      StructureError: unsupported element, bad geometry, impossible charge/multiplicity,
        SCF not converged after all retries, or any tblite error (message kept).
      ValueError: orbitals requested for a method other than GFN1-xTB, or a temperature
        that is not a positive number.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if orbitals and method != "GFN1-xTB":
        raise ValueError(
            f"orbital populations are GFN1-xTB labels; use orbitals=False with {method}"
        )
    if min_cell_length is not None:
        repeats = supercell_repeats(structure, min_cell_length)
        if repeats != (1, 1, 1):
            big = label_structure(
                supercell(structure, repeats),
                method,
                orbitals,
                max_iter,
                retries,
                electronic_temperature,
            )
            return {
                **fold_supercell_labels(big, structure, repeats),
                "xtb_supercell_repeats": np.array(repeats),
            }
    res = run_xtb(
        structure,
        method,
        save_integrals=orbitals,
        max_iter=max_iter,
        retries=retries,
        electronic_temperature=electronic_temperature,
    )
    labels = labels_of(res, structure, method, orbitals)
    if min_cell_length is not None:
        labels["xtb_supercell_repeats"] = np.array([1, 1, 1])
    return labels


def labels_of(
    res: XtbResult, structure: Structure, method: str = "GFN1-xTB", orbitals: bool = True
) -> dict[str, np.ndarray]:
    """The labels of one single point (eV, eV/Å, e): energy, forces, GFN1 charges and, with
    `orbitals`, the populations (`orbital_labels`)."""
    labels = {
        "xtb_energy": np.asarray(res.energy * HARTREE),
        "xtb_forces": -res.gradient * HARTREE_PER_BOHR,
    }
    if method == "GFN1-xTB":
        labels["xtb_charges"] = res.charges.copy()
    if orbitals:
        labels.update(orbital_labels(res, structure))
    return labels


def supercell_repeats(s: Structure, min_cell_length: float) -> tuple[int, int, int]:
    """Copies of the cell along each lattice vector so that every periodic direction is at
    least `min_cell_length` Å wide (distance between opposite faces); 1 along non-periodic
    directions and for molecules."""
    length = float(min_cell_length)
    if not np.isfinite(length) or length <= 0:
        raise ValueError(f"min_cell_length must be a positive number of Å, not {min_cell_length!r}")
    if not s.is_periodic:
        return (1, 1, 1)
    width = plane_spacing(np.asarray(s.cell, float), np.asarray(s.pbc, bool), np)
    return tuple(
        max(1, int(np.ceil(length / width[i] - 1e-9))) if s.pbc[i] else 1 for i in range(3)
    )


def supercell(s: Structure, repeats: Sequence[int]) -> Structure:
    """`s` repeated n1×n2×n3 times, copy by copy (all atoms of copy 0, then copy 1, ...);
    charge and unpaired electrons scale with the number of copies."""
    shifts = np.array(
        [[a, b, c] for a in range(repeats[0]) for b in range(repeats[1]) for c in range(repeats[2])]
    )
    n = len(shifts)
    positions = (s.positions[None] + (shifts @ s.cell)[:, None]).reshape(-1, 3)
    return s.replace(
        atomic_numbers=np.tile(s.atomic_numbers, n),
        positions=positions,
        cell=s.cell * np.asarray(repeats)[:, None],
        charge=s.charge * n,
        multiplicity=(s.multiplicity - 1) * n + 1,
        labels={},
        name=f"{s.name} ({'×'.join(map(str, repeats))} supercell)",
    )


def fold_supercell_labels(
    big: dict[str, np.ndarray], s: Structure, repeats: Sequence[int]
) -> dict[str, np.ndarray]:
    """Labels of `supercell(s, repeats)` → labels of `s` (see `label_structure`)."""
    n = int(np.prod(repeats))
    out = {"xtb_energy": np.asarray(big["xtb_energy"] / n)}
    for key, value in big.items():
        if key == "xtb_energy":
            continue
        per_copy = len(value) // n
        if key in ("xtb_orbital_shell", "xtb_shell_l", "xtb_shell_atom"):  # maps: copy 0's
            out[key] = value[:per_copy].copy()
        else:
            out[key] = value.reshape(n, per_copy, *value.shape[1:]).mean(axis=0)
    return out


def run_xtb(
    structure: Structure,
    method: str = "GFN1-xTB",
    save_integrals: bool = False,
    max_iter: int = 250,
    retries: Sequence[tuple[float, int]] = DEFAULT_RETRIES,
    electronic_temperature: float | None = None,
    verbosity: int = 0,
) -> XtbResult:
    """One tblite single point; on "SCF not converged" retry with stronger damping.

    ``electronic_temperature``: kelvin, None for tblite's default (300 K).
    ``verbosity``: tblite's printout level (0 silent; 1 prints the SCF cycles to the
    process's standard output from Fortran, which Python's ``sys.stdout`` does not see).
    """
    from tblite.exceptions import TBLiteRuntimeError, TBLiteTypeError, TBLiteValueError

    kelvin = check_electronic_temperature(electronic_temperature)
    check_structure(structure)
    attempts = [(None, max_iter), *retries]
    # only options that differ from the defaults (keeps _singlepoint's five-argument form)
    extra = {k: v for k, v in (("kelvin", kelvin), ("verbosity", verbosity)) if v}
    for k, (damping, n_iter) in enumerate(attempts):
        try:
            return _singlepoint(structure, method, save_integrals, n_iter, damping, **extra)
        except (TBLiteRuntimeError, TBLiteTypeError, TBLiteValueError) as err:
            message = str(err).strip() or type(err).__name__
            if "not converged" in message and k + 1 < len(attempts):
                continue
            if "not converged" in message:
                tried = ", ".join(f"max-iter {n} damping {d or 'default'}" for d, n in attempts)
                raise StructureError(structure.name, f"SCF not converged ({tried})") from err
            raise StructureError(structure.name, f"tblite failed: {message}") from err
    raise AssertionError("unreachable")


def check_structure(s: Structure) -> None:
    """Raise `StructureError` for input tblite cannot (or should not) compute."""
    validate(s)  # NaN, overlapping atoms, empty; re-run in case arrays were edited in place
    z = s.atomic_numbers
    if (z > MAX_Z_GFN1).any():
        i = int(np.argmax(z > MAX_Z_GFN1))
        raise StructureError(
            s.name, f"element Z={z[i]} at atom {i} is not supported by xTB (Z ≤ {MAX_Z_GFN1})"
        )
    n_electrons = electron_count(s)
    uhf = s.multiplicity - 1
    # A cell with an odd electron count and multiplicity 1 is a normal metal: tblite smears
    # the occupations (Fermi, 300 K) with equal α and β, so parity is only enforced for
    # molecules and for cells with an explicit multiplicity.
    smeared_cell = s.is_periodic and s.multiplicity == 1
    if uhf < 0 or uhf > n_electrons or ((n_electrons - uhf) % 2 and not smeared_cell):
        raise StructureError(
            s.name,
            f"charge {s.charge:g} and multiplicity {s.multiplicity} are impossible for "
            f"{n_electrons} valence electrons (need multiplicity − 1 ≤ electrons, same parity)",
        )


def electron_count(s: Structure) -> int:
    """Number of xTB valence electrons: Σ Z_ref − charge (charge must be an integer)."""
    if not np.isfinite(s.charge) or abs(s.charge - round(s.charge)) > 1e-8:
        raise StructureError(s.name, f"non-integer total charge {s.charge}")
    n = int(REFERENCE_VALENCE[s.atomic_numbers].sum() - round(s.charge))
    if n < 0:
        raise StructureError(
            s.name,
            f"charge {s.charge:g} removes more electrons than the {n + round(s.charge)} "
            "valence electrons",
        )
    return n


def _singlepoint(
    s: Structure, method, save_integrals, max_iter, damping, kelvin=None, verbosity=0
) -> XtbResult:
    from tblite.interface import Calculator  # late: see module docstring

    kwargs = {}
    if s.is_periodic:
        kwargs = dict(lattice=s.cell / BOHR, periodic=s.pbc.copy())
    calc = Calculator(
        method,
        s.atomic_numbers,
        s.positions / BOHR,
        charge=float(s.charge),
        uhf=int(s.multiplicity - 1),
        **kwargs,
    )
    calc.set("verbosity", int(verbosity))
    calc.set("max-iter", int(max_iter))
    if kelvin is not None:
        calc.set("temperature", kelvin * BOLTZMANN_HARTREE_PER_KELVIN)
    if damping is not None:
        calc.set("mixer-damping", float(damping))
    if save_integrals:
        calc.set("save-integrals", 1)
    return result_of(calc, calc.singlepoint(), s.name, save_integrals)


def result_of(calc, res, name: str, integrals: bool) -> XtbResult:
    """An `XtbResult` from a tblite calculator and its result (P and S if `integrals`);
    `StructureError` for a non-finite energy or gradient."""
    out = XtbResult(
        energy=float(res.get("energy")),
        gradient=np.asarray(res.get("gradient"), np.float64).reshape(-1, 3),
        charges=np.asarray(res.get("charges"), np.float64),
        shell_l=np.asarray(calc.get("angular-momenta"), np.int64),
        shell_atom=np.asarray(calc.get("shell-map"), np.int64),
        orbital_shell=np.asarray(calc.get("orbital-map"), np.int64),
    )
    if integrals:
        out.density = np.asarray(res.get("density-matrix"), np.float64)
        out.overlap = np.asarray(res.get("overlap-matrix"), np.float64)
    if not (np.isfinite(out.energy) and np.isfinite(out.gradient).all()):
        raise StructureError(name, "tblite returned a non-finite energy or gradient")
    return out


def orbital_labels(res: XtbResult, s: Structure, tolerance: float = 1e-5) -> dict[str, np.ndarray]:
    """Per-orbital, per-shell and per-atom s/p/d populations from P and S (GFN1 only).

    Checks the basis layout against `orbjax.orbitals.GFN1_SHELLS` and the sum rule against
    tblite's charges, so a change of basis convention in tblite cannot pass silently.
    """
    expected_l = np.concatenate([GFN1_SHELLS[int(z)] for z in s.atomic_numbers])
    if not np.array_equal(res.shell_l, expected_l) or res.density is None:
        raise RuntimeError(
            f"{s.name}: tblite basis layout differs from orbjax.orbitals.GFN1_SHELLS"
        )
    orbital_pop = mulliken_orbital_populations(res.density, res.overlap)  # [n_orbitals] e
    n_shells, n_atoms = len(res.shell_l), s.n_atoms
    shell_pop = np.bincount(res.orbital_shell, orbital_pop, minlength=n_shells)
    spd = np.zeros((n_atoms, 3))
    np.add.at(spd, (res.shell_atom, res.shell_l), shell_pop)
    charges = REFERENCE_VALENCE[s.atomic_numbers] - spd.sum(axis=1)
    if np.abs(charges - res.charges).max() > tolerance:
        raise RuntimeError(
            f"{s.name}: Mulliken sum rule broken, max |Z_ref − Σpop − q_tblite| = "
            f"{np.abs(charges - res.charges).max():.2e} e"
        )
    return {
        "xtb_orbital_populations": orbital_pop,
        "xtb_orbital_shell": res.orbital_shell.copy(),
        "xtb_shell_populations": shell_pop,
        "xtb_shell_l": res.shell_l.copy(),
        "xtb_shell_atom": res.shell_atom.copy(),
        "xtb_spd_populations": spd,
    }


def mulliken_orbital_populations(density: np.ndarray, overlap: np.ndarray) -> np.ndarray:
    """[n_orbitals] diag(P·S) without forming the product: Σ_ν P_μν S_νμ."""
    return np.einsum("mn,nm->m", density, overlap)


def onsite_blocks(
    density: np.ndarray, overlap: np.ndarray, orbital_shell: np.ndarray
) -> list[np.ndarray]:
    """On-site shell blocks of P·S, one [2l+1, 2l+1] array per shell (tblite order).

    Under a rotation R of the structure each block B transforms as D·B·Dᵀ, with D the real
    Wigner matrix of the shell in tblite's basis, and diag(B) are the orbital populations.
    """
    ps = density @ overlap
    order = np.argsort(orbital_shell, kind="stable")
    bounds = np.searchsorted(orbital_shell[order], np.arange(orbital_shell.max() + 2))
    return [ps[np.ix_(order[a:b], order[a:b])] for a, b in zip(bounds[:-1], bounds[1:])]
