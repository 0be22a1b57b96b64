"""Padded numpy batches → device arrays of the model's dtype."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def to_device(graph, dtype):
    """Cast float arrays of a numpy batch to the model dtype and move them to the device."""
    return jax.tree.map(
        lambda x: jnp.asarray(x, dtype) if np.issubdtype(x.dtype, np.floating) else jnp.asarray(x),
        graph,
    )
