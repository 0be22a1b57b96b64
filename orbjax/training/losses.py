"""Loss terms, one per target, each masked for padding and for missing labels.

Every term is a mean over the *labelled* entries of the batch (padding entries and
unlabelled structures have mask False and contribute exactly zero, value and gradient).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jraph

from orbjax.targets import TARGETS


def label_and_mask(graph: jraph.GraphsTuple, target: str):
    """Label array and a boolean mask broadcastable to it, with padding masked out."""
    record = TARGETS[target]
    if record.level == "structure":
        label = graph.globals[target]
        mask = graph.globals[record.mask] & jraph.get_graph_padding_mask(graph)
    else:
        label = graph.nodes[target]
        mask = graph.nodes[record.mask] & _expand(
            jraph.get_node_padding_mask(graph), graph.nodes[record.mask]
        )
    return label, mask


def _expand(mask_1d, like):
    return mask_1d.reshape(mask_1d.shape + (1,) * (like.ndim - 1))


def _broadcast(mask, like):
    return jnp.broadcast_to(mask.reshape(mask.shape + (1,) * (like.ndim - mask.ndim)), like.shape)


def residuals(graph: jraph.GraphsTuple, predictions: dict, target: str):
    """(error, mask) with error = prediction − label, zeroed where masked; energy per atom."""
    label, mask = label_and_mask(graph, target)
    pred = predictions[target]
    if TARGETS[target].quantity == "energy":  # every level's energy is compared per atom
        n_atoms = jnp.maximum(graph.n_node, 1).astype(pred.dtype)
        pred, label = pred / n_atoms, label.reshape(pred.shape) / n_atoms
    label = label.reshape(pred.shape)
    mask = _broadcast(mask, pred)
    error = jnp.where(mask, pred - label, 0.0)
    return error, mask


def total_loss(graph, predictions, weights: dict[str, float], axis_name: str | None = None):
    """Weighted sum of the per-target MSEs; returns (loss, {target: MSE term}).

    The one loss of training, on one device and data parallel. With `axis_name` (the
    data-parallel step, inside `shard_map`) it is this device's *share*: SSE_t of its own
    graphs divided by N_t, the labelled entries on all devices (a `psum`), so the shares
    summed over the axis are exactly the loss and MSEs of the whole global batch (a mean per
    device averaged over devices would weight atoms unequally).
    """
    terms = {}
    for target, weight in weights.items():
        if weight > 0:
            error, mask = residuals(graph, predictions, target)
            n = jnp.sum(mask)
            if axis_name is not None:
                n = jax.lax.psum(n, axis_name)
            terms[target] = jnp.sum(error**2) / jnp.maximum(n, 1)
    return sum(weights[t] * v for t, v in terms.items()), terms
