"""Conservative predictions: forces = −∂E/∂positions and stress = (1/V) ∂E/∂strain.

One function serves training, evaluation and the potential, so what is trained is exactly
what runs in molecular dynamics. Units: eV, eV/Å, eV/Å³ (ASE sign convention).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jraph


def node_graph_index(n_node: jnp.ndarray, n_total: int) -> jnp.ndarray:
    """[n_total] graph index of every node (works under jit: n_total is static).

    A binary search of each index in the graphs' cumulative sizes, O(n_total log n_graphs).
    Not `jnp.repeat(..., total_repeat_length=n_total)`: that is a cumulative sum over all
    n_total entries, which XLA on GPU can lower to a reduce-window as long as the array,
    O(n_total²) (the ASE path's padded two-graph input took 7.9 s per call at 31,944 atoms
    on an H200: benchmarks/README.md). Indices past the last graph get the last graph.
    """
    n_graphs = n_node.shape[0]
    if n_graphs == 1:
        return jnp.zeros(n_total, jnp.int32)
    ends = jnp.cumsum(n_node)  # [n_graphs]: one past each graph's last index
    index = jnp.searchsorted(ends, jnp.arange(n_total, dtype=ends.dtype), side="right")
    return jnp.minimum(index, n_graphs - 1).astype(jnp.int32)


def edge_graph_index(graph: jraph.GraphsTuple, node_graph: jnp.ndarray) -> jnp.ndarray:
    """[n_edges] graph index of every edge: its sender's (jraph keeps edges inside their graph,
    padding edges on padding nodes), a gather instead of a second cumulative sum."""
    return node_graph[graph.senders]


def predict(
    model,
    variables,
    graph: jraph.GraphsTuple,
    with_heads: bool = False,
    compute_stress: bool = False,
    level: int = 0,
    all_levels: bool = False,
) -> dict[str, jnp.ndarray]:
    """Energies [n_graphs] eV, forces [n_nodes, 3] eV/Å, stress [n_graphs, 3, 3] eV/Å³ of
    level of theory `level` (index into the model's levels) and, with `with_heads`, the
    auxiliary-head outputs, for a (padded) batch of graphs.

    `variables`: {"params": ..., "statistics": ...}. Besides ``energy`` (E0s included, in
    the compute dtype) it returns ``network_energy`` [n_graphs], the part without the E0s:
    the potential adds Σ E0 in float64 on the host (`Statistics.reference_energy`), so that
    totals of 10⁴–10⁵ eV are exact to the meV when the network computes in float32.

    With `all_levels` (training on several levels of theory) it also returns
    ``energy_<name>`` and ``forces_<name>`` of every other level of the model (the targets of
    `targets.level_targets`): one forward pass, one backward pass per level (a `jacrev` over
    the levels' summed energies), each level's forces −∂E_level/∂positions."""
    positions = graph.nodes["positions"]
    n_graphs = graph.n_node.shape[0]
    node_graph = node_graph_index(graph.n_node, positions.shape[0])
    edge_graph = edge_graph_index(graph, node_graph)
    cell = graph.globals["cell"].reshape(n_graphs, 3, 3)
    levels = model.config.levels
    all_levels = all_levels and len(levels) > 1
    if all_levels and level != 0:
        raise ValueError("predict: all_levels names the default level 'energy' (level=0)")

    def energies_of(positions, strain):
        # Homogeneous deformation x → x·(1 + ε) of atoms and periodic shifts.
        deform = jnp.eye(3, dtype=positions.dtype) + strain  # [n_graphs, 3, 3]
        pos = jnp.einsum("ni,nij->nj", positions, deform[node_graph])
        shifts = jnp.einsum(
            "ei,eij->ej", graph.edges["shifts"].astype(positions.dtype), deform[edge_graph]
        )
        return _apply(model, variables, graph, pos, shifts, node_graph, with_heads)

    def total_energy(positions, strain):
        energies, out = energies_of(positions, strain)  # [n_graphs, n_levels]
        return energies[:, level].sum(), (energies, out)

    def total_energies(positions, strain):
        energies, out = energies_of(positions, strain)
        return energies.sum(axis=0), (energies, out)  # [n_levels]

    strain = jnp.zeros((n_graphs, 3, 3), positions.dtype)
    argnums = (0, 1) if compute_stress else 0
    if all_levels:
        grads, (energies, out) = jax.jacrev(total_energies, argnums=argnums, has_aux=True)(
            positions, strain
        )  # leading axis: level
        level_grads = grads[0] if compute_stress else grads  # [n_levels, n_nodes, 3]
        grads = jax.tree.map(lambda g: g[0], grads)
    else:
        grads, (energies, out) = jax.grad(total_energy, argnums=argnums, has_aux=True)(
            positions, strain
        )
    result = {
        k: v
        for k, v in out.items()
        if k not in ("node_energies", "node_network_energies", "features")
    }
    result["node_energies"] = out["node_energies"][:, level]
    result["energy"] = energies[:, level]
    result["network_energy"] = jax.ops.segment_sum(
        out["node_network_energies"][:, level], node_graph, n_graphs
    )
    if all_levels:
        for k, name in enumerate(levels[1:], start=1):
            result[f"energy_{name}"] = energies[:, k]
            result[f"forces_{name}"] = -level_grads[k]
    if compute_stress:
        grad_positions, grad_strain = grads
        volume = jnp.abs(jnp.linalg.det(cell))
        safe_volume = jnp.where(volume > 0, volume, 1.0)
        stress = 0.5 * (grad_strain + jnp.swapaxes(grad_strain, 1, 2)) / safe_volume[:, None, None]
        result["stress"] = jnp.where((volume > 0)[:, None, None], stress, 0.0)
    else:
        grad_positions = grads
    result["forces"] = -grad_positions
    return result


def network_energy(model, variables, graph: jraph.GraphsTuple, level: int = 0) -> jnp.ndarray:
    """Energies without the E0s [n_graphs] eV, no derivative: for callers that
    differentiate them themselves (jax-md, the MD integrator) and add Σ E0 on the host.
    The same model call as `predict`."""
    out = _apply_as_given(model, variables, graph)[1]
    return jax.ops.segment_sum(
        out["node_network_energies"][:, level], _node_graph(graph), graph.n_node.shape[0]
    )


def node_features(model, variables, graph: jraph.GraphsTuple) -> jnp.ndarray:
    """[n_nodes, channels] the last layer's invariant (0e) features, what the energy readout
    reads: the model's per-atom latent space (`Potential.descriptors`)."""
    return _apply_as_given(model, variables, graph)[1]["features"].filter(keep="0e").array


def _node_graph(graph):
    return node_graph_index(graph.n_node, graph.nodes["positions"].shape[0])


def _apply_as_given(model, variables, graph):
    """`_apply` on the graph's own positions and shifts (no strain, no heads)."""
    positions = graph.nodes["positions"]
    return _apply(
        model,
        variables,
        graph,
        positions,
        graph.edges["shifts"].astype(positions.dtype),
        _node_graph(graph),
        False,
    )


def _apply(model, variables, graph, positions, shifts, node_graph, with_heads):
    """(energies of every level [n_graphs, n_levels], model outputs) with edge vectors
    positions[j] − positions[i] + shift."""
    vectors = positions[graph.senders] - positions[graph.receivers] + shifts  # [n_edges, 3]
    out = model.apply(
        variables,
        vectors,
        graph.nodes["atomic_numbers"],
        graph.senders,
        graph.receivers,
        node_graph,
        graph.globals["total_charge"].reshape(-1),
        with_heads=with_heads,
    )
    return jax.ops.segment_sum(out["node_energies"], node_graph, graph.n_node.shape[0]), out
