"""Padded numpy batches → device arrays of the model's dtype, on one device or sharded."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from orbjax.data.batching import batch_iterator


def to_device(graph, dtype):
    """Cast float arrays of a numpy batch to the model dtype and move them to the device."""
    return jax.tree.map(lambda x: jnp.asarray(x, dtype) if np.issubdtype(x.dtype, np.floating) else jnp.asarray(x), graph)


def device_batches(par, graphs, config, budgets, dtype, **kwargs):
    """Batches on the device: one padded batch, or (data parallel) one per device, sharded."""
    if par is not None:
        return par.batch_iterator(graphs, config.train.batch_size, budgets, dtype, **kwargs)
    return (to_device(b, dtype) for b in batch_iterator(graphs, config.train.batch_size, budgets, **kwargs))
