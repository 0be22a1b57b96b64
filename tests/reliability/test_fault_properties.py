"""Property-based tests of the graph builder and padding on random molecules and random
periodic cells (any shape, any pbc).

tests/data/test_neighbours.py already checks `neighbour_list` against brute force with
hypothesis, and tests/model/test_padding.py padding invariance on two fixed structures.
Here: invariants of `structure_to_graph` itself, and model outputs that must not depend on
padding, batch neighbours, which image of an atom is stored, or which basis spans the cell.
The model is jitted once per padding budget, so hypothesis examples do not recompile.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from faultkit import waters
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from orbjax.data.batching import PaddingBudget, pad_batch
from orbjax.data.graphs import structure_to_graph
from orbjax.data.neighbours import brute_force_neighbour_list, minimum_distance
from orbjax.data.structures import Structure

SPECIES = (1, 6, 8)
CUTOFF = 3.0  # Å
# One budget (one compilation): a structure alone gets 3 padding graphs and much padding,
# beside a water molecule 2 padding graphs and less; either way its outputs must not change.
BUDGET = PaddingBudget(32, 512, 4)
SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@st.composite
def molecules(draw):
    n = draw(st.integers(1, 6))
    z = draw(st.lists(st.sampled_from(SPECIES), min_size=n, max_size=n))
    positions = draw(arrays(float, (n, 3), elements=st.floats(-2.0, 2.0)))
    return _structure(z, positions, np.zeros((3, 3)), np.zeros(3, bool))


@st.composite
def cells(draw, pbc=None):
    """Random triclinic cells (lengths 2.5–5 Å, strong skew), random pbc unless given; atoms
    may sit outside the cell."""
    n = draw(st.integers(1, 4))
    z = draw(st.lists(st.sampled_from(SPECIES), min_size=n, max_size=n))
    lengths = draw(arrays(float, 3, elements=st.floats(2.5, 5.0)))
    skew = draw(arrays(float, (3, 3), elements=st.floats(-0.5, 0.5)))
    cell = np.diag(lengths) + np.triu(skew, 1) * lengths[:, None]
    pbc = np.array(
        pbc if pbc is not None else draw(st.tuples(st.booleans(), st.booleans(), st.booleans()))
    )
    frac = draw(arrays(float, (n, 3), elements=st.floats(-0.3, 1.3)))
    return _structure(z, frac @ cell, cell, pbc)


def _structure(z, positions, cell, pbc):
    # Å; real matter, not merely valid input
    assume(minimum_distance(positions, cell, pbc)[0] > 0.7)
    return Structure(z, positions, cell, pbc, name="random")


structures = st.one_of(molecules(), cells())


# ----------------------------------------------------------------------------- graph builder
@SETTINGS
@given(structures)
def test_graph_edges_are_symmetric_within_cutoff_and_lattice_shifts(s):
    g = structure_to_graph(s, CUTOFF)
    senders, receivers, shifts = g.senders, g.receivers, g.edges["shifts"]
    assert int(g.n_edge[0]) == len(senders) == len(receivers) == len(shifts)
    d = np.linalg.norm(s.positions[senders] - s.positions[receivers] + shifts, axis=1)
    assert ((d > 0) & (d < CUTOFF + 1e-9)).all()
    edges = sorted(zip(senders.tolist(), receivers.tolist(), *np.round(shifts, 6).T.tolist()))
    mirrored = sorted(
        zip(receivers.tolist(), senders.tolist(), *(np.round(-shifts, 6) + 0.0).T.tolist())
    )
    assert edges == mirrored  # every i→j has its j→i: the edge count is symmetric
    if len(shifts):  # shifts are whole lattice vectors, and only along periodic directions
        k = shifts @ np.linalg.pinv(s.cell) if s.is_periodic else np.zeros_like(shifts)
        np.testing.assert_allclose(k, np.round(k), atol=1e-6)
        assert not np.round(k)[:, ~s.pbc].any()
        np.testing.assert_allclose(np.round(k) @ s.cell, shifts, atol=1e-6)
    assert len(senders) == len(brute_force_neighbour_list(s.positions, s.cell, s.pbc, CUTOFF)[0])


@SETTINGS
@given(structures)
def test_padding_adds_inert_nodes_edges_and_graphs(s):
    g = structure_to_graph(s, CUTOFF)
    assume(g.n_edge[0] < BUDGET.n_edge)
    p = pad_batch([g], BUDGET)
    n, e = s.n_atoms, int(g.n_edge[0])
    assert p.nodes["positions"].shape == (BUDGET.n_node, 3) and p.senders.shape == (BUDGET.n_edge,)
    np.testing.assert_array_equal(p.nodes["positions"][:n], s.positions)
    np.testing.assert_array_equal(p.senders[:e], g.senders)
    assert (p.nodes["atomic_numbers"][n:] == 0).all() and not p.nodes["forces_mask"][n:].any()
    assert (
        not p.globals["energy_mask"][1:].any()
        and p.n_node[0] == n
        and p.n_node[1:].sum() == BUDGET.n_node - n
    )
    # padding edges stay in padding
    assert (p.senders[e:] >= n).all() and (p.receivers[e:] >= n).all()
    pad_vectors = (
        p.nodes["positions"][p.senders[e:]]
        - p.nodes["positions"][p.receivers[e:]]
        + p.edges["shifts"][e:]
    )
    # no zero-length edge to give NaN gradients
    assert (np.linalg.norm(pad_vectors, axis=1) > 0).all()


# ----------------------------------------------------------------------------- model outputs
@pytest.fixture(scope="module")
def model():
    """A tiny float64 model (two interaction layers, so padding would leak through messages)."""
    from orbjax.model.build import init_variables
    from orbjax.model.orbital_mlip import ModelConfig, OrbitalMLIP
    from orbjax.model.predict import predict
    from orbjax.model.statistics import Statistics
    from orbjax.training.batches import to_device

    with jax.enable_x64(True):
        statistics = Statistics(
            species=SPECIES,
            atomic_energies=(-0.5, -37.8, -75.0),
            energy_scale=0.5,
            avg_num_neighbors=6.0,
        )
        config = ModelConfig(
            channels=4,
            l_max=1,
            n_layers=2,
            cutoff=CUTOFF,
            n_basis=4,
            radial_hidden=8,
            readout_hidden=4,
            n_species=len(SPECIES),
        )
        mlip = OrbitalMLIP(config, dtype=jnp.float64)
        params = init_variables(mlip, statistics, seed=3)
        fn = jax.jit(functools.partial(predict, mlip, with_heads=False, compute_stress=True))
        yield lambda graphs, budget: jax.device_get(
            fn(params, to_device(pad_batch(graphs, budget), jnp.float64))
        )


def _outputs(model, s, budget=BUDGET, before=()):
    """(energy eV, forces [n, 3] eV/Å, stress [3, 3]) of `s`, padded to `budget` after `before`."""
    graphs = [structure_to_graph(b, CUTOFF) for b in before] + [structure_to_graph(s, CUTOFF)]
    assume(sum(int(g.n_edge[0]) for g in graphs) < budget.n_edge)
    out = model(graphs, budget)
    k, start = len(before), sum(b.n_atoms for b in before)
    return out["energy"][k], out["forces"][start : start + s.n_atoms], out["stress"][k]


def _assert_same(a, b):
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(structures)
def test_outputs_do_not_depend_on_padding_or_batch_neighbours(model, s):
    alone = _outputs(model, s)
    assert all(np.isfinite(x).all() for x in alone)
    _assert_same(alone, _outputs(model, s, before=waters(1, seed=5)))


@SETTINGS
@given(cells(), st.data())
def test_outputs_do_not_depend_on_which_image_of_an_atom_is_stored(model, s, data):
    assume(s.is_periodic)
    shifts = np.array(data.draw(arrays(int, (s.n_atoms, 3), elements=st.integers(-2, 2)))) * s.pbc
    assume(shifts.any())
    wrapped = s.replace(positions=s.positions + shifts @ s.cell)
    _assert_same(_outputs(model, s), _outputs(model, wrapped))


@SETTINGS
@given(cells(pbc=(True, True, True)), st.integers(-1, 1), st.integers(-1, 1), st.integers(-1, 1))
def test_outputs_do_not_depend_on_the_basis_spanning_the_lattice(model, s, m, n, k):
    assume(m or n or k)
    basis = np.array([[1, 0, 0], [m, 1, 0], [k, n, 1]]) @ s.cell  # rows a, b + m·a, c + k·a + n·b
    _assert_same(_outputs(model, s), _outputs(model, s.replace(cell=basis)))
