"""The dense all-pairs graph: every pair (i, j) at a static set of periodic images.

Cost and memory grow as N² × images: for small and medium systems and batched (vmap) work.
The neighbour-list function (`orbjax.potential.neighbour_list`) is the one for large systems.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import jraph
import numpy as np

from orbjax.data.graphs import geometry_graph
from orbjax.data.lattice import lattice_frame, plane_spacing
from orbjax.model.predict import network_energy, predict

# Å: offset that puts an excluded pair (image along an open direction) beyond any cutoff
FAR = 1.0e3


def image_grid(reps) -> np.ndarray:
    """[Π(2 r_k + 1), 3] int: every image S with |S_k| ≤ reps[k], (0, 0, 0) first."""
    grid = sorted(
        itertools.product(*[range(-r, r + 1) for r in reps]), key=lambda s: np.abs(s).sum()
    )
    return np.asarray(grid, np.int32).reshape(-1, 3)


def required_images(cell, pbc, cutoff: float, xp=jnp):
    """[3] int: m_k = floor(cutoff / h_k + 1/2) images needed beyond the minimum image.

    h_k is the spacing of the lattice planes of direction k. A pair at its minimum image has
    fractional separation |Δ_k| ≤ 1/2; a partner within the cutoff needs |Δ_k + S_k| < cutoff/h_k.
    """
    need = xp.floor(cutoff / plane_spacing(cell, pbc, xp) + 0.5).astype(xp.int32)
    return xp.where(xp.asarray(pbc, bool), need, 0)


def dense_pairs(positions, cell, pbc, images: np.ndarray):
    """All ordered pairs (i, j) at every image, with static shapes.

    Args:
      positions: [n, 3] Å. cell: [3, 3] Å. pbc: [3] bool (concrete or traced).
      images: [K, 3] int, static (`Potential.images`).
    Returns:
      senders [K·n²] (j), receivers [K·n²] (i), both numpy; shifts [K·n², 3] Å such that
      the edge vector is positions[j] - positions[i] + shift. The pair (i, i) of the home
      image has a zero vector (the model skips it). `valid` [K·n²] is False for images along
      open directions (possible only when `pbc` is traced); `dense_graph` moves those away.
    """
    n, k = positions.shape[0], len(images)
    receivers = np.tile(np.repeat(np.arange(n, dtype=np.int32), n), k)
    senders = np.tile(np.arange(n, dtype=np.int32), n * k)
    pbc = jnp.asarray(pbc, bool)
    frame = jax.lax.stop_gradient(lattice_frame(cell, pbc, jnp))
    frac = jax.lax.stop_gradient(positions) @ jnp.linalg.inv(frame)  # [n, 3]
    nearest = -jnp.round(frac[None, :, :] - frac[:, None, :]) * pbc  # [i, j, 3] minimum image
    lattice = jax.lax.stop_gradient(
        nearest[None] + jnp.asarray(images, positions.dtype)[:, None, None]
    )
    shifts = (lattice @ cell).reshape(-1, 3)  # [K·n², 3] Å
    # image exists along open axes?
    valid = jnp.repeat(jnp.all((images == 0) | pbc, axis=-1), n * n)
    return senders, receivers, shifts, valid


def dense_graph(positions, atomic_numbers, cell, pbc, images: np.ndarray) -> jraph.GraphsTuple:
    """One-graph `GraphsTuple` of all pairs (see `dense_pairs`), the layout `predict` takes."""
    senders, receivers, shifts, valid = dense_pairs(positions, cell, pbc, images)
    # Excluded pairs: an edge vector of FAR Å, beyond any cutoff, so it contributes exactly zero.
    far = jax.lax.stop_gradient(positions[receivers] - positions[senders]) + jnp.asarray(
        [FAR, 0.0, 0.0], positions.dtype
    )
    shifts = jnp.where(valid[:, None], shifts, far)
    periodic = jnp.any(jnp.asarray(pbc, bool))
    cell = jnp.where(periodic, cell, 0.0)  # no cell → zero volume → zero stress
    return geometry_graph(positions, atomic_numbers, cell, senders, receivers, shifts, xp=jnp)


def _dense_efs(
    model, variables, positions, atomic_numbers, cell, pbc, images, level: int = 0
) -> dict[str, jnp.ndarray]:
    """`predict` on the dense graph: network_energy [] eV (without Σ E0), forces [n, 3] eV/Å,
    stress [3, 3] eV/Å³."""
    graph = dense_graph(
        positions, atomic_numbers, cell, pbc, np.asarray(images, np.int32).reshape(-1, 3)
    )
    out = predict(model, variables, graph, with_heads=False, compute_stress=True, level=level)
    return {
        "network_energy": out["network_energy"][0],
        "forces": out["forces"],
        "stress": out["stress"][0],
    }


def _dense_energy(
    model, variables, positions, atomic_numbers, cell, pbc, images, level: int = 0
) -> jnp.ndarray:
    """[] eV: the network's energy alone, without Σ E0 (for `jax.grad` by the caller, e.g.
    jax-md)."""
    graph = dense_graph(
        positions, atomic_numbers, cell, pbc, np.asarray(images, np.int32).reshape(-1, 3)
    )
    return network_energy(model, variables, graph, level)[0]


# Compiled once per process for every potential (the model is static; see `core`).
dense_efs_jit = jax.jit(_dense_efs, static_argnums=0, static_argnames=("images", "level"))
dense_energy_jit = jax.jit(_dense_energy, static_argnums=0, static_argnames=("images", "level"))


def _key(images: np.ndarray) -> tuple:
    """Hashable form of an image grid, for a static jit argument."""
    return tuple(map(tuple, np.asarray(images).tolist()))
