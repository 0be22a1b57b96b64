"""Committees (orbjax/potential/committee.py): one vmapped compiled function for M members,
their mean and spread, refusal of members that differ, the ASE calculator, and the jitted MD
that stops or writes frames when the force spread crosses a threshold."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

import orbjax
from orbjax.config import load_config_module
from orbjax.model.build import create_model, init_params
from orbjax.model.io import TrainedModel, save_model_file
from orbjax.model.statistics import Statistics
from orbjax.potential.committee import CommitteeError, committee_dense_efs_jit
from tests.test_model_core import E0, ROOT, SPECIES, cluster, random_model_file

WATER = (np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]]), np.array([8, 1, 1]))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Three random members (E0s differ per member) and a copy of the first."""
    folder = tmp_path_factory.mktemp("committee")
    out = [
        random_model_file(folder / f"m{s}.orbjax", s, e0=tuple(x + 0.1 * s for x in E0))
        for s in (0, 1, 2)
    ]
    return out + [random_model_file(folder / "m0_again.orbjax", 0)]


def test_the_mean_is_the_average_of_the_members_alone(files):
    committee = orbjax.load_committee(files[:3])
    positions, numbers = cluster(7, seed=3)
    out = committee.energy_forces_stress(positions, numbers)
    singles = [orbjax.load_potential(f).energy_forces_stress(positions, numbers) for f in files[:3]]
    energies = np.array([s["energy"] for s in singles])
    forces = np.array([np.asarray(s["forces"]) for s in singles])
    # float32 network, 10⁴ eV totals
    np.testing.assert_allclose(out["energies"], energies, rtol=0, atol=2e-3)
    np.testing.assert_allclose(out["energy"], energies.mean(), rtol=0, atol=2e-3)
    np.testing.assert_allclose(out["forces"], forces.mean(0), rtol=1e-5, atol=1e-5)
    sigma = np.sqrt(forces.var(0).sum(-1))
    np.testing.assert_allclose(out["forces_std"], sigma, rtol=1e-4, atol=1e-6)
    assert out["max_force_std"] == pytest.approx(sigma.max(), rel=1e-4)
    assert out["energy_std_per_atom"] == pytest.approx(energies.std() / 7, rel=1e-3, abs=1e-5)
    assert out["max_force_std"] > 1e-4  # different random members disagree
    # lax.map: same numbers
    looped = committee.replace(mode="map").energy_forces_stress(positions, numbers)
    np.testing.assert_allclose(looped["forces"], out["forces"], atol=1e-5)
    np.testing.assert_allclose(looped["energies"], out["energies"], atol=1e-4)


def test_batched_structures_give_what_one_structure_at_a_time_gives(files):
    from orbjax.data.structures import Structure

    committee = orbjax.load_committee(files[:3])
    structures = [
        Structure(atomic_numbers=z, positions=r, name=f"cluster {n}")
        for n in (4, 9, 6, 5)
        for r, z in [cluster(n, seed=n)]
    ]
    batched = committee.predict_structures(structures, batch_size=3)
    for s, b in zip(structures, batched):
        one = committee.energy_forces_stress(s.positions, s.atomic_numbers)
        np.testing.assert_allclose(b["energies"], one["energies"], rtol=0, atol=2e-3)
        np.testing.assert_allclose(b["member_forces"], one["member_forces"], atol=1e-4)
        np.testing.assert_allclose(b["forces_std"], one["forces_std"], rtol=1e-3, atol=1e-5)
        assert b["max_force_std"] > 1e-4


def test_identical_members_have_zero_spread(files):
    committee = orbjax.load_committee([files[0], files[3]])
    out = committee.energy_forces_stress(*WATER)
    assert out["max_force_std"] == 0.0 and out["energy_std_per_atom"] == 0.0
    np.testing.assert_array_equal(out["forces_std"], np.zeros(3))


def test_one_compilation_serves_every_committee_of_one_architecture(files):
    positions, numbers = cluster(5, seed=1)
    orbjax.load_committee(files[:2]).energy_forces_stress(positions, numbers)
    before = committee_dense_efs_jit._cache_size()
    orbjax.load_committee([files[2], files[1]]).energy_forces_stress(positions, numbers)
    assert committee_dense_efs_jit._cache_size() == before


def _model_file(path, config_changes=(), species=SPECIES):
    config = load_config_module(str(ROOT / "configs" / "test.py")).get_config()
    for key, value in config_changes:
        config.model[key] = value
    e0 = tuple(-10.0 * z for z in species)
    statistics = Statistics(
        species=species, atomic_energies=e0, energy_scale=1.0, avg_num_neighbors=8.0
    )
    model = create_model(config, statistics)
    variables = {**init_params(model, 0), "statistics": statistics.arrays()}
    return save_model_file(TrainedModel(model, variables, config, statistics, step=0), path)


def test_a_member_with_other_elements_or_architecture_is_refused_by_name(files, tmp_path):
    other_elements = _model_file(tmp_path / "hcno.orbjax", species=(1, 6, 7, 8))
    with pytest.raises(CommitteeError, match=r"hcno\.orbjax: has elements Z=\[1, 6, 7, 8\]"):
        orbjax.load_committee([files[0], other_elements])
    wider = _model_file(tmp_path / "wide.orbjax", [("channels", 16)])
    with pytest.raises(
        CommitteeError, match=r"wide\.orbjax: has another architecture \(.*channels=16"
    ):
        orbjax.load_committee([files[0], files[1], wider])
    with pytest.raises(CommitteeError, match="at least 2"):
        orbjax.load_committee([files[0]])


