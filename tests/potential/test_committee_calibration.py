"""A calibrated committee (`load_committee(paths, calibration=...)`): its reported spreads are
the raw ones times the fitted scale, the raw ones stay available, and the mean is unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms

import orbjax
from orbjax.potential.committee import read_calibration
from tests.test_model_core import cluster, random_model_file


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calibrated")
    return [random_model_file(folder / f"m{s}.orbjax", s) for s in (0, 1)]


def test_the_scale_multiplies_the_reported_spreads_and_keeps_the_raw_ones(files, tmp_path):
    positions, numbers = cluster(5, seed=1)
    raw = orbjax.load_committee(files).energy_forces_stress(positions, numbers)
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"forces": 2.5, "energy": 0.5, "fitted_on": "validation"}))
    committee = orbjax.load_committee(files, calibration=path)
    assert committee.calibration == (2.5, 0.5)
    out = committee.energy_forces_stress(positions, numbers)
    assert raw["max_force_std"] > 0 and raw["energy_std_per_atom"] > 0
    np.testing.assert_allclose(out["forces_std"], 2.5 * raw["forces_std"], rtol=1e-12)
    assert out["max_force_std"] == pytest.approx(2.5 * raw["max_force_std"], rel=1e-12)
    assert out["energy_std_per_atom"] == pytest.approx(0.5 * raw["energy_std_per_atom"], rel=1e-12)
    np.testing.assert_array_equal(out["forces_std_raw"], raw["forces_std"])
    assert out["max_force_std_raw"] == raw["max_force_std"] == raw["max_force_std_raw"]
    assert out["energy_std_per_atom_raw"] == raw["energy_std_per_atom"]
    np.testing.assert_array_equal(out["forces"], raw["forces"])
    assert out["energy"] == raw["energy"]
    # kept through replace(), dropped by calibrated(None); the calculator reports both
    assert committee.replace(mode="map").calibration == (2.5, 0.5)
    assert committee.calibrated(None).calibration == (1.0, 1.0)
    atoms = Atoms(numbers, positions)
    atoms.calc = orbjax.CommitteeCalculator(orbjax.load_committee(files, calibration=3.0))
    atoms.get_forces()
    res = atoms.calc.results
    np.testing.assert_allclose(res["forces_std"], 3.0 * res["forces_std_raw"], rtol=1e-12)
    assert res["max_force_std"] == pytest.approx(3.0 * res["max_force_std_raw"], rel=1e-12)


def test_a_bad_calibration_is_refused_in_one_line(tmp_path):
    assert read_calibration(None) == (1.0, 1.0)
    assert read_calibration({"forces": 2.0}) == (2.0, 1.0)
    with pytest.raises(ValueError, match="'forces' must be a finite number > 0"):
        read_calibration({"forces": -1.0})
    with pytest.raises(FileNotFoundError, match="no such calibration file"):
        read_calibration(tmp_path / "missing.json")
    with pytest.raises(TypeError):
        read_calibration(True)
