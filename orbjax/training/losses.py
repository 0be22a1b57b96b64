"""Loss terms, one per target, each masked for padding and for missing labels.

Every term is a mean over the *labelled* entries of the batch (padding entries and
unlabelled structures have mask False and contribute exactly zero, value and gradient).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import jraph

# target → (where the label lives, mask name)
TARGETS = {
    "energy": ("globals", "energy_mask"),
    "forces": ("nodes", "forces_mask"),
    "stress": ("globals", "stress_mask"),
    "atomic_charges": ("nodes", "atomic_charges_mask"),
    "dft_charges": ("nodes", "dft_charges_mask"),
    "spd_populations": ("nodes", "spd_mask"),
    "orbital_populations": ("nodes", "orbital_mask"),
}


def label_and_mask(graph: jraph.GraphsTuple, target: str):
    """Label array and a boolean mask broadcastable to it, with padding masked out."""
    where, mask_name = TARGETS[target]
    if where == "globals":
        label = graph.globals[target]
        mask = graph.globals[mask_name] & jraph.get_graph_padding_mask(graph)
    else:
        label = graph.nodes[target]
        mask = graph.nodes[mask_name] & _expand(jraph.get_node_padding_mask(graph), graph.nodes[mask_name])
    return label, mask


def _expand(mask_1d, like):
    return mask_1d.reshape(mask_1d.shape + (1,) * (like.ndim - 1))


def _broadcast(mask, like):
    return jnp.broadcast_to(mask.reshape(mask.shape + (1,) * (like.ndim - mask.ndim)), like.shape)


def residuals(graph: jraph.GraphsTuple, predictions: dict, target: str):
    """(error, mask) with error = prediction − label, zeroed where masked; energy per atom."""
    label, mask = label_and_mask(graph, target)
    pred = predictions[target]
    if target == "energy":
        n_atoms = jnp.maximum(graph.n_node, 1).astype(pred.dtype)
        pred, label = pred / n_atoms, label.reshape(pred.shape) / n_atoms
    label = label.reshape(pred.shape)
    mask = _broadcast(mask, pred)
    error = jnp.where(mask, pred - label, 0.0)
    return error, mask


def mse(graph, predictions, target) -> jnp.ndarray:
    error, mask = residuals(graph, predictions, target)
    return jnp.sum(error**2) / jnp.maximum(jnp.sum(mask), 1)


def total_loss(graph, predictions, weights: dict[str, float]) -> tuple[jnp.ndarray, dict]:
    """Weighted sum of the per-target MSEs; returns (loss, {target: mse})."""
    terms = {t: mse(graph, predictions, t) for t, w in weights.items() if w > 0}
    loss = sum(weights[t] * v for t, v in terms.items())
    return loss, terms


def loss_share(graph, predictions, weights: dict[str, float], axis_name: str):
    """This device's share of the global-batch loss; (Σ_t w_t·SSE_t/N_t, {t: SSE_t/N_t}).

    For the data-parallel step (training/parallel.py), inside `shard_map` over `axis_name`.
    SSE_t is this device's sum of squared errors, N_t the number of labelled entries on
    all devices. Summed over the axis, the shares are exactly the per-target MSEs and the
    loss of `total_loss` on the whole global batch.
    """
    terms = {}
    for target, weight in weights.items():
        if weight > 0:
            error, mask = residuals(graph, predictions, target)
            n = jax.lax.psum(jnp.sum(mask), axis_name)
            terms[target] = jnp.sum(error**2) / jnp.maximum(n, 1)
    return sum(weights[t] * v for t, v in terms.items()), terms
