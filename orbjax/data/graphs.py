"""Structures → `jraph.GraphsTuple` (numpy), the layout the model and the losses consume.

Every label comes with a boolean mask; a missing label (absent key or NaN) is stored as 0
with mask False, so unlabelled or padded entries can never put NaN into a loss or gradient.

Layout of one graph (n = atoms, e = edges); floats are float32 except the geometry
(`positions`, `shifts`, `cell`) and `energy`, kept float64 so that the caller decides
when to cast (total energies of ~1e4 eV lose meV in float32 before references are
subtracted; jax casts to float32 itself unless x64 is enabled):

  nodes:   positions [n,3] Å f64, atomic_numbers [n] i32,
           forces [n,3] eV/Å + forces_mask [n],
           atomic_charges [n] e (xTB Mulliken) + atomic_charges_mask [n],
           dft_charges [n] e + dft_charges_mask [n],
           spd_populations [n,3] e + spd_mask [n,3] (True only for l the element has in GFN1),
           orbital_populations [n,9] e + orbital_mask [n,9] (tblite order, `pad_orbitals`).
  edges:   shifts [e,3] Å f64; edge vector = positions[senders] - positions[receivers] + shifts.
  globals: energy [1] eV f64 + energy_mask [1], stress [1,3,3] eV/Å³ + stress_mask [1],
           cell [1,3,3] Å f64, pbc [1,3] bool, total_charge [1] e.
  senders, receivers [e] i32; n_node, n_edge [1] i32.
"""
from __future__ import annotations

from typing import Sequence

import jraph
import numpy as np

from orbjax.data.neighbours import neighbour_list
from orbjax.data.structures import Structure, StructureError
from orbjax.orbitals import MAX_ORBITALS, MAX_SHELLS, pad_orbitals, shell_l_table

F32 = np.float32
_L_TABLE = shell_l_table()  # [max_z + 1, 3] l of each GFN1 shell, −1 = absent


def structure_to_graph(
    structure: Structure,
    cutoff: float,  # Å
    energy_key: str = "energy",
    forces_key: str = "forces",
) -> jraph.GraphsTuple:
    """One structure → one graph with radius-`cutoff` edges and masked labels.

    Args:
      structure: validated `Structure`.
      cutoff: neighbour cutoff in Å.
      energy_key, forces_key: which labels fill `energy`/`forces` (e.g. "xtb_energy").
    """
    s = structure
    senders, receivers, shifts = neighbour_list(s.positions, s.cell, s.pbc, cutoff)
    return jraph.GraphsTuple(
        nodes=_nodes(s, forces_key),
        edges={"shifts": shifts.astype(np.float64)},  # [e, 3] Å
        globals=_globals(s, energy_key),
        senders=senders.astype(np.int32),
        receivers=receivers.astype(np.int32),
        n_node=np.array([s.n_atoms], np.int32),
        n_edge=np.array([len(senders)], np.int32),
    )


def structures_to_graphs(structures: Sequence[Structure], cutoff: float, **keys) -> list[jraph.GraphsTuple]:
    """`structure_to_graph` over a sequence (keys: energy_key, forces_key)."""
    return [structure_to_graph(s, cutoff, **keys) for s in structures]


def graphs_to_batch(graphs: Sequence[jraph.GraphsTuple]) -> jraph.GraphsTuple:
    """Concatenate graphs into one unpadded batch (numpy)."""
    return jraph.batch_np(list(graphs))


def _masked(value, shape, entry_ndim: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Label (or None) → (float32 values, mask); a non-finite entry becomes 0 with mask False.

    An entry is the trailing `entry_ndim` axes (e.g. a force vector): one NaN component
    masks the whole entry. The mask has shape `shape[:len(shape) - entry_ndim]`.
    """
    mask_shape = shape[: len(shape) - entry_ndim]
    if value is None:
        return np.zeros(shape, F32), np.zeros(mask_shape, bool)
    value = np.asarray(value, np.float64).reshape(shape)
    finite = np.isfinite(value)
    mask = finite.reshape(*mask_shape, -1).all(axis=-1) if entry_ndim else finite
    keep = mask.reshape(mask_shape + (1,) * entry_ndim)
    return np.where(keep, value, 0.0).astype(F32), mask


def _nodes(s: Structure, forces_key: str) -> dict[str, np.ndarray]:
    n, z = s.n_atoms, s.atomic_numbers
    forces, forces_mask = _masked(s.labels.get(forces_key), (n, 3), entry_ndim=1)
    charges, charges_mask = _masked(s.labels.get("xtb_charges"), (n,))
    dft, dft_mask = _masked(s.labels.get("dft_charges"), (n,))
    spd, spd_mask = _masked(s.labels.get("xtb_spd_populations"), (n, MAX_SHELLS))
    spd_mask &= _has_l(z)
    orbitals, orbital_mask = _orbitals(s)
    return {
        "positions": s.positions.astype(np.float64),  # [n, 3] Å
        "atomic_numbers": z.astype(np.int32),  # [n]
        "forces": forces,  # [n, 3] eV/Å
        "forces_mask": forces_mask,  # [n]
        "atomic_charges": charges,  # [n] e
        "atomic_charges_mask": charges_mask,
        "dft_charges": dft,  # [n] e
        "dft_charges_mask": dft_mask,
        "spd_populations": np.where(spd_mask, spd, 0.0).astype(F32),  # [n, 3] e
        "spd_mask": spd_mask,
        "orbital_populations": orbitals,  # [n, 9] e
        "orbital_mask": orbital_mask,
    }


def _has_l(z: np.ndarray) -> np.ndarray:
    """[n, 3] bool: element has at least one GFN1 shell of l = 0, 1, 2 (False beyond Rn)."""
    known = z < len(_L_TABLE)
    l_of_shell = _L_TABLE[np.where(known, z, 0)]  # [n, 3]; Z=0 row is all −1
    return (l_of_shell[:, :, None] == np.arange(3)).any(axis=1) & known[:, None]


def _orbitals(s: Structure) -> tuple[np.ndarray, np.ndarray]:
    flat = s.labels.get("xtb_orbital_populations")
    if flat is None:
        return np.zeros((s.n_atoms, MAX_ORBITALS), F32), np.zeros((s.n_atoms, MAX_ORBITALS), bool)
    try:
        values, mask = pad_orbitals(s.atomic_numbers, np.asarray(flat, np.float64))
    except (ValueError, KeyError) as err:
        raise StructureError(s.name, f"xtb_orbital_populations do not match the GFN1 basis: {err}")
    mask &= np.isfinite(values)
    return np.where(mask, values, 0.0).astype(F32), mask


def _globals(s: Structure, energy_key: str) -> dict[str, np.ndarray]:
    energy = s.labels.get(energy_key)
    energy = np.full(1, np.nan) if energy is None else np.asarray(energy, np.float64).reshape(1)
    stress, stress_mask = _masked(s.labels.get("stress"), (1, 3, 3), entry_ndim=2)
    return {
        "energy": np.nan_to_num(energy, nan=0.0, posinf=0.0, neginf=0.0),  # [1] eV, float64
        "energy_mask": np.isfinite(energy),  # [1]
        "stress": stress,  # [1, 3, 3] eV/Å³
        "stress_mask": stress_mask,  # [1]
        "cell": s.cell.reshape(1, 3, 3).astype(np.float64),  # [1, 3, 3] Å
        "pbc": s.pbc.reshape(1, 3).astype(bool),  # [1, 3]
        "total_charge": np.array([s.charge], F32),  # [1] e
    }