def test_the_calculator_gives_the_committee_and_its_spread(files):
    committee = orbjax.load_committee(files[:3])
    positions, numbers = cluster(6, seed=2)
    atoms = Atoms(numbers, positions)
    atoms.calc = orbjax.CommitteeCalculator(committee)
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    direct = committee.energy_forces_stress(positions, numbers)
    assert energy == pytest.approx(direct["energy"], abs=2e-3)
    np.testing.assert_allclose(forces, direct["forces"], atol=1e-4)
    results = atoms.calc.results
    np.testing.assert_allclose(results["forces_std"], direct["forces_std"], atol=1e-4)
    assert results["max_force_std"] == pytest.approx(direct["max_force_std"], abs=1e-4)
    assert results["energy_std_per_atom"] == pytest.approx(direct["energy_std_per_atom"], abs=1e-4)
    assert results["energies"].shape == (3,) and results["forces_std"].shape == (6,)
    box = Atoms(numbers, positions + 1.0, cell=np.eye(3) * 12.0, pbc=True)  # periodic: stress
    box.calc = orbjax.CommitteeCalculator(files[:2])
    assert box.get_stress().shape == (6,) and np.isfinite(box.calc.results["max_force_std"])


def _md(files, tmp_path, name, *extra):
    from ase.io import write

    from orbjax.md import main

    structure = tmp_path / "cluster.extxyz"
    write(structure, Atoms(*cluster(6, seed=4)[::-1]))
    out = tmp_path / name
    code = main(
        [
            "--model",
            *map(str, files),
            "--structure",
            str(structure),
            "--steps",
            "6",
            "--interval",
            "2",
            "--timestep",
            "0.1",
            "--no-progress",
            "--out",
            str(out),
            *extra,
        ]
    )
    return code, out


def test_committee_md_logs_the_spread_and_stops_or_writes_at_the_threshold(files, tmp_path):
    import csv

    from ase.io import read

    code, out = _md(files[:3], tmp_path, "never", "--uncertainty-threshold", "1e9")
    rows = list(csv.DictReader(open(out / "thermo.csv")))
    assert code == 0 and [int(r["step"]) for r in rows] == [0, 2, 4, 6]
    assert all(float(r["max_force_std_eV_A"]) > 0 for r in rows)
    assert not (out / "uncertain.extxyz").exists() and not (out / "stopped.json").exists()

    code, out = _md(files[:3], tmp_path, "at_once", "--uncertainty-threshold", "0")
    rows = list(csv.DictReader(open(out / "thermo.csv")))
    assert code == 0 and [int(r["step"]) for r in rows] == [0]
    assert [f.info["step"] for f in read(out / "uncertain.extxyz", index=":")] == [0]
    assert '"step": 0' in (out / "stopped.json").read_text()
    code, out = _md(files[:3], tmp_path, "at_once", "--uncertainty-threshold", "0")  # again
    assert code == 0 and len(list(csv.DictReader(open(out / "thermo.csv")))) == 1  # stays stopped

    code, out = _md(
        files[:3], tmp_path, "write", "--uncertainty-threshold", "0", "--on-uncertain", "write"
    )
    assert code == 0 and len(list(csv.DictReader(open(out / "thermo.csv")))) == 4
    assert [f.info["step"] for f in read(out / "uncertain.extxyz", index=":")] == [0, 2, 4, 6]

    code, out = _md(files[:1], tmp_path, "single", "--uncertainty-threshold", "0.1")
    assert code == 1 and not out.exists()  # one-line error, no empty --out


def test_committee_md_of_identical_members_is_the_single_models_md(files, tmp_path):
    import csv

    _, one = _md(files[:1], tmp_path, "one")
    _, two = _md([files[0], files[3]], tmp_path, "two")
    single, pair = (list(csv.DictReader(open(d / "thermo.csv"))) for d in (one, two))
    assert [float(r["max_force_std_eV_A"]) for r in pair] == [
        0.0
    ] * 4 and "max_force_std_eV_A" not in single[0]
    for a, b in zip(single, pair):
        assert float(a["total_energy_eV"]) == pytest.approx(float(b["total_energy_eV"]), abs=1e-4)


def test_committee_npt_of_identical_members_is_the_single_models_npt(files):
    """The NPT path (stress from every member on one list): identical members give the single
    model's trajectory and zero spread; different members a positive one."""
    from orbjax.potential.dynamics import MolecularDynamics

    positions, numbers = cluster(8, seed=5)
    atoms = Atoms(numbers, positions + 2.0, cell=np.eye(3) * 9.0, pbc=True)
    single = orbjax.load_potential(files[0])

    def run(potential):
        md = MolecularDynamics.create(potential, atoms, "npt", timestep=0.1, temperature=100.0)
        state, nbrs = md.initial_state(atoms.positions, md.maxwell_boltzmann(100.0, seed=0))
        for state, nbrs in md.run(state, nbrs, 3, 3):
            pass
        return md.thermo(state), state

    (one, s1), (two, s2) = run(single), run(orbjax.load_committee([files[0], files[3]]))
    assert two["max_force_std_eV_A"] == 0.0 and "max_force_std_eV_A" not in one
    for key in ("potential_energy_eV", "volume_A3", "pressure_GPa"):
        assert two[key] == pytest.approx(one[key], rel=1e-5, abs=1e-5)
    np.testing.assert_allclose(np.asarray(s2.stress), np.asarray(s1.stress), atol=1e-6)
    assert run(orbjax.load_committee(files[:2]))[0]["max_force_std_eV_A"] > 0
