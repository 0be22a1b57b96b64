"""GFN1-xTB labels: sum rule, rotation covariance, error handling.

The orbital-population labels are only useful if (a) they add up to tblite's own charges
and (b) they rotate like real spherical harmonics in tblite's basis; both are checked here
against tblite directly, without e3nn.
"""

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk, molecule

from orbjax.data.structures import Structure, StructureError
from orbjax.labels.xtb import (
    BOLTZMANN_HARTREE_PER_KELVIN,
    REFERENCE_VALENCE,
    TBLITE_DEFAULT_TEMPERATURE_K,
    label_structure,
    onsite_blocks,
    run_xtb,
    supercell,
    supercell_repeats,
)
from orbjax.orbitals import GFN1_SHELLS

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


# ----------------------------------------------------------------------------- structures
def water() -> Structure:
    pos = [[0.0, 0.0, 0.119], [0.0, 0.763, -0.477], [0.0, -0.763, -0.477]]
    return Structure([8, 1, 1], pos, name="H2O")


def fe_co5() -> Structure:
    """Fe(CO)5, trigonal bipyramid, neutral singlet (Fe–C 1.81/1.83 Å, C–O 1.15 Å)."""
    dirs = [(0, 0, 1), (0, 0, -1)] + [(np.cos(a), np.sin(a), 0) for a in np.radians([0, 120, 240])]
    z, pos = [26], [np.zeros(3)]
    for k, d in enumerate(np.array(dirs, float)):
        r = 1.81 if k < 2 else 1.83
        z += [6, 8]
        pos += [r * d, (r + 1.15) * d]
    return Structure(z, np.array(pos), name="Fe(CO)5")


def cu_nh3_4() -> Structure:
    """[Cu(NH3)4]2+, square planar, Cu–N 2.03 Å, N–H 1.01 Å, charge +2, doublet (d9)."""
    z, pos = [29], [np.zeros(3)]
    for u in np.array([(1, 0, 0), (0, 1, 0), (-1, 0, 0), (0, -1, 0)], float):
        n = 2.03 * u
        v = np.cross(u, (0, 0, 1.0))
        w = np.cross(u, v)
        z.append(7)
        pos.append(n)
        for phi in np.radians([0, 120, 240]):
            h = np.cos(np.radians(70.5)) * u + np.sin(np.radians(70.5)) * (
                np.cos(phi) * v + np.sin(phi) * w
            )
            z.append(1)
            pos.append(n + 1.01 * h)
    return Structure(z, np.array(pos), name="[Cu(NH3)4]2+", charge=2, multiplicity=2)


def cu_cell() -> Structure:
    a = bulk("Cu", "fcc", a=3.61, cubic=True)  # 4 atoms
    a.rattle(0.05, seed=0)
    return Structure(a.numbers, a.positions, a.cell.array, [True] * 3, name="Cu4")


def organic() -> Structure:
    path = DATA / "chno" / "chno_wb97x.extxyz"
    if not path.exists():
        pytest.skip(f"shared data absent: {path}")
    from ase.io import read

    a = read(path, index=7)
    return Structure(a.numbers, a.positions, name=f"chno:7 {a.info.get('smiles')}")


def rotated(s: Structure, R: np.ndarray) -> Structure:
    return s.replace(positions=s.positions @ R.T, name=s.name + " rotated")


def random_rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


# ----------------------------------------------------------------------------- sum rule
@pytest.mark.parametrize(
    "make", [water, organic, fe_co5, cu_nh3_4, cu_cell], ids=lambda f: f.__name__
)
def test_orbital_populations_sum_to_tblite_charges(make):
    s = make()
    labels = label_structure(s)
    n_atoms = s.n_atoms
    atom_of_orbital = labels["xtb_shell_atom"][labels["xtb_orbital_shell"]]
    atom_pop = np.bincount(atom_of_orbital, labels["xtb_orbital_populations"], minlength=n_atoms)
    charges = REFERENCE_VALENCE[s.atomic_numbers] - atom_pop
    np.testing.assert_allclose(charges, labels["xtb_charges"], atol=1e-6, rtol=0)
    # total electron count: Σ charges = structure charge
    assert labels["xtb_charges"].sum() == pytest.approx(s.charge, abs=1e-6)
    # shell and s/p/d sums are the same numbers regrouped
    shell_pop = np.bincount(labels["xtb_orbital_shell"], labels["xtb_orbital_populations"])
    np.testing.assert_allclose(shell_pop, labels["xtb_shell_populations"], atol=1e-12)
    np.testing.assert_allclose(labels["xtb_spd_populations"].sum(1), atom_pop, atol=1e-12)
    n_orbitals = sum(2 * l + 1 for z in s.atomic_numbers for l in GFN1_SHELLS[int(z)])
    assert labels["xtb_orbital_populations"].shape == (n_orbitals,)
    assert labels["xtb_forces"].shape == (n_atoms, 3)
    if not s.is_periodic:  # forces of a free molecule sum to zero
        np.testing.assert_allclose(labels["xtb_forces"].sum(0), 0.0, atol=1e-6)


