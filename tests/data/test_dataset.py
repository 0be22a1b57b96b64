"""Labelled-dataset HDF5 file: round trip, missing labels, atomic writes, clear errors."""

import h5py
import numpy as np
import pytest

from orbjax.data.dataset import (
    FORMAT_VERSION,
    DatasetError,
    read_arrays,
    read_dataset,
    write_dataset,
)
from orbjax.data.structures import Structure
from orbjax.orbitals import ORBITAL_ORDER


def water(name="w", shift=0.0, **labels) -> Structure:
    pos = np.array([[0.0, 0.0, 0.119], [0.0, 0.763, -0.477], [0.0, -0.763, -0.477]]) + shift
    return Structure(
        [8, 1, 1], pos, name=name, mol_id="water", labels=labels, info={"smiles": "O", "T": 300}
    )


def orbital_labels(z: list[int], seed: int) -> dict:
    """Fake but consistently shaped xtb orbital labels (H: 2 s shells, O: s p)."""
    rng = np.random.default_rng(seed)
    shell_l = np.concatenate([[0, 0] if zi == 1 else [0, 1] for zi in z])
    shell_atom = np.concatenate([[i, i] for i in range(len(z))])
    orbital_shell = np.concatenate([[k] * (2 * l + 1) for k, l in enumerate(shell_l)])
    return {
        "xtb_shell_l": shell_l,
        "xtb_shell_atom": shell_atom,
        "xtb_orbital_shell": orbital_shell,
        "xtb_shell_populations": rng.random(len(shell_l)),
        "xtb_orbital_populations": rng.random(len(orbital_shell)),
    }


def mixed_structures() -> list[Structure]:
    rng = np.random.default_rng(0)
    a = water(
        "a",
        energy=-1.5,
        forces=rng.normal(size=(3, 3)),
        xtb_charges=rng.normal(size=3),
        **orbital_labels([8, 1, 1], 0),
    )
    b = water("b", shift=1.0, energy=-2.5)  # no per-atom or orbital labels
    cell = Structure(
        [29, 29],
        [[0, 0, 0], [1.8, 1.8, 0]],
        cell=np.eye(3) * 3.61,
        pbc=[True] * 3,
        name="cu",
        multiplicity=1,
        charge=0,
        labels={"stress": np.arange(9.0).reshape(3, 3), "forces": np.zeros((2, 3))},
    )
    radical = Structure(
        [6, 1, 1, 1],
        rng.normal(size=(4, 3)) * 1.5,
        name="ch3",
        charge=0,
        multiplicity=2,
        labels={"xtb_charges": rng.normal(size=4), **orbital_labels([6, 1, 1, 1], 1)},
    )
    return [a, b, cell, radical]


def assert_same(s: Structure, t: Structure):
    assert s.name == t.name and s.mol_id == t.mol_id and s.info == t.info
    np.testing.assert_array_equal(s.atomic_numbers, t.atomic_numbers)
    np.testing.assert_array_equal(s.positions, t.positions)
    np.testing.assert_array_equal(s.cell, t.cell)
    np.testing.assert_array_equal(s.pbc, t.pbc)
    assert (s.charge, s.multiplicity) == (t.charge, t.multiplicity)
    assert set(s.labels) == set(t.labels), s.name
    for key in s.labels:
        np.testing.assert_array_equal(s.labels[key], t.labels[key], err_msg=key)
        assert s.labels[key].dtype.kind == t.labels[key].dtype.kind, key


def test_round_trip_keeps_every_structure_and_label(tmp_path):
    structures = mixed_structures()
    path = tmp_path / "d.h5"
    write_dataset(path, structures, {"method": "GFN1-xTB", "source": "test"})
    back, attrs = read_dataset(path)
    assert len(back) == len(structures)
    for s, t in zip(structures, back):
        assert_same(s, t)
    assert attrs["orbjax_format"] == FORMAT_VERSION
    assert attrs["method"] == "GFN1-xTB" and attrs["source"] == "test"
    assert attrs["orbital_order"] == ORBITAL_ORDER
    assert attrs["tblite_version"] and "eV" in attrs["units"]


