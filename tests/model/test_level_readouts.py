"""Several levels of theory on one trunk: each level's forces are minus the gradient of that
level's energy, and predicting all levels at once equals predicting each alone."""

import dataclasses
import functools

import jax
import numpy as np
import pytest

from conftest import SPECIES, batch, init_params, make_model, make_statistics, molecule
from orbjax.model.predict import predict

LEVELS = ("dft", "gfn1")


@pytest.fixture(scope="module")
def two_level_model(x64):
    stats = make_statistics()
    rng = np.random.default_rng(3)
    stats = dataclasses.replace(
        stats,
        levels=LEVELS,
        atomic_energies=(stats.atomic_energies[0], tuple(rng.normal(size=len(SPECIES)))),
        energy_scale=(0.7, 0.4),
        e0_source=("least_squares", "least_squares"),
    )
    model = make_model(levels=LEVELS)
    return model, init_params(model, seed=2, statistics=stats)


@functools.lru_cache(maxsize=None)
def _jitted(model, level, all_levels):
    return jax.jit(lambda v, g: predict(model, v, g, level=level, all_levels=all_levels))


def _predict(model, variables, graph, level=0, all_levels=False):
    """predict() under jit, one compilation per (model, level, all_levels, shape)."""
    return jax.device_get(_jitted(model, level, all_levels)(variables, graph))


def test_all_levels_at_once_equal_each_level_alone(two_level_model):
    model, variables = two_level_model
    graph = batch([molecule(seed=4), molecule(seed=5, n=9)])
    both = _predict(model, variables, graph, all_levels=True)
    dft = _predict(model, variables, graph, level=0)
    gfn1 = _predict(model, variables, graph, level=1)
    np.testing.assert_allclose(both["energy"], dft["energy"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(both["forces"], dft["forces"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(both["energy_gfn1"], gfn1["energy"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(both["forces_gfn1"], gfn1["forces"], rtol=1e-10, atol=1e-12)
    # the two readouts are different functions (else the test above proves nothing)
    assert np.abs(both["forces_gfn1"] - both["forces"]).max() > 1e-3


def test_each_levels_forces_are_minus_the_gradient_of_its_own_energy(two_level_model):
    """Central finite differences of energy_gfn1 along random displacements."""
    model, variables = two_level_model
    s = molecule(seed=6)
    out = _predict(model, variables, batch([s]), all_levels=True)
    rng = np.random.default_rng(0)
    h = 1e-5
    for _ in range(3):
        direction = rng.normal(size=s.positions.shape)
        direction /= np.linalg.norm(direction)
        energies = []
        for sign in (1, -1):
            moved = s.replace(positions=s.positions + sign * h * direction)
            energies.append(
                _predict(model, variables, batch([moved]), all_levels=True)["energy_gfn1"][0]
            )
        finite_difference = (energies[0] - energies[1]) / (2 * h)
        analytic = -np.sum(out["forces_gfn1"][: s.n_atoms] * direction)
        np.testing.assert_allclose(finite_difference, analytic, rtol=1e-6, atol=1e-8)
