"""Readers: units, shapes and identities from real files; clear errors for bad input."""

import sys
import types
from pathlib import Path

import ase.io
import h5py
import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator

from orbjax.data.readers import (
    CHNO_KEYS,
    COMP6_KEYS,
    KeyMap,
    ReadError,
    example_path,
    read_structures,
    read_structures_with_failures,
)
from orbjax.data.structures import Structure, StructureError
from orbjax.units import DEBYE, HARTREE

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
CHNO = DATA / "chno" / "chno_wb97x.extxyz"
COMP6 = DATA / "comp6" / "s66x8_wb97x6-31gd.h5"
METAL = DATA / "metals" / "mlearn_Mo_train.extxyz"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data {path} not available")
    return path


def write(tmp_path, name, text) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = (
    "2\nProperties=species:S:1:pos:R:3:forces:R:3 energy=-1.5\nH 0 0 0 0 0 1\nH 0 0 0.74 0 0 -1\n"
)


# ----------------------------------------------------------------------------- real data


def test_chno_extxyz_shapes_units_and_identity():
    path = need(CHNO)
    structures = read_structures(path, keys=CHNO_KEYS)
    raw = ase.io.read(path, ":")
    assert len(structures) == len(raw) >= 401  # the shared set grows (401, then 626 structures)
    for i in (0, 200, 400, len(raw) - 1):
        s, a = structures[i], raw[i]
        n = len(a)
        assert s.name == f"chno_wb97x.extxyz:{i}"
        assert s.mol_id == str(a.info["mol_id"])
        assert s.labels["forces"].shape == (n, 3)
        assert s.labels["dft_charges"].shape == (n,)
        np.testing.assert_allclose(s.labels["dft_charges"], a.arrays["dft_mulliken_charges"])
        assert s.labels["energy"] == pytest.approx(a.get_potential_energy())  # already eV
        np.testing.assert_allclose(s.labels["dipole"], a.calc.results["dipole"] * DEBYE)
        assert abs(s.labels["dft_charges"].sum()) < 1e-3  # neutral molecules
        assert s.info["smiles"] == a.info["smiles"]
    # total energies (eV) of molecules with 2–7 heavy atoms: −1000 to −20000 eV
    energies = np.array([s.labels["energy"] for s in structures])
    assert (energies < -1000).all() and (energies > -20000).all()
    assert len({s.mol_id for s in structures}) == len({a.info["mol_id"] for a in raw}) >= 134


def test_comp6_energy_units_charges_and_ids():
    path = need(COMP6)
    structures = read_structures(path)
    assert len(structures) == 66 * 8
    s = structures[0]
    assert s.name == "s66x8_wb97x6-31gd.h5:s66x8/mol00:0"
    assert s.mol_id == "s66x8/mol00"
    assert list(s.atomic_numbers) == [8, 1, 1, 8, 1, 1]  # water dimer
    assert s.labels["energy"] == pytest.approx(-152.78863962 * 27.2113862, rel=1e-8)  # Hartree → eV
    with h5py.File(path) as f:
        hirshfeld = f["s66x8/mol00/hirshfeld"][0]
    assert s.labels["dft_charges"].shape == (6,)
    np.testing.assert_allclose(s.labels["dft_charges"], hirshfeld[:6])
    for s in structures:
        assert s.labels["dft_charges"].shape == (s.n_atoms,)
        assert abs(s.labels["dft_charges"].sum()) < 0.02  # neutral dimers
    cm5 = read_structures(path, keys=COMP6_KEYS.replace(dft_charges="cm5"), index=0)[0]
    assert not np.allclose(cm5.labels["dft_charges"], structures[0].labels["dft_charges"])


def _curve_mismatch(structures):
    """Trapezoid check of dE = −∫F·dx along each S66x8 dimer curve; returns relative errors."""
    errors = []
    for a, b in zip(structures[:-1], structures[1:]):
        if a.mol_id != b.mol_id:
            continue
        de = b.labels["energy"] - a.labels["energy"]
        work = (
            -0.5 * ((a.labels["forces"] + b.labels["forces"]) * (b.positions - a.positions)).sum()
        )
        if abs(de) > 5e-3:  # eV, steps large enough to compare
            errors.append(abs(work - de) / abs(de))
    return np.array(errors)


def test_comp6_forces_are_negative_gradient():
    structures = read_structures(need(COMP6), index=slice(0, 8 * 20))
    errors = _curve_mismatch(structures)
    assert len(errors) > 30
    assert np.median(errors) < 0.1  # right sign: work matches dE
    flipped = read_structures(
        COMP6, keys=COMP6_KEYS.replace(forces_are_gradient=False), index=slice(0, 8 * 20)
    )
    assert np.median(_curve_mismatch(flipped)) > 1.5  # wrong sign: about 2
    np.testing.assert_allclose(flipped[0].labels["forces"], -structures[0].labels["forces"])
    # eV/Å: Hartree/Å × 27.2
    with h5py.File(COMP6) as f:
        gradient = f["s66x8/mol00/forces"][0]
    np.testing.assert_allclose(structures[0].labels["forces"], -gradient * HARTREE, rtol=1e-6)