def test_flat_layout_fills_missing_labels_and_records_kinds(tmp_path):
    path = tmp_path / "d.h5"
    write_dataset(path, mixed_structures())
    arrays, _ = read_arrays(path)
    labels = arrays["labels"]
    np.testing.assert_array_equal(arrays["structures"]["n_atoms"], [3, 3, 2, 4])
    np.testing.assert_array_equal(arrays["structures"]["n_shells"], [6, 0, 0, 8])
    energy, kind = labels["energy"]
    assert kind == "structure" and energy[0] == -1.5 and np.isnan(energy[2:]).all()
    forces, kind = labels["forces"]
    assert (
        kind == "atom"
        and forces.shape == (12, 3)
        and np.isnan(forces[3:6]).all()
        and np.isnan(forces[8:]).all()
    )
    assert labels["xtb_shell_l"][1] == "shell" and labels["xtb_orbital_populations"][1] == "orbital"
    assert labels["xtb_shell_l"][0].dtype == np.int64
    np.testing.assert_array_equal(arrays["present"]["forces"], [True, False, True, False])
    with h5py.File(path) as f:
        assert f["labels/forces"].attrs["unit"] == "eV/Å"
        assert f["labels/stress"].attrs["unit"] == "eV/Å³"
        assert f["labels/xtb_orbital_populations"].attrs["unit"] == "e"


def test_missing_int_labels_are_minus_one(tmp_path):
    s = mixed_structures()
    s[0].labels["ring_count"] = np.array([1, 0, 2])  # unknown per-atom int label
    path = tmp_path / "d.h5"
    write_dataset(path, s)
    data, kind = read_arrays(path)[0]["labels"]["ring_count"]
    assert kind == "atom"
    np.testing.assert_array_equal(data[:6], [1, 0, 2, -1, -1, -1])


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "d.h5"
    write_dataset(path, mixed_structures()[:1])
    bad = mixed_structures()
    bad[1].labels["energy"] = np.array(["not a number"])  # fails half-way through writing
    with pytest.raises(ValueError, match="numeric"):
        write_dataset(path, bad)
    back, _ = read_dataset(path)  # the old file is intact and no temp file is left
    assert [s.name for s in back] == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]


def test_empty_list_round_trips(tmp_path):
    write_dataset(tmp_path / "e.h5", [])
    assert read_dataset(tmp_path / "e.h5")[0] == []


def test_inconsistent_label_shapes_are_rejected(tmp_path):
    s = mixed_structures()
    s[1].labels["stress"] = np.zeros(6)  # Voigt here, 3x3 elsewhere
    with pytest.raises(ValueError, match="stress.*inconsistent"):
        write_dataset(tmp_path / "x.h5", s)


def test_truncated_file_gives_clear_error(tmp_path):
    path = tmp_path / "d.h5"
    write_dataset(path, mixed_structures())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="d.h5.*truncated"):
        read_dataset(path)


def test_not_a_dataset_and_newer_format(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = [1, 2]
    with pytest.raises(DatasetError, match="other.h5.*not an orbjax dataset"):
        read_dataset(other)
    path = tmp_path / "d.h5"
    write_dataset(path, mixed_structures())
    with h5py.File(path, "a") as f:
        f.attrs["orbjax_format"] = FORMAT_VERSION + 1
    with pytest.raises(DatasetError, match="newer"):
        read_dataset(path)
    text = tmp_path / "t.h5"
    text.write_text("hello")
    with pytest.raises(DatasetError, match="t.h5"):
        read_dataset(text)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda f: _replace(f, "atoms/positions", np.zeros((5, 3))), "positions.*5 rows"),
        (
            lambda f: _replace(f, "labels/forces", np.zeros((4, 3)), kind="atom"),
            "forces.*4 rows, expected 12",
        ),
        (
            lambda f: _replace(f, "labels/xtb_orbital_populations", np.zeros(3), kind="orbital"),
            "xtb_orbital_populations",
        ),
        (lambda f: _replace(f, "structures/charge", np.zeros(2)), "charge.*2 entries"),
        (lambda f: f.__delitem__("structures/name"), "missing array '/structures/name'"),
        (lambda f: f.__delitem__("present/energy"), "present/energy"),
    ],
)
def test_inconsistent_lengths_are_named(tmp_path, edit, message):
    path = tmp_path / "d.h5"
    write_dataset(path, mixed_structures())
    with h5py.File(path, "a") as f:
        edit(f)
    with pytest.raises(DatasetError, match=message):
        read_dataset(path)


def _replace(f: h5py.File, name: str, data: np.ndarray, kind: str | None = None):
    del f[name]
    f[name] = data
    if kind:
        f[name].attrs["kind"] = kind
