"""Smooth cutoff; `network_energy` is `predict`'s energy less Σ E0. (Forces = −∂E/∂x and
stress = (1/V) ∂E/∂ε over every model config: test_physics.py.)"""

import numpy as np

from conftest import CUTOFF, batch, molecule, periodic_cell, run


def _energy(model, params, s):
    return float(run(model, params, batch([s]), compute_stress=s.is_periodic)["energy"][0])


def test_energy_smooth_through_the_cutoff(model_and_params):
    """An atom leaving the cutoff sphere changes energy and force continuously to zero effect."""
    model, params = model_and_params
    from orbjax.data.structures import Structure

    def pair(d):
        return Structure([8, 16], [[0, 0, 0], [d, 0, 0]], name=f"pair{d}")

    e_far = _energy(model, params, pair(CUTOFF + 0.5))
    e_in, e_at = (
        _energy(model, params, pair(CUTOFF - 1e-3)),
        _energy(model, params, pair(CUTOFF - 1e-6)),
    )
    assert abs(e_at - e_far) < 1e-9
    assert abs(e_in - e_far) < 1e-5
    f_in = run(model, params, batch([pair(CUTOFF - 1e-3)]))["forces"][:2]
    assert np.abs(f_in).max() < 1e-4
    e_mid = _energy(model, params, pair(CUTOFF / 2))
    assert abs(e_mid - e_far) > 1e-4  # the pair does interact inside the cutoff


def test_network_energy_is_the_energy_predict_returns_without_the_reference_energies(
    model_and_params,
):
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
    np.testing.assert_allclose(
        np.asarray(out["energy"])[:2] - alone[:2], reference, rtol=0, atol=1e-10
    )