def test_tm_complex_has_d_population():
    labels = label_structure(cu_nh3_4())
    d_cu = labels["xtb_spd_populations"][0, 2]
    assert 9.0 < d_cu < 10.2  # Cu(II) d9-ish, not an empty or overfilled shell


def test_periodic_overlap_is_gamma_point_lattice_sum():
    """tblite's S for a cell equals the supercell S folded back onto the cell (Γ-point sum)."""
    prim = bulk("Cu", "fcc", a=3.61)
    sup = prim.repeat(2)
    cells = [
        Structure(a.numbers, a.positions, a.cell.array, [True] * 3, name=str(a.symbols))
        for a in (prim, sup)
    ]
    res = [run_xtb(s, save_integrals=True) for s in cells]
    n = 9  # Cu: d(5) s(1) p(3)
    folded = res[1].overlap[:n].reshape(n, len(sup), n).sum(axis=1)
    np.testing.assert_allclose(folded, res[0].overlap, atol=1e-10)
    assert res[0].overlap[5, 5] > 2.0  # the s orbital overlaps its own images


def test_reference_valence_matches_tblite_single_atoms():
    """Z_ref = electrons of the neutral atom in tblite (sample across the periodic table)."""
    for z in [1, 2, 6, 8, 11, 17, 21, 26, 29, 30, 35, 47, 57, 64, 71, 72, 79, 80, 86]:
        s = Structure(
            [z], np.zeros((1, 3)), name=f"Z={z}", multiplicity=1 + int(REFERENCE_VALENCE[z]) % 2
        )
        res = run_xtb(s, save_integrals=True)
        n_el = np.trace(res.density @ res.overlap)
        assert n_el == pytest.approx(REFERENCE_VALENCE[z], abs=1e-8), z


# ----------------------------------------------------------------------------- rotation
def p_wigner(R: np.ndarray) -> np.ndarray:
    """Real Wigner D for l=1 in tblite's (y, z, x) order: D = P R Pᵀ."""
    P = np.eye(3)[[1, 2, 0]]
    return P @ R @ P.T


def d_harmonics(x: np.ndarray) -> np.ndarray:
    """[n, 5] normalised real d harmonics in tblite order xy, yz, z², xz, x²−y² (unit vectors)."""
    x, y, z = x.T
    r3 = np.sqrt(3)
    return np.stack(
        [r3 * x * y, r3 * y * z, (3 * z * z - 1) / 2, r3 * x * z, r3 / 2 * (x * x - y * y)], 1
    )


def d_wigner(R: np.ndarray) -> np.ndarray:
    """D with Y(R r) = D Y(r), by least squares over random unit vectors."""
    pts = np.random.default_rng(0).normal(size=(64, 3))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    D = np.linalg.lstsq(d_harmonics(pts), d_harmonics(pts @ R.T), rcond=None)[0].T
    np.testing.assert_allclose(D @ D.T, np.eye(5), atol=1e-10)
    return D


def predicted_orbital_populations(s: Structure, R: np.ndarray, wigner=None) -> np.ndarray:
    wigner = wigner or {0: lambda R: np.eye(1), 1: p_wigner, 2: d_wigner}
    res = run_xtb(s, save_integrals=True)
    blocks = onsite_blocks(res.density, res.overlap, res.orbital_shell)
    return np.concatenate(
        [np.diag(wigner[l](R) @ B @ wigner[l](R).T) for B, l in zip(blocks, res.shell_l)]
    )


def so2() -> Structure:
    a = molecule("SO2")
    return Structure(a.numbers, a.positions, name="SO2")


def ch3cl() -> Structure:
    a = molecule("CH3Cl")
    return Structure(a.numbers, a.positions, name="CH3Cl")


