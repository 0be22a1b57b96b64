"""A tiny randomly initialised model and structures to probe its physics."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from orbjax.data.batching import PaddingBudget, pad_batch
from orbjax.data.graphs import structure_to_graph
from orbjax.data.structures import Structure
from orbjax.model.build import init_variables
from orbjax.model.orbital_mlip import ModelConfig, OrbitalMLIP
from orbjax.model.predict import predict
from orbjax.model.statistics import Statistics
from orbjax.targets import TARGETS, auxiliary_targets
from orbjax.training.batches import to_device

SPECIES = (1, 6, 8, 16, 29)  # H C O S Cu: s-only, sp, spd and a d-first (2,0,1) layout
CUTOFF = 4.0


def make_statistics(species=SPECIES) -> Statistics:
    rng = np.random.default_rng(0)
    means = tuple(
        (k, tuple(tuple(float(x) for x in rng.normal(size=w)) for _ in species))
        for k, w in ((k, TARGETS[k].width) for k in auxiliary_targets())
    )
    return Statistics(
        species=species,
        atomic_energies=tuple(rng.normal(size=len(species))),
        energy_scale=0.7,
        avg_num_neighbors=4.0,
        aux_means=means,
        aux_scales=tuple((k, 0.3) for k in auxiliary_targets()),
    )


def make_model(orbital_head="equivariant", dtype=jnp.float64, **kw) -> OrbitalMLIP:
    cfg = ModelConfig(
        channels=8,
        l_max=2,
        n_layers=2,
        cutoff=CUTOFF,
        n_basis=6,
        radial_hidden=16,
        readout_hidden=8,
        heads=("atomic_charges", "spd_populations", "orbital_populations"),
        orbital_head=orbital_head,
        n_species=len(SPECIES),
        **kw,
    )
    return OrbitalMLIP(cfg, dtype=dtype)


def init_params(model, seed=1, statistics=None):
    """{"params", "statistics"} of a fresh `model` (statistics: `make_statistics()`)."""
    return init_variables(model, statistics or make_statistics(), seed)


def molecule(seed=0, n=7) -> Structure:
    """A random compact cluster with every species, min distance ≥ 0.9 Å."""
    rng = np.random.default_rng(seed)
    z = np.array(list(SPECIES) + list(rng.choice(SPECIES, n - len(SPECIES))))
    pos = []
    while len(pos) < n:
        p = rng.uniform(-1.6, 1.6, 3)
        if all(np.linalg.norm(p - q) > 0.9 for q in pos):
            pos.append(p)
    return Structure(z, np.array(pos), name=f"cluster{seed}")


def periodic_cell(seed=1) -> Structure:
    """A skewed cell smaller than the cutoff, so atoms see their own images."""
    rng = np.random.default_rng(seed)
    cell = np.array([[3.1, 0.0, 0.0], [0.6, 3.3, 0.0], [0.4, -0.5, 3.0]])
    frac = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.1], [0.2, 0.6, 0.6], [0.7, 0.1, 0.5]])
    frac = frac + rng.normal(scale=0.02, size=frac.shape)
    return Structure([8, 1, 1, 29], frac @ cell, cell=cell, pbc=[True] * 3, name="cell")


def batch(structures, budget=None, dtype=jnp.float64):
    graphs = [structure_to_graph(s, CUTOFF) for s in structures]
    if budget is None:
        n = sum(len(g.nodes["positions"]) for g in graphs) + 1
        e = sum(len(g.senders) for g in graphs) + 1
        budget = PaddingBudget(n, e, len(graphs) + 1)
    return to_device(pad_batch(graphs, budget), dtype)


@pytest.fixture(scope="module")
def x64():
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="module")
def model_and_params(x64):
    model = make_model()
    params = init_params(model, seed=1)
    return model, params


@functools.lru_cache(maxsize=None)
def _jitted_predict(model, compute_stress):
    return jax.jit(
        lambda p, g: predict(model, p, g, with_heads=True, compute_stress=compute_stress)
    )


def run(model, params, graph, compute_stress=False):
    """predict() under jit (eager e3nn-jax is orders of magnitude slower), one compile per shape."""
    return jax.device_get(_jitted_predict(model, compute_stress)(params, graph))
