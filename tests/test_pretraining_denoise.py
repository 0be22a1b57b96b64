"""The denoising control's data (experiments/pretraining/denoise.py): noisy copies whose
target is the restoring force −κ·noise, with no net force or torque (an energy model's
forces have neither), and no label of the source kept."""

import numpy as np
from ase.build import molecule

from experiments.pretraining import denoise
from orbjax.data.structures import Structure


def _source():
    out = []
    for k, name in enumerate(("CH4", "CH3CH2OH", "H2O")):
        m = molecule(name)
        labels = {"xtb_energy": np.array(-10.0), "xtb_forces": np.ones((len(m), 3))}
        out.append(Structure(m.numbers, m.positions, name=f"src:{k}", mol_id=name, labels=labels))
    return out


def test_copies_carry_the_restoring_force_of_their_own_noise_and_nothing_else():
    source = _source()
    copies = denoise.noisy_copies(source, copies=4, sigma=0.05, seed=1)
    assert len(copies) == 12
    for k, c in enumerate(copies):
        s = source[k // 4]
        assert c.mol_id == s.mol_id and set(c.labels) == {denoise.FORCES_KEY}
        noise = c.positions - s.positions
        np.testing.assert_allclose(c.labels["forces"], -denoise.KAPPA * noise, atol=1e-12)
        assert 0.01 < np.sqrt(np.mean(noise**2)) < 0.1  # σ = 0.05 Å, less its rigid part
        r = s.positions - s.positions.mean(axis=0)
        np.testing.assert_allclose(noise.sum(axis=0), 0.0, atol=1e-12)  # no net force
        np.testing.assert_allclose(np.cross(r, noise).sum(axis=0), 0.0, atol=1e-12)  # no torque
    assert not np.allclose(copies[0].positions, copies[1].positions)  # fresh noise per copy


def test_the_rigid_part_of_a_rigid_motion_is_all_of_it():
    """A pure translation plus a small rotation has no internal part left."""
    water = molecule("H2O").positions
    r = water - water.mean(axis=0)
    omega = np.array([0.01, -0.02, 0.03])
    rigid = np.array([0.1, 0.2, -0.1]) + np.cross(omega, r)
    np.testing.assert_allclose(denoise.internal(rigid, water), 0.0, atol=1e-12)
