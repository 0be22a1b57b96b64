"""The jitted MD (orbjax.potential.dynamics): it follows the ASE path step by step, conserves
energy in NVE, survives a neighbour-list overflow without changing the trajectory, and a
run of `python -m orbjax.md` resumed from its directory equals an uninterrupted one."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from ase import units
from ase.io import read, write
from ase.md.verlet import VelocityVerlet

import orbjax
from orbjax.potential.dynamics import MolecularDynamics
from tests.potential.test_neighbour_list import chno_molecule, skewed_cell
from tests.potential.test_potential import train_tiny_model


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return train_tiny_model(tmp_path_factory)


@pytest.fixture(scope="module")
def potential(workdir):
    return orbjax.load_potential(workdir)


def test_jitted_nve_follows_the_ase_trajectory(workdir):
    """float64, a periodic skewed cell narrower than 2×cutoff: same positions for 6 steps."""
    pot = orbjax.load_potential(workdir, dtype="float64")
    atoms = skewed_cell()
    md = MolecularDynamics.create(pot, atoms, "nve", timestep=0.5, skin=0.1)
    v0 = md.maxwell_boltzmann(600.0, seed=1)  # Å/fs
    state, nbrs = md.initial_state(atoms.positions, v0)
    ours = [np.asarray(s.positions) for s, _ in md.run(state, nbrs, 6, interval=1)]

    atoms.set_velocities(v0 / units.fs)
    atoms.calc = orbjax.OrbjaxCalculator(pot)
    theirs = []
    dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    dyn.attach(lambda: theirs.append(atoms.positions.copy()))
    dyn.run(6)
    theirs = theirs[1:]  # ASE also calls at step 0
    assert (
        np.abs(theirs[-1] - atoms.positions).max() == 0
        and np.abs(theirs[-1] - theirs[0]).max() > 0.01
    )
    np.testing.assert_allclose(np.stack(ours), np.stack(theirs), atol=1e-8)


def test_nve_conserves_energy_and_rebuilds_its_list(potential):
    """400 steps of 0.5 fs from 300 K, 18-atom molecule, float32 (the bound of test_md.py)."""
    atoms = chno_molecule()
    md = MolecularDynamics.create(potential, atoms, "nve", timestep=0.5, skin=0.2)
    state, nbrs = md.initial_state(atoms.positions, md.maxwell_boltzmann(300.0, seed=0))
    thermo = [md.thermo(state)]
    for state, nbrs in md.run(state, nbrs, 400, interval=10):
        thermo.append(md.thermo(state))
    total = np.array([t["total_energy_eV"] for t in thermo])
    kinetic = np.array([t["kinetic_energy_eV"] for t in thermo])
    assert len(total) == 41 and int(nbrs.n_builds) > 3  # the list was rebuilt inside the loop
    swing, drift = np.ptp(kinetic), np.abs(total - total[0]).max()
    assert swing > 0.02
    assert drift < min(0.05 * swing, 0.01), (drift, swing)


def test_overflow_inside_the_loop_is_recovered_without_changing_the_trajectory(potential):
    atoms = chno_molecule()
    md = MolecularDynamics.create(
        potential, atoms, "nvt", timestep=0.5, temperature=300.0, friction=0.05
    )
    v0 = md.maxwell_boltzmann(300.0, seed=2)
    state, nbrs = md.initial_state(atoms.positions, v0)
    reference = [np.asarray(s.positions) for s, _ in md.run(state, nbrs, 20, interval=5)]
    assert md.reallocations == 0

    small = md.builder.allocate(1.7 * atoms.positions)  # sparse geometry: too small a list
    assert small.capacity < nbrs.capacity
    got = [(np.asarray(s.positions), n.capacity) for s, n in md.run(state, small, 20, interval=5)]
    assert md.reallocations >= 1 and got[0][1] > small.capacity
    np.testing.assert_allclose(np.stack([g[0] for g in got]), np.stack(reference), atol=1e-5)


def test_langevin_brings_the_temperature_to_the_target(potential):
    """From rest, strong friction (0.5/fs): the mean temperature of the last 150 of 300 steps
    is within 30 % of 300 K (a unit error in the noise or the kinetic energy is ×10 off)."""
    atoms = chno_molecule()
    md = MolecularDynamics.create(
        potential, atoms, "nvt", timestep=0.5, temperature=300.0, friction=0.5
    )
    state, nbrs = md.initial_state(atoms.positions, np.zeros((len(atoms), 3)))
    temperatures = [md.thermo(s)["temperature_K"] for s, _ in md.run(state, nbrs, 300, interval=5)]
    assert abs(np.mean(temperatures[30:]) - 300.0) < 90.0, np.mean(temperatures[30:])


def read_thermo(path):
    with open(path) as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def test_the_command_line_resumes_where_it_stopped(workdir, tmp_path):
    from orbjax.md import main

    structure = tmp_path / "molecule.extxyz"
    write(structure, chno_molecule())
    common = [
        "--model",
        workdir,
        "--structure",
        str(structure),
        "--ensemble",
        "nvt",
        "--temperature",
        "300",
        "--timestep",
        "0.5",
        "--interval",
        "5",
        "--no-progress",
    ]
    assert main(common + ["--steps", "20", "--out", str(tmp_path / "straight")]) == 0
    assert main(common + ["--steps", "10", "--out", str(tmp_path / "resumed")]) == 0
    with open(tmp_path / "resumed" / "trajectory.extxyz", "a") as f:
        f.write("18\npartial frame of a run killed while writing\n")  # must be cut on resume
    assert main(common + ["--steps", "20", "--out", str(tmp_path / "resumed")]) == 0

    straight = read_thermo(tmp_path / "straight" / "thermo.csv")
    resumed = read_thermo(tmp_path / "resumed" / "thermo.csv")
    assert [r["step"] for r in resumed] == [0, 5, 10, 15, 20] == [r["step"] for r in straight]
    for a, b in zip(straight, resumed):
        assert abs(a["total_energy_eV"] - b["total_energy_eV"]) < 1e-4
    frames = read(tmp_path / "resumed" / "trajectory.extxyz", index=":")
    assert [f.info["step"] for f in frames] == [0, 5, 10, 15, 20]
    last = read(tmp_path / "straight" / "trajectory.extxyz", index=-1)
    np.testing.assert_allclose(frames[-1].positions, last.positions, atol=1e-4)
    assert np.abs(frames[-1].positions - frames[0].positions).max() > 0.01  # it moved
    # Each frame carries the potential energy of its thermo line and the forces (eV, eV/Å).
    assert [f.get_potential_energy() for f in frames] == pytest.approx(
        [r["potential_energy_eV"] for r in resumed], abs=1e-6
    )
    assert (
        frames[-1].get_forces().shape == (len(frames[-1]), 3)
        and np.abs(frames[-1].get_forces()).max() > 0
    )
    # --debug: the error itself, not one line
    with pytest.raises(ValueError, match="other settings"):
        main(
            common[:-1]
            + [
                "--steps",
                "30",
                "--out",
                str(tmp_path / "resumed"),
                "--seed",
                "1",
                "--no-progress",
                "--debug",
            ]
        )