def test_metals_periodic_with_stress():
    path = need(METAL)
    structures = read_structures(path)
    assert len(structures) == 194
    s = structures[0]
    assert s.pbc.all() and s.is_periodic
    np.testing.assert_allclose(s.cell, np.eye(3) * 9.450121)
    # stress straight from the comment line (3×3, eV/Å³, ASE sign), independent of ASE
    header = path.read_text().splitlines()[1]
    on_disk = np.array(header.split('stress="')[1].split('"')[0].split(), float).reshape(3, 3)
    np.testing.assert_allclose(s.labels["stress"], on_disk, rtol=1e-10)
    per_atom = np.array([x.labels["energy"] / x.n_atoms for x in structures])
    assert per_atom.min() == pytest.approx(-10.850, abs=1e-3)  # README: −10.850 … −9.408
    assert per_atom.max() == pytest.approx(-9.408, abs=1e-3)
    assert all(x.labels["stress"].shape == (3, 3) for x in structures)
    assert s.mol_id == "Mo53"  # no mol_id / smiles: falls back to the formula


def test_ase_db_round_trip(tmp_path):
    import ase.db

    originals = read_structures(example_path(), keys=CHNO_KEYS, index=":6")
    metal = read_structures(need(METAL), index=0)[0]
    db_path = tmp_path / "set.db"
    with ase.db.connect(db_path) as db:
        for s in originals:
            atoms = ase.Atoms(s.atomic_numbers, s.positions)
            atoms.calc = SinglePointCalculator(
                atoms, energy=float(s.labels["energy"]), forces=s.labels["forces"]
            )
            db.write(
                atoms,
                mol_id=int(s.mol_id),
                smiles=s.info["smiles"],
                charge=0,
                multiplicity=1,
                data={"dft_mulliken_charges": s.labels["dft_charges"]},
            )
        atoms = ase.Atoms(metal.atomic_numbers, metal.positions, cell=metal.cell, pbc=True)
        atoms.calc = SinglePointCalculator(
            atoms,
            energy=float(metal.labels["energy"]),
            forces=metal.labels["forces"],
            stress=metal.labels["stress"],
        )
        db.write(atoms)
    back = read_structures(db_path, keys=CHNO_KEYS)
    assert len(back) == 7
    for a, b in zip(originals, back):
        np.testing.assert_allclose(b.positions, a.positions)
        np.testing.assert_array_equal(b.atomic_numbers, a.atomic_numbers)
        assert b.mol_id == a.mol_id and b.name.startswith("set.db:")
        for key in ("energy", "forces", "dft_charges"):
            np.testing.assert_allclose(b.labels[key], a.labels[key])
    m = back[-1]
    assert m.pbc.all()
    np.testing.assert_allclose(m.cell, metal.cell)
    np.testing.assert_allclose(m.labels["stress"], metal.labels["stress"], atol=1e-12)


def test_example_dataset():
    path = example_path()
    assert path.is_file() and path.stat().st_size < 200_000
    structures = read_structures(
        path, keys=CHNO_KEYS.replace(required=("energy", "forces", "dft_charges"))
    )
    assert len(structures) == 39
    ids = [s.mol_id for s in structures]
    assert len(set(ids)) == 13 and all(ids.count(i) == 3 for i in set(ids))
    assert set(np.concatenate([s.atomic_numbers for s in structures])) == {1, 6, 7, 8}
    assert (path.parent / "README.md").is_file()


def test_index_selection():
    path = example_path()
    every_other = read_structures(path, index="::2")
    assert [s.name for s in every_other] == [f"chno_example.extxyz:{i}" for i in range(0, 39, 2)]
    assert read_structures(path, index=-1)[0].name == "chno_example.extxyz:38"
    assert read_structures(path, index="3")[0].name == "chno_example.extxyz:3"


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "text, problem",
    [
        ("2\n\nXx 0 0 0\nH 0 0 1\n", "unknown element symbol 'Xx'"),
        ("2\n\nH 0 0 0\nH 0 0 nan\n", "non-finite"),
        ("2\n\nH 0 0 0\nH 0 0 0.05\n", "overlapping"),
        ("0\nenergy=1.0\n", "empty structure"),
        ("2\n\nH 0 0 0\nH 0 0\n", "malformed frame"),
        ("two\n\nH 0 0 0\nH 0 0 1\n", "expected the number of atoms"),
        ("3\n\nH 0 0 0\nH 0 0 1\n", "truncated"),
    ],
    ids=["unknown-element", "nan", "overlap", "empty", "short-line", "bad-count", "truncated"],
)
def test_bad_extxyz_names_file_structure_and_problem(tmp_path, text, problem):
    path = write(tmp_path, "bad.extxyz", GOOD + text)
    with pytest.raises(StructureError) as err:
        read_structures(path)
    message = str(err.value)
    assert "bad.extxyz" in message and "bad.extxyz:1" in message, message
    assert problem in message, message


