"""Structures → `jraph.GraphsTuple` (numpy), the layout the model and the losses consume.

Every label comes with a boolean mask; a missing label (absent key or NaN) is stored as 0
with mask False, so unlabelled or padded entries can never put NaN into a loss or gradient.

Layout of one graph (n = atoms, e = edges); floats are float32 except the geometry
(`positions`, `shifts`, `cell`) and `energy`, kept float64 so that the caller decides
when to cast (total energies of ~1e4 eV lose meV in float32 before references are
subtracted; jax casts to float32 itself unless x64 is enabled):

  nodes:   positions [n,3] Å f64, atomic_numbers [n] i32,
           forces [n,3] eV/Å + forces_mask [n],
           and every auxiliary target of `targets.TARGETS` with its mask, by default:
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

from orbjax.data.batching import PaddingBudget, next_budget, pad_batch
from orbjax.data.neighbours import neighbour_list
from orbjax.data.structures import Structure, check_contacts, check_geometry
from orbjax.targets import F32, LEVEL_KEYS, TARGETS, auxiliary_targets, level_targets, masked_label


def structure_to_graph(
    structure: Structure,
    cutoff: float,  # Å
    energy_key: str = "energy",
    forces_key: str = "forces",
    other_levels: Sequence[str] = (),
) -> jraph.GraphsTuple:
    """One structure → one graph with radius-`cutoff` edges and masked labels.

    Args:
      structure: validated `Structure`.
      cutoff: neighbour cutoff in Å.
      energy_key, forces_key: which labels fill `energy`/`forces` (e.g. "xtb_energy").
      other_levels: more levels of theory (`targets.LEVEL_KEYS`) whose labels fill
        `energy_<level>`/`forces_<level>` with their masks (False where the structure
        lacks them), so that structures of several levels share one batch.
    """
    s = structure
    senders, receivers, shifts = neighbour_list(s.positions, s.cell, s.pbc, cutoff)
    nodes, globals_ = _nodes(s, forces_key), _globals(s, energy_key)
    for level in other_levels:
        energy_target, forces_target = level_targets(level)
        energy_key_l, forces_key_l = LEVEL_KEYS[level]
        globals_[energy_target], globals_[f"{energy_target}_mask"] = _energy(s, energy_key_l)
        nodes[forces_target], nodes[f"{forces_target}_mask"] = masked_label(
            s.labels.get(forces_key_l), (s.n_atoms, 3), entry_ndim=1
        )
    return jraph.GraphsTuple(
        nodes=nodes,
        edges={"shifts": shifts.astype(np.float64)},  # [e, 3] Å
        globals=globals_,
        senders=senders.astype(np.int32),
        receivers=receivers.astype(np.int32),
        n_node=np.array([s.n_atoms], np.int32),
        n_edge=np.array([len(senders)], np.int32),
    )


def geometry_graph(
    positions, atomic_numbers, cell, senders, receivers, shifts, xp=np
) -> jraph.GraphsTuple:
    """One unlabelled graph: only what `predict` reads (the potential's graphs).

    Args:
      positions [n, 3] Å; atomic_numbers [n]; cell [3, 3] Å (zeros: no stress); senders,
      receivers [e]; shifts [e, 3] Å (edge vector = positions[j] − positions[i] + shift).
      xp: numpy (host graphs) or jax.numpy (graphs built inside `jit`).
    """
    return jraph.GraphsTuple(
        nodes={"positions": positions, "atomic_numbers": xp.asarray(atomic_numbers, xp.int32)},
        edges={"shifts": shifts},
        globals={"cell": cell[None], "total_charge": xp.zeros(1, positions.dtype)},
        senders=xp.asarray(senders),
        receivers=xp.asarray(receivers),
        n_node=xp.asarray([positions.shape[0]], xp.int32),
        n_edge=xp.asarray([senders.shape[0]], xp.int32),
    )


def potential_graph(
    name: str,
    positions,
    atomic_numbers,
    cell,
    pbc,
    cutoff: float,
    budget: PaddingBudget | None = None,
    headroom: float = 1.1,
) -> tuple[jraph.GraphsTuple, PaddingBudget]:
    """One unlabelled structure as the padded host graph a potential evaluates, and its budget.

    The cheap geometry checks, the numpy neighbour list (contacts checked on it), and padding
    on the `next_budget` ladder (`budget` is kept while it fits), so a drifting MD system or
    structures of many sizes share a few compilations. The ASE calculator and
    `Potential.descriptors` both use it. Positions, cell and shifts stay float64.

    Args:
      name: the structure's name in error messages. positions [n, 3] Å; atomic_numbers [n];
      cell [3, 3] Å; pbc [3] bool; cutoff Å; budget: the previous call's, or None.
    """
    positions = np.asarray(positions, np.float64)
    cell = np.asarray(cell, np.float64)
    check_geometry(name, positions, cell, pbc)  # the cheap part of `validate`
    senders, receivers, shifts = neighbour_list(positions, cell, pbc, cutoff)
    check_contacts(name, positions, senders, receivers, shifts)  # no extra neighbour list
    graph = geometry_graph(positions, atomic_numbers, cell, senders, receivers, shifts)
    budget = next_budget(budget, len(positions), len(senders), headroom)
    return pad_batch([graph], budget), budget


def structures_to_graphs(
    structures: Sequence[Structure], cutoff: float, **keys
) -> list[jraph.GraphsTuple]:
    """`structure_to_graph` over a sequence (keys: energy_key, forces_key, other_levels)."""
    return [structure_to_graph(s, cutoff, **keys) for s in structures]


def graphs_to_batch(graphs: Sequence[jraph.GraphsTuple]) -> jraph.GraphsTuple:
    """Concatenate graphs into one unpadded batch (numpy)."""
    return jraph.batch_np(list(graphs))


def _nodes(s: Structure, forces_key: str) -> dict[str, np.ndarray]:
    forces, forces_mask = masked_label(s.labels.get(forces_key), (s.n_atoms, 3), entry_ndim=1)
    nodes = {
        "positions": s.positions.astype(np.float64),  # [n, 3] Å
        "atomic_numbers": s.atomic_numbers.astype(np.int32),  # [n]
        "forces": forces,  # [n, 3] eV/Å
        "forces_mask": forces_mask,  # [n]
    }
    for name in auxiliary_targets():  # charges, populations: `targets.TARGETS`
        target = TARGETS[name]
        nodes[name], nodes[target.mask] = target.node_label(s)
    return nodes


def _energy(s: Structure, energy_key: str) -> tuple[np.ndarray, np.ndarray]:
    """([1] eV float64, 0 where unlabelled; [1] mask) of the label `energy_key`."""
    energy = s.labels.get(energy_key)
    energy = np.full(1, np.nan) if energy is None else np.asarray(energy, np.float64).reshape(1)
    return np.nan_to_num(energy, nan=0.0, posinf=0.0, neginf=0.0), np.isfinite(energy)


def _globals(s: Structure, energy_key: str) -> dict[str, np.ndarray]:
    energy, energy_mask = _energy(s, energy_key)
    stress, stress_mask = masked_label(s.labels.get("stress"), (1, 3, 3), entry_ndim=2)
    return {
        "energy": energy,  # [1] eV, float64
        "energy_mask": energy_mask,  # [1]
        "stress": stress,  # [1, 3, 3] eV/Å³
        "stress_mask": stress_mask,  # [1]
        "cell": s.cell.reshape(1, 3, 3).astype(np.float64),  # [1, 3, 3] Å
        "pbc": s.pbc.reshape(1, 3).astype(bool),  # [1, 3]
        "total_charge": np.array([s.charge], F32),  # [1] e
    }