@pytest.mark.parametrize("make", [so2, ch3cl, fe_co5], ids=lambda f: f.__name__)
def test_rotation_covariance(make):
    s = make()
    R = random_rotation(seed=3)
    before, after = label_structure(s), label_structure(rotated(s, R))
    for key in ["xtb_energy", "xtb_charges", "xtb_shell_populations", "xtb_spd_populations"]:
        np.testing.assert_allclose(after[key], before[key], atol=1e-6, err_msg=key)
    np.testing.assert_allclose(after["xtb_forces"], before["xtb_forces"] @ R.T, atol=1e-6)
    # the orbital populations themselves change (otherwise the next check proves nothing) ...
    change = np.abs(after["xtb_orbital_populations"] - before["xtb_orbital_populations"]).max()
    assert change > 1e-2
    # ... exactly as diag(D B Dᵀ) of the unrotated on-site shell blocks
    predicted = predicted_orbital_populations(s, R)
    np.testing.assert_allclose(after["xtb_orbital_populations"], predicted, atol=1e-6)
    # and the wrong rotation direction (Rᵀ) does not fit: the check discriminates
    wrong = predicted_orbital_populations(s, R.T)
    assert np.abs(after["xtb_orbital_populations"] - wrong).max() > 1e-3


def test_onsite_block_diagonals_are_populations():
    s = fe_co5()
    res = run_xtb(s, save_integrals=True)
    blocks = onsite_blocks(res.density, res.overlap, res.orbital_shell)
    assert [b.shape[0] for b in blocks] == [2 * l + 1 for l in res.shell_l]
    labels = label_structure(s)
    diagonals = np.concatenate([np.diag(b) for b in blocks])
    np.testing.assert_allclose(diagonals, labels["xtb_orbital_populations"], atol=1e-10)


# ----------------------------------------------------------------------------- methods, SCF
def test_gfn2_energy_forces_only():
    s = water()
    labels = label_structure(s, method="GFN2-xTB", orbitals=False)
    assert set(labels) == {"xtb_energy", "xtb_forces"}
    gfn1 = label_structure(s, orbitals=False)
    assert abs(labels["xtb_energy"] - gfn1["xtb_energy"]) > 1.0  # a different Hamiltonian
    with pytest.raises(ValueError, match="GFN1"):
        label_structure(s, method="GFN2-xTB", orbitals=True)


def test_energy_units_and_forces_are_minus_gradient():
    s = water()
    e0 = label_structure(s, orbitals=False)
    h = 1e-4  # Å
    d = s.positions.copy()
    d[1, 1] += h
    ep = label_structure(s.replace(positions=d), orbitals=False)["xtb_energy"]
    d[1, 1] -= 2 * h
    em = label_structure(s.replace(positions=d), orbitals=False)["xtb_energy"]
    assert -(ep - em) / (2 * h) == pytest.approx(e0["xtb_forces"][1, 1], abs=1e-4)
    assert e0["xtb_energy"] == pytest.approx(-5.7686 * 27.211386, rel=2e-3)  # GFN1 water ≈ −5.77 Eh


def test_scf_retry_recovers_then_fails_with_named_error():
    s = water()
    reference = label_structure(s)["xtb_energy"]
    recovered = label_structure(s, max_iter=3, retries=((0.2, 250),))["xtb_energy"]
    assert recovered == pytest.approx(reference, abs=1e-6)
    with pytest.raises(StructureError, match="SCF not converged") as err:
        label_structure(s, max_iter=2, retries=((0.2, 3),))
    assert err.value.name == "H2O"


def test_electronic_temperature_reaches_tblite():
    """None is tblite's default, 300 K exactly (its documentation's 9.5e-4 Eh = 299.987 K
    differs by 4e-6 eV here); 3000 K smears the occupations: another (free) energy and other
    populations."""
    s = cu_cell()  # rattled 4-atom Cu: a metal, charges not zero by symmetry
    default = label_structure(s)
    same = label_structure(s, electronic_temperature=TBLITE_DEFAULT_TEMPERATURE_K)
    rounded = label_structure(s, electronic_temperature=9.5e-4 / BOLTZMANN_HARTREE_PER_KELVIN)
    hot = label_structure(s, electronic_temperature=3000.0)
    assert same["xtb_energy"] == pytest.approx(default["xtb_energy"], abs=1e-8)
    np.testing.assert_allclose(
        same["xtb_orbital_populations"], default["xtb_orbital_populations"], atol=1e-8
    )
    # the temperature does reach tblite
    assert abs(rounded["xtb_energy"] - default["xtb_energy"]) > 1e-7
    # eV; −TS of the smeared occupations
    assert abs(hot["xtb_energy"] - default["xtb_energy"]) > 0.1
    assert np.abs(hot["xtb_orbital_populations"] - default["xtb_orbital_populations"]).max() > 1e-3
    np.testing.assert_allclose(hot["xtb_charges"].sum(), 0.0, atol=1e-6)  # still neutral
    for bad in (0.0, -300.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="electronic temperature"):
            label_structure(s, electronic_temperature=bad)


