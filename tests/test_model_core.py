"""The model core: model files load without training code, statistics are arrays (models of
one architecture share compilations), totals are formed in float64, format-1 files still load."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import orbjax
from orbjax.config import load_config_module
from orbjax.model.build import create_model, init_params
from orbjax.model.file import FORMAT_VERSION, read_model_file
from orbjax.model.io import TrainedModel, save_model_file
from orbjax.model.statistics import Statistics
from orbjax.potential.dense import dense_efs_jit

ROOT = Path(__file__).resolve().parents[1]
SPECIES = (1, 6, 8)
E0 = (-13.6, -1029.0, -2041.0)  # eV: realistic magnitudes, so totals reach 10⁴–10⁵ eV


def random_model_file(path, seed: int, e0=E0) -> Path:
    """configs/test.py's architecture with random weights and realistic statistics."""
    config = load_config_module(str(ROOT / "configs" / "test.py")).get_config()
    statistics = Statistics(
        species=SPECIES, atomic_energies=e0, energy_scale=1.0, avg_num_neighbors=8.0
    )
    model = create_model(config, statistics)
    variables = {**init_params(model, seed), "statistics": statistics.arrays()}
    return save_model_file(TrainedModel(model, variables, config, statistics, step=0), path)


def cluster(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A random compact H/C/O cluster of `n` atoms, every pair ≥ 1.0 Å apart."""
    rng = np.random.default_rng(seed)
    side = (n * 9.0) ** (1 / 3)
    positions = []
    while len(positions) < n:
        p = rng.uniform(0, side, 3)
        if all(np.linalg.norm(p - q) >= 1.0 for q in positions):
            positions.append(p)
    return np.array(positions), rng.choice(SPECIES, n)


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("core")
    return [
        random_model_file(folder / f"m{seed}.orbjax", seed, e0=tuple(x + seed for x in E0))
        for seed in (0, 1)
    ]


def test_loading_a_model_file_imports_no_training_code(model_files):
    script = (
        "import sys, numpy as np, orbjax\n"
        f"p = orbjax.load_potential({str(model_files[0])!r})\n"
        "out = p.energy_forces_stress(np.array([[0., 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]), "
        "np.array([8, 1, 1]))\n"
        "assert np.isfinite(out['energy'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('orbjax.training')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_second_model_of_the_same_architecture_compiles_nothing(model_files):
    positions, numbers = cluster(12, seed=3)
    first = orbjax.load_potential(model_files[0])
    e1 = first.energy_forces_stress(positions, numbers)
    compiled = dense_efs_jit._cache_size()
    second = orbjax.load_potential(model_files[1])
    e2 = second.energy_forces_stress(positions, numbers)
    assert dense_efs_jit._cache_size() == compiled
    # other weights and E0s: really another model
    assert abs(float(e1["energy"]) - float(e2["energy"])) > 1.0
    assert not np.allclose(np.asarray(e1["forces"]), np.asarray(e2["forces"]))
    third = orbjax.load_potential(model_files[0])  # the first, loaded again
    np.testing.assert_array_equal(
        np.asarray(third.energy_forces_stress(positions, numbers)["forces"]),
        np.asarray(e1["forces"]),
    )
    assert dense_efs_jit._cache_size() == compiled


def test_totals_of_a_hundred_atoms_are_exact_in_float32(model_files):
    """Central differences at 10⁻³ Å along the forces of a 105-atom cluster (total ~ −7×10⁴ eV)
    match −2h·F·d to 1 %, and 10⁻⁴ Å steps lower the energy monotonically, with the network
    in float32: Σ E0 is added in float64. The same totals formed in float32 miss by far more."""
    potential = orbjax.load_potential(model_files[0])
    assert potential.dtype == np.float32
    positions, numbers = cluster(105, seed=1)
    out = potential.energy_forces_stress(positions, numbers)
    forces = np.asarray(out["forces"], np.float64)
    assert abs(float(out["energy"])) > 3e4 and isinstance(
        out["energy"], np.floating | np.ndarray | float
    )
    direction = forces / np.linalg.norm(forces)
    h = 1e-3

    def energy(x):
        return float(potential.energy_forces_stress(x, numbers)["energy"])

    expected = -2 * h * float(np.sum(forces * direction))
    difference = energy(positions + h * direction) - energy(positions - h * direction)
    assert difference == pytest.approx(expected, rel=0.01)
    path = [energy(positions + k * 1e-4 * direction) for k in range(11)]
    assert all(b < a for a, b in zip(path, path[1:])), np.diff(path)
    # Teeth: the float32 total of the same two points cannot resolve the difference.
    reference = potential.reference_energy(numbers)

    def float32_total(x):
        network = np.float32(potential.energy_forces_stress(x, numbers)["energy"] - reference)
        return float(np.float32(network) + np.float32(reference))

    crude = float32_total(positions + h * direction) - float32_total(positions - h * direction)
    assert abs(crude - expected) > 0.01 * abs(expected)


def test_format_1_files_load_and_predict_as_their_format_2_copy(model_files, tmp_path):
    """A format-1 file (parameters only; statistics from the JSON header) gives the numbers
    of the same model written as format 2."""
    f = read_model_file(model_files[0])
    assert f.version == FORMAT_VERSION == 2 and "statistics" in f.params
    old = tmp_path / "format1.orbjax"
    _write_format_1(old, f)
    assert read_model_file(old).version == 1
    positions, numbers = cluster(9, seed=5)
    new_out = orbjax.load_potential(model_files[0]).energy_forces_stress(positions, numbers)
    old_out = orbjax.load_potential(old).energy_forces_stress(positions, numbers)
    assert float(old_out["energy"]) == float(new_out["energy"])
    np.testing.assert_array_equal(np.asarray(old_out["forces"]), np.asarray(new_out["forces"]))


def _write_format_1(path: Path, f) -> None:
    """The format-1 layout: the same frame and checksum, the parameters alone."""
    arrays, blobs, offset = [], [], 0

    def walk(tree, prefix):
        nonlocal offset
        for key in sorted(tree):
            value = tree[key]
            if isinstance(value, dict):
                walk(value, prefix + [key])
                continue
            a = np.ascontiguousarray(value).astype(np.asarray(value).dtype.newbyteorder("<"))
            arrays.append(
                {
                    "path": prefix + [key],
                    "dtype": a.dtype.str,
                    "shape": list(a.shape),
                    "offset": offset,
                    "nbytes": a.nbytes,
                }
            )
            blobs.append(a.tobytes())
            offset += a.nbytes

    walk({"params": f.params["params"]}, [])
    header = {k: v for k, v in f.header.items() if k not in ("arrays", "levels")}
    header.update(format_version=1, arrays=arrays)
    text = json.dumps(header).encode()
    body = struct.pack("<8sIIQQ", b"ORBJAXM\0", 1, 0, len(text), offset) + text + b"".join(blobs)
    path.write_bytes(body + hashlib.sha256(body).digest())


def test_statistics_of_old_runs_read_as_one_level():
    old = json.dumps(
        {
            "species": [1, 8],
            "atomic_energies": [-13.0, -2040.0],
            "energy_scale": 0.5,
            "avg_num_neighbors": 3.0,
            "charge_means": [],
            "charge_scales": [],
            "e0_source": "least_squares",
        }
    )
    s = Statistics.from_json(old)
    assert (
        s.levels == ("dft",)
        and s.atomic_energies == ((-13.0, -2040.0),)
        and s.energy_scale == (0.5,)
    )
    assert s.reference_energy([8, 1, 1]) == pytest.approx(-2066.0)
    with pytest.raises(ValueError, match="level 'gfn1' is not one of"):
        s.level_index("gfn1")
