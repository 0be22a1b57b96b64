"""Forces are −∂E/∂x (central finite differences); stress is (1/V) ∂E/∂ε; smooth cutoff."""
import numpy as np

from conftest import CUTOFF, batch, molecule, periodic_cell, run


def _energy(model, params, s):
    return float(run(model, params, batch([s]), compute_stress=s.is_periodic)["energy"][0])


def test_forces_match_finite_differences(model_and_params):
    model, params = model_and_params
    for s in (molecule(seed=2), periodic_cell()):
        forces = run(model, params, batch([s]), compute_stress=s.is_periodic)["forces"][: s.n_atoms]
        h = 1e-5
        rng = np.random.default_rng(0)
        for atom, axis in zip(rng.integers(0, s.n_atoms, 4), rng.integers(0, 3, 4)):
            plus, minus = s.positions.copy(), s.positions.copy()
            plus[atom, axis] += h
            minus[atom, axis] -= h
            fd = -(_energy(model, params, s.replace(positions=plus))
                   - _energy(model, params, s.replace(positions=minus))) / (2 * h)
            np.testing.assert_allclose(forces[atom, axis], fd, rtol=1e-5, atol=1e-7)
        assert np.abs(forces).max() > 1e-3


def test_stress_matches_strain_derivative(model_and_params):
    model, params = model_and_params
    s = periodic_cell()
    stress = run(model, params, batch([s]), compute_stress=True)["stress"][0]
    volume = abs(np.linalg.det(s.cell))
    h = 1e-5
    for i, j in [(0, 0), (1, 2), (2, 1), (0, 1), (2, 2)]:
        energies = []
        for sign in (1, -1):
            strain = np.zeros((3, 3))
            strain[i, j] += sign * h / 2
            strain[j, i] += sign * h / 2
            deform = np.eye(3) + strain
            energies.append(_energy(model, params, s.replace(positions=s.positions @ deform, cell=s.cell @ deform)))
        fd = (energies[0] - energies[1]) / (2 * h) / volume
        np.testing.assert_allclose(stress[i, j], fd, rtol=1e-5, atol=1e-8)
    assert np.abs(stress).max() > 1e-4


def test_energy_smooth_through_the_cutoff(model_and_params):
    """An atom leaving the cutoff sphere changes energy and force continuously to zero effect."""
    model, params = model_and_params
    from orbjax.data.structures import Structure

    def pair(d):
        return Structure([8, 16], [[0, 0, 0], [d, 0, 0]], name=f"pair{d}")

    e_far = _energy(model, params, pair(CUTOFF + 0.5))
    e_in, e_at = _energy(model, params, pair(CUTOFF - 1e-3)), _energy(model, params, pair(CUTOFF - 1e-6))
    assert abs(e_at - e_far) < 1e-9
    assert abs(e_in - e_far) < 1e-5
    f_in = run(model, params, batch([pair(CUTOFF - 1e-3)]))["forces"][:2]
    assert np.abs(f_in).max() < 1e-4
    e_mid = _energy(model, params, pair(CUTOFF / 2))
    assert abs(e_mid - e_far) > 1e-4  # the pair does interact inside the cutoff


def test_network_energy_is_the_energy_predict_returns_without_the_reference_energies(model_and_params):
    """`predict.network_energy` (for callers that differentiate it themselves: jax-md, MD)
    and `predict` make the same model call; the two differ by Σ E0 of each graph exactly."""
    from conftest import make_statistics
    from orbjax.model.predict import network_energy

    model, params = model_and_params
    structures = [molecule(seed=2), periodic_cell()]
    graph = batch(structures)
    out = run(model, params, graph)
    alone = np.asarray(network_energy(model, params, graph))
    np.testing.assert_allclose(alone, np.asarray(out["network_energy"]), rtol=1e-12, atol=1e-12)
    reference = [make_statistics().reference_energy(s.atomic_numbers) for s in structures]
    np.testing.assert_allclose(np.asarray(out["energy"])[:2] - alone[:2], reference, rtol=0, atol=1e-10)
