"""Radial basis: Bessel functions × a smooth polynomial cutoff (NequIP / MACE style)."""

from __future__ import annotations

import e3nn_jax as e3nn
import flax.linen as nn
import jax
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
    u = (
        1.0
        - (p + 1) * (p + 2) / 2 * x**p
        + p * (p + 2) * x ** (p + 1)
        - p * (p + 1) / 2 * x ** (p + 2)
    )
    return jnp.where(x < 1.0, u, 0.0)


class RadialMLP(nn.Module):
    """The per-edge radial weights: an MLP of the radial basis, e3nn-style ("path"
    normalisation: unit-variance weights scaled by 1/√fan_in, normalised SiLU, no biases).

    `groups` (static: half-open column ranges (start, stop)) returns one array per range,
    each from its own slice of the last kernel: the last layer of an energy-only model needs a
    quarter of the outputs, a dense layer of [n_edges, hidden] × [hidden, n_out] is a large part of
    an MD step, and separate products keep XLA from slicing (and, in the backward pass,
    zero-padding) one wide [n_edges, n_out] array. The parameter tree is that of
    `e3nn.flax.MultiLayerPerceptron` (Dense_0 … Dense_k, kernel only).

    Attributes:
      features: widths of the layers, the last one the number of outputs.
    """

    features: tuple[int, ...]

    @nn.compact
    def __call__(self, x: jnp.ndarray, groups: tuple[tuple[int, int], ...] | None = None):
        """[n_edges, n_basis] → [n_edges, features[-1]], or with `groups` a list of
        [n_edges, stop − start]."""
        act = e3nn.normalize_function(jax.nn.silu)
        for i, width in enumerate(self.features[:-1]):
            kernel = _Kernel(x.shape[-1], width, x.dtype, name=f"Dense_{i}")()  # [fan_in, width]
            x = act((x @ kernel) / np.sqrt(x.shape[-1]).astype(x.dtype))
        kernel = _Kernel(
            x.shape[-1], self.features[-1], x.dtype, name=f"Dense_{len(self.features) - 1}"
        )()
        scale = 1 / np.sqrt(x.shape[-1]).astype(x.dtype)
        if groups is None:
            return (x @ kernel) * scale
        return [(x @ kernel[:, start:stop]) * scale for start, stop in groups]


class _Kernel(nn.Module):
    fan_in: int
    width: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self) -> jnp.ndarray:
        return self.param(
            "kernel", nn.initializers.normal(stddev=1.0), (self.fan_in, self.width), self.dtype
        )