def test_supercell_labels_fold_back_onto_the_cell():
    """min_cell_length labels the repeated cell and folds the labels back: what the 2×2×2
    supercell gives for copy 0, and not what the Γ-point-only 4-atom cell gives."""
    s = cu_cell()  # cubic, 3.61 Å wide: 7 Å needs 2 copies per direction
    folded = label_structure(s, min_cell_length=7.0)
    assert folded["xtb_supercell_repeats"].tolist() == [2, 2, 2]
    big = label_structure(supercell(s, (2, 2, 2)))
    plain = label_structure(s)
    assert folded["xtb_energy"] == pytest.approx(big["xtb_energy"] / 8, abs=1e-8)
    # maps: copy 0's = the cell's
    for key in ("xtb_orbital_shell", "xtb_shell_l", "xtb_shell_atom"):
        np.testing.assert_array_equal(folded[key], plain[key], err_msg=key)
    for key in (
        "xtb_charges",
        "xtb_forces",
        "xtb_spd_populations",
        "xtb_orbital_populations",
        "xtb_shell_populations",
    ):
        n = len(plain[key])
        copies = big[key].reshape(8, n, *plain[key].shape[1:])
        np.testing.assert_allclose(folded[key], copies.mean(0), atol=1e-10, err_msg=key)
        # the copies agree up to SCF convergence (translation symmetry of the supercell)
        np.testing.assert_allclose(
            copies, np.broadcast_to(copies.mean(0), copies.shape), atol=2e-4, err_msg=key
        )
    assert np.abs(folded["xtb_orbital_populations"] - plain["xtb_orbital_populations"]).max() > 1e-3
    charges = REFERENCE_VALENCE[s.atomic_numbers] - folded["xtb_spd_populations"].sum(1)
    # sum rule survives folding
    np.testing.assert_allclose(charges, folded["xtb_charges"], atol=1e-6)
    same = label_structure(s, min_cell_length=3.0)  # wide enough already
    assert same["xtb_supercell_repeats"].tolist() == [1, 1, 1]
    np.testing.assert_allclose(
        same["xtb_orbital_populations"], plain["xtb_orbital_populations"], atol=1e-10
    )
    assert label_structure(water(), min_cell_length=10.0)["xtb_supercell_repeats"].tolist() == [
        1,
        1,
        1,
    ]
    with pytest.raises(ValueError, match="min_cell_length"):
        label_structure(s, min_cell_length=-1.0)


def test_supercell_repeats_reach_the_width_between_faces():
    prim = bulk("W", "bcc", a=3.17)  # primitive bcc: skewed
    s = Structure(prim.numbers, prim.positions, prim.cell.array, [True, True, False], name="W")
    repeats = supercell_repeats(s, 9.0)
    a, b = prim.cell[0], prim.cell[1]  # periodic in a, b: the width along a lies in their plane
    width = np.linalg.norm(np.cross(a, b)) / np.linalg.norm(b)  # 2.24 Å, whatever the open c
    assert repeats[0] * width >= 9.0 > (repeats[0] - 1) * width
    assert repeats[2] == 1  # not periodic along c
    big = supercell(s, repeats)
    assert big.n_atoms == int(np.prod(repeats)) and big.multiplicity == 1


# ----------------------------------------------------------------------------- bad input
def test_bad_structures_raise_named_errors():
    s = water()
    with pytest.raises(StructureError, match="Z=87.*not supported"):
        label_structure(Structure([87, 1], [[0, 0, 0], [0, 0, 2.5]], name="Fr"))
    with pytest.raises(StructureError, match="impossible"):
        label_structure(s.replace(multiplicity=2))  # 8 electrons cannot be a doublet
    with pytest.raises(StructureError, match="impossible"):
        label_structure(s.replace(charge=1))  # 7 electrons cannot be a singlet
    label_structure(s.replace(charge=1, multiplicity=2))  # but a doublet is fine
    with pytest.raises(StructureError, match="non-integer"):
        label_structure(s.replace(charge=0.5))
    with pytest.raises(StructureError, match="removes more electrons"):
        label_structure(s.replace(charge=9))
    bad = water()
    bad.positions[0, 0] = np.nan  # edited after construction: caught before tblite
    with pytest.raises(StructureError, match="non-finite"):
        label_structure(bad)
    close = water()
    close.positions[1] = close.positions[0] + 0.05
    with pytest.raises(StructureError, match="overlapping"):
        label_structure(close)


def test_tblite_errors_are_wrapped(monkeypatch):
    from tblite.exceptions import TBLiteRuntimeError

    import orbjax.labels.xtb as xtb

    def boom(*args, **kwargs):
        raise TBLiteRuntimeError("Some tblite failure")

    monkeypatch.setattr(xtb, "_singlepoint", boom)
    with pytest.raises(StructureError, match="tblite failed: Some tblite failure"):
        label_structure(water())
