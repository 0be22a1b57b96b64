"""NVE molecular dynamics with the ASE calculator conserves energy, stays consistent with the
jit-able function, and does not recompile every step."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.md.velocitydistribution import Stationary, ZeroRotation
from ase.md.verlet import VelocityVerlet

import orbjax
from orbjax.data.readers import CHNO_KEYS, example_path, read_structures
from tests.potential.test_potential import train_tiny_model

try:
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:  # ase < 3.25
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta


@pytest.fixture(scope="module")
def nve_run(tmp_path_factory):
    """200 steps of 0.5 fs from 300 K for an 11-atom molecule of the bundled example."""
    potential = orbjax.load_potential(train_tiny_model(tmp_path_factory))
    s = read_structures(example_path(), keys=CHNO_KEYS)[0]
    atoms = Atoms(numbers=s.atomic_numbers, positions=s.positions)
    calc = orbjax.OrbjaxCalculator(potential)
    atoms.calc = calc
    thermalize_momenta(atoms, temperature_K=300, rng=np.random.default_rng(0))
    Stationary(atoms)
    ZeroRotation(atoms)
    compiled_at_start = calc.n_compilations  # the count is process-wide: other tests' too
    atoms.get_forces()
    compiled_before = (compiled_at_start, calc.n_compilations)
    total, kinetic = [], []
    dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    dyn.attach(
        lambda: (total.append(atoms.get_total_energy()), kinetic.append(atoms.get_kinetic_energy()))
    )
    dyn.run(200)
    return potential, atoms, calc, np.array(total), np.array(kinetic), compiled_before


def test_nve_conserves_total_energy(nve_run):
    _, _, _, total, kinetic, _ = nve_run
    assert len(total) == 201
    # Kinetic and potential energy exchange ~0.1 eV here; a force that is not exactly −∇E
    # (or a wrong sign/unit) shows up as a drift of that order. Velocity Verlet at 0.5 fs
    # plus float32 rounding of a ~3000 eV total keep |ΔE| near 1 meV: bound it at 5 % of
    # the kinetic-energy swing (and 10 meV absolute).
    swing = np.ptp(kinetic)
    drift = np.abs(total - total[0]).max()
    assert swing > 0.02  # the molecule really moves
    assert drift < min(0.05 * swing, 0.01), (drift, swing)


def test_final_state_agrees_with_the_jit_able_function(nve_run):
    potential, atoms, _, _, _, _ = nve_run
    out = potential.energy_forces_stress(atoms.positions, atoms.numbers)
    e = atoms.get_potential_energy()
    assert abs(float(out["energy"]) - e) <= 1e-5 * abs(e)
    np.testing.assert_allclose(np.asarray(out["forces"]), atoms.get_forces(), atol=1e-4)


def test_md_compiles_at_most_a_few_times(nve_run):
    _, _, calc, _, _, (compiled_at_start, compiled_before) = nve_run
    assert calc.n_compilations - compiled_before <= 2  # the edge budget may grow once or twice
    assert calc.n_compilations - compiled_at_start <= 3
