"""Readouts on the per-atom irreps features: energy and the auxiliary targets.

Every auxiliary readout returns per-atom values in the graph layout of `orbjax.data.graphs`
(atomic charges [n], s/p/d sums [n, 3], per-orbital populations [n, 9] in tblite order)
as  prediction = per-element mean + scale · network output, with the mean and scale taken
from the training statistics.
"""

from __future__ import annotations

import functools

import e3nn_jax as e3nn
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from orbjax.model.orbital_basis import diagonal_coupling
from orbjax.orbitals import MAX_ORBITALS, MAX_SHELLS, orbital_slot_table, shell_l_table


class ScalarMLP(nn.Module):
    """Invariant readout: the 0e features → a small MLP → `width` numbers per atom."""

    width: int
    hidden: int = 16

    @nn.compact
    def __call__(self, features: e3nn.IrrepsArray) -> jnp.ndarray:
        x = features.filter(keep="0e").array  # [n_nodes, n_scalars]
        x = jax.nn.silu(nn.Dense(self.hidden)(x))
        return nn.Dense(self.width)(x)  # [n_nodes, width]


class EquivariantOrbitalReadout(nn.Module):
    """Per-orbital populations from 0e⊕2e(⊕4e) irreps per shell (see orbital_basis.py).

    For each of the (up to 3) shell slots of an atom, predict one set of irreps for each
    possible l; assemble diag(B) for every (slot, l) candidate; then gather, per element, the
    candidates that match its GFN1 shell layout into the 9 orbital slots.
    """

    channels: int = 16

    @nn.compact
    def __call__(self, features: e3nn.IrrepsArray, atomic_numbers: jnp.ndarray) -> jnp.ndarray:
        c = self.channels
        x = e3nn.flax.Linear(f"{c}x0e+{c}x1o+{c}x2e", name="pre")(features)
        y = e3nn.flax.Linear(f"{c}x0e+{c}x1o+{c}x2e", name="pre_square")(features)
        # Channel-wise products give the 4e (and more 2e) that a d-shell block needs.
        products = e3nn.elementwise_tensor_product(x, y, filter_ir_out="0e+2e+4e")
        x = e3nn.concatenate([x.filter(keep="0e+2e"), products]).regroup()
        n = MAX_SHELLS
        out = e3nn.flax.Linear(f"{3 * n}x0e+{2 * n}x2e+{n}x4e", name="shell_irreps")(x)
        self.sow("intermediates", "shell_irreps_out", out.array)  # for the D·B·Dᵀ test
        # diag(B) of every (slot, l) candidate in one product: [n_nodes, 27]
        flat = out.array @ jnp.asarray(_candidate_matrix(), out.array.dtype)
        index = jnp.asarray(_candidate_index())[atomic_numbers]  # [n_nodes, 9]
        gathered = jnp.take_along_axis(flat, jnp.maximum(index, 0), axis=1)
        return jnp.where(index >= 0, gathered, 0.0)  # [n_nodes, 9]


@functools.lru_cache(maxsize=None)
def _candidate_matrix() -> np.ndarray:
    """[dim of 3n x 0e + 2n x 2e + n x 4e, 27]: the readout's irreps → diag(B) of each
    candidate (slot k, l) at columns 9k + (0 | 1…3 | 4…8), i.e. `orbital_diagonal` of
    s = 0e_{3k}, p = 0e_{3k+1} ⊕ 2e_{2k}, d = 0e_{3k+2} ⊕ 2e_{2k+1} ⊕ 4e_k, as one matrix
    (one XLA op instead of a few per candidate)."""
    n = MAX_SHELLS
    quad, hexa = 3 * n, 3 * n + 5 * 2 * n  # where the 2e and 4e blocks start
    c1, c2 = diagonal_coupling(1), diagonal_coupling(2)  # [3, 1+5], [5, 1+5+9]
    matrix = np.zeros((3 * n + 10 * n + 9 * n, 9 * n))
    for k in range(n):
        matrix[3 * k, 9 * k] = 1.0
        p, d = slice(9 * k + 1, 9 * k + 4), slice(9 * k + 4, 9 * k + 9)
        matrix[3 * k + 1, p] = c1[:, 0]
        matrix[quad + 5 * 2 * k : quad + 5 * 2 * k + 5, p] = c1[:, 1:].T
        matrix[3 * k + 2, d] = c2[:, 0]
        matrix[quad + 5 * (2 * k + 1) : quad + 5 * (2 * k + 1) + 5, d] = c2[:, 1:6].T
        matrix[hexa + 9 * k : hexa + 9 * k + 9, d] = c2[:, 6:].T
    return matrix


def _candidate_index() -> np.ndarray:
    """[119, 9]: for each element and orbital slot, its column in the 27 candidates (−1: none)."""
    slot_shell, slot_m = orbital_slot_table()
    l_table = shell_l_table()
    # (slot k, l) starts at offsets[3k + l]
    offsets = np.concatenate([[0], np.cumsum([1, 3, 5] * MAX_SHELLS)])
    index = -np.ones((119, MAX_ORBITALS), np.int32)
    for z in range(len(slot_shell)):
        for o in range(MAX_ORBITALS):
            k = slot_shell[z, o]
            if k >= 0:
                index[z, o] = offsets[3 * k + l_table[z, k]] + slot_m[z, o]
    return index
