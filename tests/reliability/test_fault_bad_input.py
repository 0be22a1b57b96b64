"""Bad structures into the reader, the labelled-dataset file, the labeller and the potential:
every one is refused with a message naming the structure and the problem, and a job that
meets one skips it, records it and keeps everything else.

Covered beside their code (not repeated here): tests/data/test_readers.py
(test_bad_extxyz_names_file_structure_and_problem, test_skip_keeps_good_and_records_bad,
test_truncated_and_corrupt_hdf5, test_bad_ani_groups), tests/data/test_dataset.py
(test_truncated_file_gives_clear_error, test_inconsistent_lengths_are_named),
tests/labels/test_xtb.py (test_bad_structures_raise_named_errors), tests/labels/test_runner.py
(test_failures_are_recorded_and_the_rest_succeeds), tests/test_evaluate.py
(test_unknown_element_names_element_and_structures).
"""

import json
import re

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms
from faultkit import BAD_FRAMES, GOOD_XYZ, tiny_config, waters

from orbjax.data.dataset import read_dataset, write_dataset
from orbjax.data.readers import ReadError, read_structures, read_structures_with_failures
from orbjax.data.structures import StructureError
from orbjax.labels.runner import label_structures
from orbjax.potential import UnknownElementError  # a ValueError
from orbjax.training.data import load_splits


# ----------------------------------------------------------------------------- reader
@pytest.mark.parametrize("kind", sorted(BAD_FRAMES))
def test_reader_names_file_structure_and_problem(tmp_path, kind):
    text, problem = BAD_FRAMES[kind]
    path = tmp_path / "in.extxyz"
    path.write_text(GOOD_XYZ + text)
    with pytest.raises(StructureError) as err:
        read_structures(path)
    assert "in.extxyz:1" in str(err.value) and problem in str(err.value), str(err.value)
    assert err.value.name == "in.extxyz:1"


def test_reader_skip_keeps_every_good_frame_and_names_every_bad_one(tmp_path):
    # truncation ends a file
    kinds = [k for k in sorted(BAD_FRAMES) if k != "truncated"] + ["truncated"]
    text = "".join(GOOD_XYZ + BAD_FRAMES[k][0] for k in kinds)
    path = tmp_path / "mixed.extxyz"
    path.write_text(text)
    good, bad = read_structures_with_failures(path)
    assert [s.name for s in good] == [f"mixed.extxyz:{2 * i}" for i in range(len(kinds))]
    assert [name for name, _ in bad] == [f"mixed.extxyz:{2 * i + 1}" for i in range(len(kinds))]
    for kind, (_, reason) in zip(kinds, bad):
        assert BAD_FRAMES[kind][1] in reason, (kind, reason)


# ----------------------------------------------------------------------------- orbjax HDF5
def _edit(path, name, change):
    with h5py.File(path, "a") as f:
        data, attrs = f[name][()], dict(f[name].attrs)
        del f[name]
        f[name] = change(data)
        f[name].attrs.update(attrs)


def test_one_bad_structure_in_a_dataset_file_loses_only_itself(tmp_path):
    """E.g. a file written before a validation rule was tightened, or edited by another tool."""
    path = tmp_path / "set.h5"
    write_dataset(path, waters(5))
    # w2, atom 1
    _edit(path, "atoms/positions", lambda p: np.where(np.arange(len(p))[:, None] == 7, np.inf, p))
    with pytest.raises(
        ReadError, match=r"set\.h5, structure 'w2': non-finite \(NaN/inf\) position at atom 1"
    ):
        read_structures(path)
    good, bad = read_structures_with_failures(path)
    assert [s.name for s in good] == ["w0", "w1", "w3", "w4"]
    assert [name for name, _ in bad] == ["w2"]
    np.testing.assert_array_equal(good[2].labels["forces"], waters(5)[3].labels["forces"])


