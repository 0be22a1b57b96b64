"""Radial basis: Bessel functions × a smooth polynomial cutoff (NequIP / MACE style)."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def bessel_basis(lengths: jnp.ndarray, n_basis: int, cutoff: float) -> jnp.ndarray:
    """sqrt(2/c) · sin(nπr/c) / r for n = 1…n_basis.

    Args:
      lengths: [n_edges] Å, must be > 0 (callers replace zero-length padding edges).
    Returns:
      [n_edges, n_basis].
    """
    n = jnp.arange(1, n_basis + 1, dtype=lengths.dtype)
    r = lengths[:, None]
    return np.sqrt(2.0 / cutoff) * jnp.sin(n * jnp.pi * r / cutoff) / r


def polynomial_cutoff(lengths: jnp.ndarray, cutoff: float, p: int = 6) -> jnp.ndarray:
    """Smooth envelope u_p(r/c) (DimeNet): 1 at r=0, zero with two zero derivatives at r=c,
    and exactly zero beyond the cutoff so far edges contribute nothing (and no gradient).

    Returns:
      [n_edges].
    """
    x = lengths / cutoff
    u = (1.0 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1)
         - p * (p + 1) / 2 * x ** (p + 2))
    return jnp.where(x < 1.0, u, 0.0)