def test_missing_and_misshaped_keys(tmp_path):
    path = write(tmp_path, "labels.extxyz", "2\nenergy=-1.0\nH 0 0 0\nH 0 0 0.74\n")
    assert "forces" not in read_structures(path)[0].labels  # optional by default
    with pytest.raises(StructureError, match=r"labels\.extxyz:0.*required key 'forces'.*missing"):
        read_structures(path, keys=KeyMap(required=("forces",)))
    bad = write(
        tmp_path,
        "shape.extxyz",
        "2\nProperties=species:S:1:pos:R:3:forces:R:2 energy=1\nH 0 0 0 1 1\nH 0 0 1 1 1\n",
    )
    with pytest.raises(
        StructureError, match=r"shape\.extxyz:0.*'forces'.*shape \(2, 2\), expected \(2, 3\)"
    ):
        read_structures(bad)
    with pytest.raises(ValueError, match="file key is None"):
        KeyMap(stress=None, required=("stress",))


def test_truncated_and_corrupt_hdf5(tmp_path):
    src = need(COMP6)
    truncated = tmp_path / "cut.h5"
    truncated.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(ReadError, match=r"cut\.h5.*(corrupt or truncated)"):
        read_structures(truncated)
    garbage = write(tmp_path, "junk.h5", "not an hdf5 file\n")
    with pytest.raises(ReadError, match=r"junk\.h5.*cannot open HDF5"):
        read_structures(garbage)


def _ani_file(path, species, charges_extra=1, forces_atoms=None):
    n = len(species)
    with h5py.File(path, "w") as f:
        g = f.create_group("set/mol0")
        g["species"] = np.array(species, dtype="S2")
        g["coordinates"] = np.arange(2 * n * 3, dtype=np.float32).reshape(2, n, 3)
        g["energies"] = np.array([-1.0, -1.1])
        g["forces"] = np.zeros((2, forces_atoms or n, 3), np.float32)
        g["hirshfeld"] = np.zeros((2, n + charges_extra), np.float32)
    return path


def test_bad_ani_groups(tmp_path):
    ok = read_structures(_ani_file(tmp_path / "ok.h5", [b"O", b"H"]))
    assert [s.name for s in ok] == ["ok.h5:set/mol0:0", "ok.h5:set/mol0:1"]
    assert ok[1].labels["energy"] == pytest.approx(-1.1 * HARTREE)
    assert ok[0].labels["dft_charges"].shape == (2,)
    with pytest.raises(StructureError, match=r"el\.h5:set/mol0:0.*unknown element symbol 'Xx'"):
        read_structures(_ani_file(tmp_path / "el.h5", [b"O", b"Xx"]))
    with pytest.raises(
        StructureError, match=r"f\.h5:set/mol0:0.*'forces'.*shape \(3, 3\), expected \(2, 3\)"
    ):
        read_structures(_ani_file(tmp_path / "f.h5", [b"O", b"H"], forces_atoms=3))
    with pytest.raises(StructureError, match=r"q\.h5:set/mol0:0.*'hirshfeld'.*shape \(4,\)"):
        read_structures(_ani_file(tmp_path / "q.h5", [b"O", b"H"], charges_extra=2))


def test_skip_keeps_good_and_records_bad(tmp_path, caplog):
    text = (
        GOOD
        + "2\n\nXx 0 0 0\nH 0 0 1\n"
        + GOOD
        + "2\n\nH 0 0 0\nH 0 0 0.01\n"
        + GOOD
        + "5\n\nH 0 0 0\n"
    )
    path = write(tmp_path, "mixed.extxyz", text)
    good, bad = read_structures_with_failures(path)
    assert [s.name for s in good] == ["mixed.extxyz:0", "mixed.extxyz:2", "mixed.extxyz:4"]
    assert [name for name, _ in bad] == ["mixed.extxyz:1", "mixed.extxyz:3", "mixed.extxyz:5"]
    reasons = [reason for _, reason in bad]
    assert (
        "unknown element" in reasons[0]
        and "overlapping" in reasons[1]
        and "truncated" in reasons[2]
    )
    with caplog.at_level("WARNING"):
        assert len(read_structures(path, on_error="skip")) == 3
    assert "skipped 3 bad structure(s)" in caplog.text
    with pytest.raises(StructureError, match="mixed.extxyz:1"):
        read_structures(path)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="unknown format 'cif'"):
        read_structures(write(tmp_path, "x.cif", "data_x\n"))
    with pytest.raises(FileNotFoundError, match="nope.extxyz"):
        read_structures(tmp_path / "nope.extxyz")


def test_orbjax_files_delegate_to_dataset_reader(tmp_path, monkeypatch):
    path = tmp_path / "set.h5"
    with h5py.File(path, "w") as f:
        f.attrs["orbjax_format"] = 1
    structures = [
        Structure([1, 1], [[0, 0, 0], [0, 0, 0.74]], name=f"set.h5:{i}") for i in range(3)
    ]
    seen = []
    fake = types.ModuleType("orbjax.data.dataset")
    fake.read_dataset = lambda p: seen.append(Path(p)) or (structures, {})
    monkeypatch.setitem(sys.modules, "orbjax.data.dataset", fake)
    got = read_structures(path, index="1:")
    assert seen == [path] and [s.name for s in got] == ["set.h5:1", "set.h5:2"]
