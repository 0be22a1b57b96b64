"""Padded batches with a few fixed shapes ("buckets"), so `jax.jit` compiles once per bucket.

A batch of graphs is padded with `jraph.pad_with_graphs` to the smallest `PaddingBudget`
that holds it. This module is the one definition of padded sizes: `round_up` (multiples of
`ROUND_TO`) for budgets computed from a dataset and for the on-device neighbour list's
capacities, and `ladder_size`/`next_budget` for budgets grown on the fly by the ASE
calculator. The budgets come from dataset statistics (`compute_budgets`); the largest
one holds the worst possible batch, so every batch of `batch_size` graphs fits. Batches
that do not fit hand-made budgets are split; a single graph too large for every budget is
an error naming it.

The order of batches is a pure function of (seed, epoch): a resumed run that skips the
batches it has already seen (`skip_batches`) sees exactly the same remaining batches.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Iterator, Sequence

import jraph
import numpy as np

ROUND_TO = 64  # node/edge budgets are multiples of this (fewer distinct shapes, aligned)
PAD_EDGE_SHIFT = np.array([1.0, 0.0, 0.0])  # Å; gives padding edges a nonzero length


@dataclasses.dataclass(frozen=True)
class PaddingBudget:
    """Padded sizes of one bucket. `n_graph` includes the one padding graph jraph adds."""

    n_node: int
    n_edge: int
    n_graph: int

    def fits(self, n_node: int, n_edge: int, n_graph: int) -> bool:
        """Whether a batch of that size can be padded to this budget (≥ 1 padding node)."""
        return n_node < self.n_node and n_edge <= self.n_edge and n_graph < self.n_graph


def graph_sizes(graphs: Sequence[jraph.GraphsTuple]) -> tuple[np.ndarray, np.ndarray]:
    """[n_graphs] node counts and [n_graphs] edge counts."""
    n_node = np.array([int(np.sum(g.n_node)) for g in graphs], np.int64)
    n_edge = np.array([int(np.sum(g.n_edge)) for g in graphs], np.int64)
    return n_node, n_edge


def round_up(x, multiple: int = ROUND_TO):
    """`x` (scalar or array, int or float) rounded up to a multiple of `multiple` (int64):
    the budgets of a dataset and the capacities of the on-device neighbour list."""
    return (np.ceil(np.asarray(x, np.float64) / multiple) * multiple).astype(np.int64)


def ladder_size(x: float, smallest: int = 16) -> int:
    """Smallest size on the ladder 2^k × {1, 1.25, 1.5, 1.75} that is ≥ x (and ≥ `smallest`,
    a power of two): budgets grown on the fly (`next_budget`), at most 25 % above x."""
    power = smallest
    while 2 * power <= x:
        power *= 2
    for quarter in (4, 5, 6, 7, 8):
        if power * quarter // 4 >= x:
            return int(power * quarter // 4)
    raise AssertionError("unreachable")


def next_budget(
    current: PaddingBudget | None, n_node: int, n_edge: int, headroom: float = 1.1
) -> PaddingBudget:
    """The budget of a one-graph batch whose size drifts (the ASE calculator in MD).

    Keep `current` while it holds the graph and is not 4× too large; else a new budget of
    `headroom` × what is needed, rounded up on the `ladder_size` ladder, so a drifting edge
    count recompiles rarely and padded edges, whose cost is that of real ones, stay below
    ~1.2× (it was ~1.5× with a 2^k, 1.5·2^k ladder)."""
    if (
        current is not None
        and current.fits(n_node, n_edge, 1)
        and current.n_node <= 4 * (n_node + 1)
        and current.n_edge <= 4 * max(n_edge, 16)
    ):
        return current
    return PaddingBudget(ladder_size(n_node + 1), ladder_size(headroom * n_edge), 2)


def compute_budgets(
    graphs: Sequence[jraph.GraphsTuple],
    batch_size: int,
    n_buckets: int = 2,
    seed: int = 0,
    n_samples: int = 2000,
) -> list[PaddingBudget]:
    """A few budgets, smallest first, that hold every batch of `batch_size` graphs.

    The largest budget holds the worst case (the `batch_size` largest graphs together), so
    no batch ever needs splitting. The smaller ones are chosen, among quantiles of the
    sizes of `n_samples` random batches, to minimise the expected padded nodes + edges.
    """
    if not graphs:
        raise ValueError("no graphs to compute padding budgets from")
    if batch_size < 1 or n_buckets < 1:
        raise ValueError(f"batch_size ({batch_size}) and n_buckets ({n_buckets}) must be ≥ 1")
    n_node, n_edge = graph_sizes(graphs)
    k = min(batch_size, len(graphs))
    worst = (np.sort(n_node)[-k:].sum(), np.sort(n_edge)[-k:].sum())
    picks = _random_batches(len(graphs), k, n_samples, seed)
    sample_node, sample_edge = n_node[picks].sum(1), n_edge[picks].sum(1)  # [n_samples]
    # Caps from the integer part of each quantile (sizes are counts), rounded up.
    caps_node = round_up(np.floor(np.append(np.quantile(sample_node, _QUANTILES), worst[0])) + 1)
    caps_edge = round_up(np.floor(np.append(np.quantile(sample_edge, _QUANTILES), worst[1])))
    best = _best_quantiles(sample_node, sample_edge, caps_node, caps_edge, n_buckets - 1)
    budgets = {PaddingBudget(int(caps_node[q]), int(caps_edge[q]), batch_size + 1) for q in best}
    return sorted(budgets, key=lambda b: (b.n_node + b.n_edge, b.n_node))


_QUANTILES = np.linspace(0.3, 0.99, 24)


def _random_batches(n_graphs: int, k: int, n_samples: int, seed: int) -> np.ndarray:
    """[≈n_samples, k] graph indices: full chunks of random permutations, as in an epoch."""
    rng = np.random.default_rng(seed)
    per_perm = n_graphs // k
    n_perm = -(-n_samples // per_perm)
    perms = np.argsort(rng.random((n_perm, n_graphs)), axis=1)[:, : per_perm * k]
    return perms.reshape(-1, k)


def _best_quantiles(sample_node, sample_edge, caps_node, caps_edge, n_small: int) -> tuple:
    """Indices into the caps (last = worst case, always used) minimising the mean padded size."""
    last = len(caps_node) - 1
    best, best_cost = (last,), np.inf
    for small in itertools.combinations(range(last), min(n_small, last)):
        chosen = (*small, last)  # caps increase with the index, so the first fit is smallest
        nodes, edges = caps_node[list(chosen)], caps_edge[list(chosen)]
        # [samples, buckets]
        fits = (sample_node[:, None] < nodes) & (sample_edge[:, None] <= edges)
        first = np.argmax(fits, axis=1)
        cost = np.mean(nodes[first] + edges[first])
        if cost < best_cost:
            best, best_cost = chosen, cost
    return best


def plan_batches(
    graphs: Sequence[jraph.GraphsTuple],
    batch_size: int,
    budgets: Sequence[PaddingBudget],
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = True,
    drop_remainder: bool = False,
    names: Sequence[str] | None = None,
) -> list[tuple[np.ndarray, PaddingBudget]]:
    """Graph indices of every batch of one epoch and the budget each is padded to
    (`plan_device_batches` on one device)."""
    plan = plan_device_batches(
        graphs, batch_size, budgets, 1, seed, epoch, shuffle, drop_remainder, names
    )
    return [(pieces[0], budget) for pieces, budget in plan]


def plan_device_batches(
    graphs: Sequence[jraph.GraphsTuple],
    batch_size: int,
    budgets: Sequence[PaddingBudget],
    n_devices: int = 1,
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = True,
    drop_remainder: bool = False,
    names: Sequence[str] | None = None,
) -> list[tuple[list[np.ndarray], PaddingBudget]]:
    """The one batch planner: per step, one index array per device and the budget all of
    them are padded to (data parallelism needs one shape on every device).

    Global batches are consecutive chunks of `batch_size` of a (seed, epoch)-seeded
    permutation, each cut into `n_devices` consecutive pieces (the budgets are per device).
    A global batch whose pieces do not all fit one budget is split greedily into
    consecutive global batches that do.
    """
    n_node, n_edge = graph_sizes(graphs)
    budgets = _sorted(budgets)
    _check_single_graphs_fit(n_node, n_edge, budgets, names)

    def smallest_fit(chunk: np.ndarray) -> PaddingBudget | None:
        pieces = np.array_split(chunk, n_devices)
        for budget in budgets:  # smallest first
            if all(budget.fits(n_node[p].sum(), n_edge[p].sum(), len(p)) for p in pieces):
                return budget
        return None

    order = (
        np.random.default_rng([seed, epoch]).permutation(len(graphs))
        if shuffle
        else np.arange(len(graphs))
    )
    stop = len(order) - len(order) % batch_size if drop_remainder else len(order)
    plan = []
    for start in range(0, stop, batch_size):
        for chunk in _split_to_fit(order[start : start + batch_size], smallest_fit):
            plan.append((np.array_split(chunk, n_devices), smallest_fit(chunk)))
    return plan


def _sorted(budgets: Sequence[PaddingBudget]) -> list[PaddingBudget]:
    if not budgets:
        raise ValueError("no padding budgets given")
    return sorted(budgets, key=lambda b: (b.n_node + b.n_edge, b.n_node, b.n_graph))


def _check_single_graphs_fit(n_node, n_edge, budgets, names) -> None:
    for i in range(len(n_node)):
        if not any(b.fits(n_node[i], n_edge[i], 1) for b in budgets):
            name = names[i] if names is not None else f"graph {i}"
            raise ValueError(
                f"{name!s}: {n_node[i]} nodes and {n_edge[i]} edges do not fit any padding "
                f"budget (largest: {max(budgets, key=lambda b: b.n_node + b.n_edge)}); "
                "recompute the budgets on a dataset that includes it"
            )


def _split_to_fit(chunk: np.ndarray, fits) -> list[np.ndarray]:
    """Greedy split of `chunk` into consecutive pieces for which `fits(piece)` is truthy."""
    if fits(chunk):
        return [chunk]
    pieces, start = [], 0
    for stop in range(1, len(chunk) + 1):
        if not fits(chunk[start:stop]):
            pieces.append(chunk[start : stop - 1])
            start = stop - 1
    pieces.append(chunk[start:])
    return pieces


def n_batches(
    graphs, batch_size, budgets, seed=0, epoch=0, shuffle=True, drop_remainder=False
) -> int:
    """Number of batches `batch_iterator` yields for this epoch (splits included)."""
    return len(plan_batches(graphs, batch_size, budgets, seed, epoch, shuffle, drop_remainder))


def batch_iterator(
    graphs: Sequence[jraph.GraphsTuple],
    batch_size: int,
    budgets: Sequence[PaddingBudget],
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = True,
    skip_batches: int = 0,
    drop_remainder: bool = False,
) -> Iterator[jraph.GraphsTuple]:
    """Padded batches of one epoch, deterministic given (seed, epoch).

    `skip_batches` drops the first batches of the epoch without building them, so that a
    run resumed mid-epoch continues exactly where it stopped.
    """
    plan = plan_batches(graphs, batch_size, budgets, seed, epoch, shuffle, drop_remainder)
    for indices, budget in plan[skip_batches:]:
        yield pad_batch([graphs[i] for i in indices], budget)


def pad_batch(graphs: Sequence[jraph.GraphsTuple], budget: PaddingBudget) -> jraph.GraphsTuple:
    """Batch `graphs` and pad to `budget`: labels 0, masks False, atomic number 0.

    Padding nodes sit at distinct positions and padding edges (self-loops on the first
    padding node, as jraph makes them) get a 1 Å shift, so no edge vector has zero length.
    """
    batch = jraph.batch_np(list(graphs))
    padded = jraph.pad_with_graphs(batch, budget.n_node, budget.n_edge, budget.n_graph)
    n_real_node, n_real_edge = int(batch.n_node.sum()), int(batch.n_edge.sum())
    nodes, edges = dict(padded.nodes), dict(padded.edges)
    positions = nodes["positions"].copy()
    n_pad = len(positions) - n_real_node
    positions[n_real_node:] = np.arange(n_pad)[:, None] * np.array([1.0, 0.0, 0.0])  # 1 Å apart
    nodes["positions"] = positions
    shifts = edges["shifts"].copy()
    shifts[n_real_edge:] = PAD_EDGE_SHIFT
    edges["shifts"] = shifts
    return padded._replace(nodes=nodes, edges=edges)


def padding_stats(graphs, batch_size, budgets, seed=0, epoch=0) -> dict[str, float]:
    """Padding waste over one epoch: padded/real nodes and edges, batches, distinct shapes."""
    n_node, n_edge = graph_sizes(graphs)
    plan = plan_batches(graphs, batch_size, budgets, seed, epoch)
    padded_node = sum(b.n_node for _, b in plan)
    padded_edge = sum(b.n_edge for _, b in plan)
    return {
        "n_batches": len(plan),
        "n_shapes": len({b for _, b in plan}),
        "node_ratio": padded_node / max(n_node.sum(), 1),  # padded / real, ≥ 1
        "edge_ratio": padded_edge / max(n_edge.sum(), 1),
    }