def test_dataset_with_a_truncated_per_atom_array_is_refused_whole(tmp_path):
    path = tmp_path / "cut.h5"
    write_dataset(path, waters(4))
    _edit(path, "labels/forces", lambda f: f[:-1])
    with pytest.raises(ReadError, match=r"cut\.h5.*'forces' \(atom\) has 11 rows, expected 12"):
        read_structures(path)
    good, bad = read_structures_with_failures(path)  # never a silent partial load
    assert good == [] and len(bad) == 1 and "11 rows" in bad[0][1]
    config = tiny_config(path)
    config.data.on_error = "skip"
    with pytest.raises(
        ValueError, match=r"empty training or validation split.*1 left out.*11 rows"
    ):
        # training does not start on nothing
        load_splits(config.data, config.model.cutoff, config.seed)


def test_truncated_dataset_file_is_refused(tmp_path):
    path = tmp_path / "half.h5"
    write_dataset(path, waters(4))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ReadError, match=r"half\.h5.*(corrupt or truncated)"):
        read_structures(path)


# ----------------------------------------------------------------------------- labelling job
def _broken(s, name, **arrays):
    """`s` renamed and edited after validation, as a buggy pipeline could (Structure refuses
    them)."""
    s = s.replace(name=name)
    for key, value in arrays.items():
        setattr(s, key, value)
    return s


def test_labelling_job_records_every_bad_structure_and_labels_the_rest(tmp_path):
    w = waters(4)
    inf = w[1].positions.copy()
    inf[0, 2] = np.inf
    structures = [
        w[0],
        _broken(w[1], "Z=0", atomic_numbers=np.array([8, 0, 1])),
        _broken(w[1], "Z<0", atomic_numbers=np.array([8, -3, 1])),
        w[1],
        _broken(w[2], "inf", positions=inf),
        _broken(
            w[2],
            "flat-cell",
            cell=np.array([[3.0, 0, 0], [6.0, 0, 0], [0, 0, 3]]),
            pbc=np.ones(3, bool),
        ),
        w[2].replace(name="charge", charge=9),  # fine for Structure (10 electrons), not for xTB (8)
        _broken(w[3], "multiplicity-0", multiplicity=0),
        w[3],
    ]
    unreadable = [("in.extxyz:12", "structure 'in.extxyz:12': overlapping atoms")]
    report = label_structures(
        structures,
        tmp_path / "out.h5",
        n_workers=1,
        chunk_size=4,
        progress=False,
        unreadable=unreadable,
    )
    # the unreadable frame is a failure too
    assert (report.n_labelled, report.n_failed, report.n_unreadable) == (3, 7, 1)
    back, attrs = read_dataset(tmp_path / "out.h5")
    assert [s.name for s in back] == ["w0", "w1", "w3"] and attrs["n_failed"] == 7
    assert [s.info["source_index"] for s in back] == [0, 3, 8]
    records = [json.loads(line) for line in report.failures_path.read_text().splitlines()]
    assert records[0] == {"index": None, "name": "in.extxyz:12", "reason": unreadable[0][1]}
    expected = {
        1: "unknown element Z=0",
        2: "unknown element Z=-3",
        4: "non-finite",
        5: "zero volume",
        6: "removes more electrons than the 8 valence",
        7: "multiplicity 0",
    }
    assert {r["index"]: r["name"] for r in records[1:]} == {i: structures[i].name for i in expected}
    for r in records[1:]:
        assert re.search(expected[r["index"]], r["reason"]), r


def test_label_cli_records_unreadable_frames_and_goes_on(tmp_path):
    from orbjax.label import main

    (tmp_path / "in.extxyz").write_text(GOOD_XYZ + BAD_FRAMES["overlap"][0] + GOOD_XYZ)
    assert main([str(tmp_path / "in.extxyz"), str(tmp_path / "out.h5"), "--workers", "1"]) == 0
    assert len(read_dataset(tmp_path / "out.h5")[0]) == 2
    record = json.loads((tmp_path / "out.h5.failures.jsonl").read_text())
    assert record["name"] == "in.extxyz:1" and "overlapping" in record["reason"]


