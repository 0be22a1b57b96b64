"""Padding budgets, buckets and the deterministic batch iterator."""

from pathlib import Path

import jax
import jraph
import numpy as np
import pytest

from orbjax.data.batching import (
    ROUND_TO,
    PaddingBudget,
    batch_iterator,
    compute_budgets,
    graph_sizes,
    ladder_size,
    n_batches,
    pad_batch,
    padding_stats,
    plan_batches,
    round_up,
)
from orbjax.data.graphs import structure_to_graph
from orbjax.data.structures import Structure

CHNO = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "chno" / "chno_wb97x.extxyz"
CUTOFF = 5.0


@pytest.fixture(scope="module")
def graphs():
    if not CHNO.exists():
        pytest.skip(f"{CHNO} not found")
    import ase.io

    out = []
    for k, atoms in enumerate(ase.io.read(CHNO, ":150")):
        labels = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
        s = Structure(atoms.numbers, atoms.positions, name=f"chno:{k}", labels=labels)
        out.append(structure_to_graph(s, CUTOFF))
    return out


def shape_of(batch):
    return (batch.nodes["positions"].shape[0], batch.senders.shape[0], batch.n_node.shape[0])


def test_budgets_hold_the_worst_batch_and_are_rounded(graphs):
    budgets = compute_budgets(graphs, batch_size=16, n_buckets=3, seed=0)
    assert 1 <= len(budgets) <= 3
    assert all(b.n_node % 64 == 0 and b.n_edge % 64 == 0 and b.n_graph == 17 for b in budgets)
    n_node, n_edge = graph_sizes(graphs)
    largest = budgets[-1]
    assert largest.fits(np.sort(n_node)[-16:].sum(), np.sort(n_edge)[-16:].sum(), 16)
    # Smaller buckets are really smaller (otherwise bucketing buys nothing).
    assert budgets[0].n_edge < largest.n_edge


@pytest.mark.parametrize("n_buckets", [1, 2, 3])
def test_every_batch_fits_with_at_most_n_buckets_shapes(graphs, n_buckets):
    budgets = compute_budgets(graphs, batch_size=16, n_buckets=n_buckets, seed=1)
    shapes = set()
    seen = []
    for epoch in range(3):
        for batch in batch_iterator(graphs, 16, budgets, seed=5, epoch=epoch):
            shapes.add(shape_of(batch))
            seen.append(int(jraph.get_graph_padding_mask(batch).sum()))
            assert jraph.get_number_of_padding_with_graphs_nodes(batch) >= 1
    assert len(shapes) <= n_buckets
    assert sum(seen) == 3 * len(graphs)  # nothing split, nothing lost
    assert n_batches(graphs, 16, budgets, seed=5) == -(-len(graphs) // 16)


def test_padding_is_inert(graphs):
    budget = compute_budgets(graphs, batch_size=8, n_buckets=1)[0]
    batch = pad_batch(graphs[:8], budget)
    node_mask = jraph.get_node_padding_mask(batch)
    edge_mask = jraph.get_edge_padding_mask(batch)
    graph_mask = jraph.get_graph_padding_mask(batch)
    assert node_mask.sum() == sum(int(g.n_node[0]) for g in graphs[:8]) and graph_mask.sum() == 8
    assert not batch.nodes["forces_mask"][~node_mask].any()
    assert not batch.globals["energy_mask"][~graph_mask].any()
    assert (batch.nodes["atomic_numbers"][~node_mask] == 0).all()
    # Padding edges join padding nodes only and none has zero length.
    assert (~node_mask[batch.senders[~edge_mask]]).all() and (
        ~node_mask[batch.receivers[~edge_mask]]
    ).all()
    vec = (
        batch.nodes["positions"][batch.senders]
        - batch.nodes["positions"][batch.receivers]
        + batch.edges["shifts"]
    )
    assert (np.linalg.norm(vec, axis=1) > 0.5).all()
    pad_pos = batch.nodes["positions"][~node_mask]
    assert len(np.unique(pad_pos, axis=0)) == len(pad_pos)
    for part in (batch.nodes, batch.edges, batch.globals):
        assert all(np.isfinite(v).all() for v in part.values())
    # Real part unchanged.
    np.testing.assert_array_equal(
        batch.nodes["positions"][node_mask],
        np.concatenate([g.nodes["positions"] for g in graphs[:8]]),
    )


def test_iterator_is_deterministic_per_seed_and_epoch(graphs):
    budgets = compute_budgets(graphs, batch_size=16, n_buckets=2)

    def energies(**kw):
        return [b.globals["energy"].tolist() for b in batch_iterator(graphs, 16, budgets, **kw)]

    first = energies(seed=3, epoch=2)
    assert first == energies(seed=3, epoch=2)
    assert first != energies(seed=3, epoch=1) and first != energies(seed=4, epoch=2)
    unshuffled = energies(seed=3, shuffle=False)
    assert unshuffled[0][:16] == [float(g.globals["energy"][0]) for g in graphs[:16]]


def test_skip_batches_equals_slicing(graphs):
    budgets = compute_budgets(graphs, batch_size=16, n_buckets=2)
    full = list(batch_iterator(graphs, 16, budgets, seed=7, epoch=4))
    resumed = list(batch_iterator(graphs, 16, budgets, seed=7, epoch=4, skip_batches=3))
    assert len(resumed) == len(full) - 3
    for a, b in zip(full[3:], resumed):
        assert all(
            np.array_equal(x, y)
            for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))
        )


def test_batches_too_big_for_hand_made_budgets_are_split(graphs):
    n_node, n_edge = graph_sizes(graphs)
    small = PaddingBudget(int(3 * n_node.max() + 1), int(3 * n_edge.max()), 17)
    plan = plan_batches(graphs, 16, [small], seed=0)
    assert sorted(np.concatenate([idx for idx, _ in plan]).tolist()) == list(range(len(graphs)))
    assert len(plan) > -(-len(graphs) // 16)
    for idx, budget in plan:
        assert budget.fits(n_node[idx].sum(), n_edge[idx].sum(), len(idx))


def test_graph_too_big_for_every_budget_is_named(graphs):
    with pytest.raises(ValueError, match="chno:0"):
        plan_batches(
            graphs, 4, [PaddingBudget(4, 64, 5)], names=[f"chno:{i}" for i in range(len(graphs))]
        )


def test_padding_stats_reports_waste(graphs):
    one = padding_stats(graphs, 16, compute_budgets(graphs, 16, n_buckets=1), seed=0)
    three = padding_stats(graphs, 16, compute_budgets(graphs, 16, n_buckets=3), seed=0)
    assert one["node_ratio"] >= 1 and one["edge_ratio"] >= 1
    assert three["edge_ratio"] < one["edge_ratio"]  # more buckets, less waste
    assert three["n_shapes"] <= 3


def test_round_up_never_rounds_down_and_ladder_sizes_stay_within_a_quarter():
    """The one definition of padded sizes (budgets, neighbour-list capacities, calculator)."""
    assert round_up(np.array([0, 1, 64, 65])).tolist() == [0, 64, 64, 128]
    assert int(round_up(64.5)) == 128 and int(round_up(130.2)) == 192  # floats: never below x
    assert all(int(round_up(x)) % ROUND_TO == 0 for x in (1, 63.9, 1000.1))
    for x in [1, 15.5, 16.2, 100, 4961, 62636]:
        size = ladder_size(x)
        assert x <= size <= max(16, 1.25 * x)
