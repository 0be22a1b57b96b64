"""NPT in the jitted MD (stochastic cell rescaling, orbjax.potential.barostat): the barostat
samples the isobaric volume distribution, switched off it is NVT, under pressure and tension
the cell shrinks and grows while the neighbour list stays exact (also across re-centring),
and `python -m orbjax.md --ensemble npt` resumes with its cell."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import units
from ase.io import read, write

import orbjax
from orbjax.potential.barostat import GPA, instantaneous_pressure, log_volume_increment
from orbjax.potential.dynamics import NPT_RANGE, MolecularDynamics
from tests.potential.test_dynamics import read_thermo
from tests.potential.test_neighbour_list import skewed_cell, tiny_cell
from tests.potential.test_potential import train_tiny_model


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return train_tiny_model(tmp_path_factory)


@pytest.fixture(scope="module")
def potential64(workdir):
    return orbjax.load_potential(workdir, dtype="float64")


def test_the_barostat_samples_the_ideal_gas_volume_distribution():
    """N free particles (Langevin thermostat) at P0: V ~ Gamma(N + 1, kT/P0), so <V> = (N+1) kT/P0
    and var V = (N+1) (kT/P0)²; a stray k_BT/V term in the drift would give N + 2 (tested: 4 vs
    3)."""
    n, replicas, kT, p0, dt = 2, 1000, 1.0, 1.0, 0.005
    c1 = np.exp(-1.0 * dt)

    def step(carry, key):
        v, volume = carry
        k1, k2 = jax.random.split(key)
        pressure = instantaneous_pressure(
            0.5 * jnp.sum(v**2, axis=(1, 2)), jnp.zeros((3, 3)), volume
        )
        d = jax.vmap(lambda k, vol, p: log_volume_increment(k, vol, p, p0, kT, 1.0, 1.0, dt))(
            jax.random.split(k1, replicas), volume, pressure
        )
        v = v * jnp.exp(-d / 3)[:, None, None]
        v = c1 * v + np.sqrt(1 - c1**2) * jax.random.normal(k2, v.shape)
        volume = volume * jnp.exp(d)
        return (v, volume), volume

    with jax.enable_x64(True):  # float32 overflows in the rare steps at tiny volume
        keys = jax.random.split(jax.random.PRNGKey(0), 6000)
        start = (
            jax.random.normal(jax.random.PRNGKey(1), (replicas, n, 3), jnp.float64),
            jnp.full(replicas, 3.0),
        )
        _, volumes = jax.jit(lambda s, k: jax.lax.scan(step, s, k))(start, keys)
        sample = np.asarray(volumes[2000:]).ravel()
    assert abs(sample.mean() - (n + 1)) < 0.1, sample.mean()
    assert abs(sample.var() - (n + 1)) < 0.4, sample.var()


def test_npt_without_compressibility_is_the_nvt_trajectory(potential64):
    atoms = skewed_cell()
    nvt = MolecularDynamics.create(
        potential64, atoms, "nvt", timestep=0.5, temperature=300.0, friction=0.05
    )
    npt = MolecularDynamics.create(
        potential64,
        atoms,
        "npt",
        timestep=0.5,
        temperature=300.0,
        friction=0.05,
        compressibility=0.0,
    )
    v0 = nvt.maxwell_boltzmann(300.0, seed=3)
    runs = []
    for md in (nvt, npt):
        state, nbrs = md.initial_state(atoms.positions, v0)
        runs.append([np.asarray(s.positions) for s, _ in md.run(state, nbrs, 12, interval=4)])
    assert np.abs(runs[0][-1] - atoms.positions).max() > 0.01
    np.testing.assert_allclose(np.stack(runs[1]), np.stack(runs[0]), atol=1e-9)


@pytest.mark.slow  # ~1 min on CI; the default suite keeps its quicker siblings
def test_the_cell_shrinks_under_pressure_and_the_list_stays_exact(potential64):
    """The instantaneous pressure is 2K/3V minus the calculator's stress trace / 3. A target
    10 GPa above it shrinks the cell by more than the list's range (2 % in length), so the
    list is re-centred; energy, forces and stress of the last state equal the all-pairs
    function's in the last cell, whose shape is the first one's."""
    atoms = skewed_cell()
    probe = MolecularDynamics.create(potential64, atoms, "npt")
    v = probe.maxwell_boltzmann(300.0, seed=0)
    start = probe.thermo(probe.initial_state(atoms.positions, v)[0])
    atoms.calc = orbjax.OrbjaxCalculator(potential64)
    kinetic = 0.5 * np.sum(probe.masses[:, None] * v**2) / units.fs**2
    expected = 2 * kinetic / (3 * atoms.get_volume()) - np.trace(atoms.get_stress(voigt=False)) / 3
    assert start["volume_A3"] == pytest.approx(atoms.get_volume())
    assert start["pressure_GPa"] == pytest.approx(expected / GPA, rel=1e-6, abs=1e-6)

    md = MolecularDynamics.create(
        potential64,
        atoms,
        "npt",
        timestep=0.5,
        temperature=100.0,
        friction=0.05,
        pressure=(start["pressure_GPa"] + 10.0) * GPA,
        compressibility=0.03 / GPA,
        barostat_time=100.0,
    )
    state, nbrs = md.initial_state(atoms.positions, md.maxwell_boltzmann(100.0, seed=0))
    for state, nbrs in md.run(state, nbrs, 120, interval=20):
        pass
    shrunk = md.thermo(state)["volume_A3"] / atoms.get_volume()
    assert shrunk < 0.94 and md.reallocations >= 1, (shrunk, md.reallocations)
    cell = np.asarray(state.cell)
    np.testing.assert_allclose(cell / np.cbrt(shrunk), atoms.cell.array, atol=1e-9)  # shape kept
    with potential64.precision():
        dense = potential64.energy_forces_stress(state.positions, atoms.numbers, cell, atoms.pbc)
    # the state's energy has no Σ E0
    total = float(state.energy) + potential64.reference_energy(atoms.numbers)
    assert total == pytest.approx(float(dense["energy"]), abs=1e-8)
    np.testing.assert_allclose(np.asarray(state.forces), np.asarray(dense["forces"]), atol=1e-8)
    np.testing.assert_allclose(np.asarray(state.stress), np.asarray(dense["stress"]), atol=1e-10)


@pytest.mark.parametrize("scale", [NPT_RANGE + 1e-3, 1 / NPT_RANGE - 1e-3, NPT_RANGE - 1e-3])
def test_the_list_is_exact_over_its_whole_range_of_cell_scales(potential64, scale):
    """A list allocated in a cell serves the cell scaled by λ ∈ [NPT_RANGE, 1/NPT_RANGE]
    exactly (a 3–4 Å cell: many periodic images, where a list not kept in its own cell
    would lose pairs near the cutoff); outside that range the step flags an overflow."""
    atoms = tiny_cell()
    md = MolecularDynamics.create(potential64, atoms, "npt")
    state, nbrs = md.initial_state(atoms.positions, np.zeros((len(atoms), 3)))
    x, cell = scale * np.asarray(state.positions), scale * atoms.cell.array
    with potential64.precision():
        energy, forces, stress, nbrs = md._compiled_forces_stress(potential64.params, x, cell, nbrs)
        dense = potential64.energy_forces_stress(x, atoms.numbers, cell, atoms.pbc)
    if scale < NPT_RANGE:
        assert bool(nbrs.overflow)
        return
    assert not bool(nbrs.overflow)
    total = float(energy) + potential64.reference_energy(atoms.numbers)  # network energy + Σ E0
    assert total == pytest.approx(float(dense["energy"]), abs=1e-8)
    np.testing.assert_allclose(np.asarray(forces), np.asarray(dense["forces"]), atol=1e-8)
    np.testing.assert_allclose(np.asarray(stress), np.asarray(dense["stress"]), atol=1e-10)


def test_npt_needs_a_periodic_cell(potential64):
    atoms = skewed_cell()
    atoms.pbc = [True, True, False]
    with pytest.raises(ValueError, match="NPT needs a cell periodic in all three directions"):
        MolecularDynamics.create(potential64, atoms, "npt")


# four command-line runs, each compiling its MD step (the NVT resume test is in the default run)
@pytest.mark.slow
def test_the_command_line_resumes_an_npt_run_with_its_cell(workdir, tmp_path):
    from orbjax.md import main

    structure = tmp_path / "cell.extxyz"
    write(structure, skewed_cell())
    common = [
        "--model",
        workdir,
        "--structure",
        str(structure),
        "--ensemble",
        "npt",
        "--temperature",
        "300",
        "--pressure",
        "5",
        "--compressibility",
        "0.05",
        "--barostat-time",
        "50",
        "--interval",
        "5",
        "--no-progress",
    ]
    main(common + ["--steps", "20", "--out", str(tmp_path / "straight")])
    main(common + ["--steps", "10", "--out", str(tmp_path / "resumed")])
    main(common + ["--steps", "20", "--out", str(tmp_path / "resumed")])
    straight = read_thermo(tmp_path / "straight" / "thermo.csv")
    resumed = read_thermo(tmp_path / "resumed" / "thermo.csv")
    assert [r["step"] for r in resumed] == [0, 5, 10, 15, 20] == [r["step"] for r in straight]
    for a, b in zip(straight, resumed):
        assert (
            abs(a["volume_A3"] - b["volume_A3"]) < 1e-3
            and abs(a["total_energy_eV"] - b["total_energy_eV"]) < 1e-4
        )
    assert abs(straight[-1]["volume_A3"] - straight[0]["volume_A3"]) > 0.1  # the cell moved
    frames = read(tmp_path / "resumed" / "trajectory.extxyz", index=":")
    assert frames[-1].get_volume() == pytest.approx(resumed[-1]["volume_A3"], rel=1e-6)
    # --debug: the error itself, not one line
    with pytest.raises(ValueError, match="other settings"):
        main(
            common
            + ["--steps", "30", "--out", str(tmp_path / "resumed"), "--pressure", "1", "--debug"]
        )