# ----------------------------------------------------------------------------- potential
@pytest.fixture(scope="module")
def potential():
    """A randomly initialised potential for H, C, O: no training needed to test its guards."""
    from orbjax.model.build import init_params
    from orbjax.model.orbital_mlip import ModelConfig, OrbitalMLIP
    from orbjax.model.statistics import Statistics
    from orbjax.potential import Potential

    statistics = Statistics(species=(1, 6, 8), atomic_energies=(-13.6, -1029.0, -2041.0))
    config = ModelConfig(
        channels=4,
        l_max=1,
        n_layers=1,
        cutoff=3.0,
        n_basis=4,
        radial_hidden=8,
        readout_hidden=4,
        n_species=3,
    )
    model = OrbitalMLIP(config)
    return Potential.create(model, init_params(model, 0), statistics)


WATER = waters(1)[0].positions


@pytest.fixture(scope="module")
def calculator(potential):
    from orbjax.potential import OrbjaxCalculator

    return OrbjaxCalculator(potential)  # shared: one compilation for all water-sized tests


@pytest.fixture(scope="module")
def jitted(potential):
    return jax.jit(potential.energy_forces_stress)  # atomic numbers traced: no Python-side checks


def _calculate(calculator, atoms):
    atoms.calc = calculator
    return atoms.get_potential_energy(), atoms.get_forces()


@pytest.mark.parametrize(
    "numbers, named",
    [([16, 1, 1], r"S \(Z=16\)"), ([0, 1, 1], r"\? \(Z=0\)"), ([92, 1, 1], r"U \(Z=92\)")],
)
def test_potential_refuses_elements_it_never_saw(potential, calculator, numbers, named):
    with pytest.raises(
        UnknownElementError,
        match=r"unknown to this model, which was trained on H \(Z=1\), C \(Z=6\), O \(Z=8\) only: "
        rf"{named} in ",
    ):
        _calculate(calculator, Atoms(numbers=numbers, positions=WATER))
    with pytest.raises(UnknownElementError, match=named):
        potential.energy_forces_stress(WATER, np.array(numbers))
    energy, forces = _calculate(calculator, Atoms("OH2", positions=WATER))  # not a blanket refusal
    assert np.isfinite(energy) and np.isfinite(forces).all()


def test_traced_unknown_element_gives_nan_not_a_wrong_number(jitted):
    out = jitted(jnp.asarray(WATER), jnp.array([16, 1, 1]))
    assert np.isnan(out["energy"]) and np.isnan(out["forces"]).all()
    assert np.isfinite(jitted(jnp.asarray(WATER), jnp.array([8, 1, 1]))["energy"])


def test_nan_positions_never_give_a_finite_energy_from_the_pure_function(jitted):
    positions = WATER.copy()
    positions[1, 0] = np.nan
    out = jitted(jnp.asarray(positions), jnp.array([8, 1, 1]))
    assert np.isnan(out["energy"]) and np.isnan(out["forces"]).any()


def _bad_atoms():
    nan, inf, close = WATER.copy(), WATER.copy(), WATER.copy()
    nan[1, 0], inf[2, 2] = np.nan, np.inf
    close[1] = close[0] + [0.0, 0.0, 0.05]
    flat = [[3.0, 0, 0], [6.0, 0, 0], [0, 0, 3.0]]
    return {
        "nan": (Atoms("OH2", positions=nan), "non-finite"),
        "inf": (Atoms("OH2", positions=inf), "non-finite"),
        "overlap": (Atoms("OH2", positions=close), "overlapping"),
        "empty": (Atoms(), "empty"),
        "zero-volume": (Atoms("OH2", positions=WATER, cell=flat, pbc=True), "zero volume"),
    }


@pytest.mark.parametrize("kind", sorted(_bad_atoms()))
def test_calculator_refuses_bad_geometry_with_a_named_error(calculator, kind):
    atoms, problem = _bad_atoms()[kind]
    with pytest.raises(StructureError, match=problem):
        _calculate(calculator, atoms)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_pure_function_refuses_a_concrete_zero_volume_cell(potential):
    flat = np.array([[3.0, 0, 0], [6.0, 0, 0], [0, 0, 3.0]])
    with pytest.raises(ValueError, match="zero volume"):
        potential.energy_forces_stress(WATER, np.array([8, 1, 1]), flat, np.ones(3, bool))
