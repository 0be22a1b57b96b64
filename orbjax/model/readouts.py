"""Readouts on the per-atom irreps features: energy and the charge targets.

Every charge readout returns per-atom values in the graph layout of `orbjax.data.graphs`
(atomic charges [n], s/p/d sums [n, 3], per-orbital populations [n, 9] in tblite order)
as  prediction = per-element mean + scale · network output, with the mean and scale taken
from the training statistics.
"""
from __future__ import annotations

import e3nn_jax as e3nn
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from orbjax.model.orbital_basis import orbital_diagonal, shell_irreps
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
        scalars, quad, hexa = out.filter(keep="0e"), out.filter(keep="2e"), out.filter(keep="4e")
        s = scalars.array.reshape(-1, 3 * n)
        q = quad.array.reshape(-1, 2 * n, 5)
        h = hexa.array.reshape(-1, n, 9)
        candidates = []  # per slot k: l=0 [1], l=1 [3], l=2 [5]
        for k in range(n):
            candidates.append(s[:, 3 * k: 3 * k + 1])
            p_irreps = e3nn.IrrepsArray(shell_irreps(1), jnp.concatenate([s[:, 3 * k + 1: 3 * k + 2], q[:, 2 * k]], -1))
            candidates.append(orbital_diagonal(p_irreps, 1))
            d_irreps = e3nn.IrrepsArray(shell_irreps(2), jnp.concatenate([s[:, 3 * k + 2: 3 * k + 3], q[:, 2 * k + 1], h[:, k]], -1))
            candidates.append(orbital_diagonal(d_irreps, 2))
        flat = jnp.concatenate(candidates, axis=-1)  # [n_nodes, 27]
        index = jnp.asarray(_candidate_index())[atomic_numbers]  # [n_nodes, 9]
        gathered = jnp.take_along_axis(flat, jnp.maximum(index, 0), axis=1)
        return jnp.where(index >= 0, gathered, 0.0)  # [n_nodes, 9]


def _candidate_index() -> np.ndarray:
    """[119, 9]: for each element and orbital slot, its column in the 27 candidates (−1: none)."""
    slot_shell, slot_m = orbital_slot_table()
    l_table = shell_l_table()
    offsets = np.concatenate([[0], np.cumsum([1, 3, 5] * MAX_SHELLS)])  # (slot k, l) starts at offsets[3k + l]
    index = -np.ones((119, MAX_ORBITALS), np.int32)
    for z in range(len(slot_shell)):
        for o in range(MAX_ORBITALS):
            k = slot_shell[z, o]
            if k >= 0:
                index[z, o] = offsets[3 * k + l_table[z, k]] + slot_m[z, o]
    return index


READOUT_WIDTHS = {"atomic_charges": 1, "dft_charges": 1, "spd_populations": 3, "orbital_populations": MAX_ORBITALS}
