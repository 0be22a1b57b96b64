"""GFN1-xTB atomic-orbital basis: which shells each element has, and a fixed per-atom layout.

tblite orders the orbitals of an atom shell by shell (in the order of this table) and,
inside a shell, by m = −l…l in real harmonics: p = (y, z, x); d = (xy, yz, z², xz, x²−y²).
Every orbital label in orbjax keeps that order.

For batching, each atom's orbitals are written into a fixed-width row of `MAX_ORBITALS`
slots (the widest GFN1 atom has s, p, d = 9 orbitals), padded with NaN/False.
"""

from __future__ import annotations

import numpy as np

ORBITAL_ORDER = "tblite real harmonics; p: y,z,x; d: xy,yz,z2,xz,x2-y2"
SHELL_LETTERS = "spdf"
MAX_SHELLS = 3
MAX_ORBITALS = 9

# Angular momentum of each shell, in tblite's order, read from tblite 0.8 (GFN1-xTB,
# `Calculator.get("angular-momenta")` for every element 1–86).
_SPD, _SP, _SPD_TM = (0, 1, 2), (0, 1), (2, 0, 1)
GFN1_SHELLS: dict[int, tuple[int, ...]] = {
    1: (0, 0),
    2: (0,),
    3: _SP,
    4: _SP,
    5: _SP,
    6: _SP,
    7: _SP,
    8: _SP,
    9: _SP,
    10: _SPD,
    11: _SP,
    12: _SP,
    **{z: _SPD for z in range(13, 19)},
    19: _SP,
    20: _SPD,
    **{z: _SPD_TM for z in range(21, 30)},
    30: _SP,
    **{z: _SPD for z in range(31, 37)},
    37: _SP,
    38: _SPD,
    **{z: _SPD_TM for z in range(39, 48)},
    48: _SP,
    **{z: _SPD for z in range(49, 55)},
    55: _SP,
    56: _SPD,
    **{z: _SPD_TM for z in range(57, 80)},
    80: _SP,
    81: _SP,
    82: _SP,
    83: _SP,
    84: _SPD,
    85: _SPD,
    86: _SPD,
}
MAX_Z_GFN1 = 86


def shell_l_table(max_z: int = MAX_Z_GFN1) -> np.ndarray:
    """[max_z + 1, MAX_SHELLS] int: l of shell k of element Z, −1 where absent."""
    table = -np.ones((max_z + 1, MAX_SHELLS), np.int32)
    for z, shells in GFN1_SHELLS.items():
        if z <= max_z:
            table[z, : len(shells)] = shells
    return table


def orbital_slot_table(max_z: int = MAX_Z_GFN1) -> tuple[np.ndarray, np.ndarray]:
    """Per element, which shell slot and which m index each of the 9 orbital slots holds.

    Returns:
      slot_shell [max_z + 1, MAX_ORBITALS] int (−1 = unused slot),
      slot_m     [max_z + 1, MAX_ORBITALS] int (index 0…2l inside the shell, −1 = unused).
    """
    slot_shell = -np.ones((max_z + 1, MAX_ORBITALS), np.int32)
    slot_m = -np.ones((max_z + 1, MAX_ORBITALS), np.int32)
    for z, shells in GFN1_SHELLS.items():
        if z > max_z:
            continue
        k = 0
        for shell, l in enumerate(shells):
            for m in range(2 * l + 1):
                slot_shell[z, k], slot_m[z, k] = shell, m
                k += 1
    return slot_shell, slot_m


def n_orbitals(atomic_numbers: np.ndarray) -> np.ndarray:
    """[n_atoms] number of GFN1 orbitals of each atom."""
    return np.array([sum(2 * l + 1 for l in GFN1_SHELLS[int(z)]) for z in atomic_numbers])


def pad_orbitals(
    atomic_numbers: np.ndarray, orbital_values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Flat per-orbital values (tblite order) → per-atom rows.

    Args:
      atomic_numbers: [n_atoms].
      orbital_values: [n_orbitals] in tblite order (atom by atom, shell by shell).
    Returns:
      values [n_atoms, MAX_ORBITALS] (NaN in unused slots), mask [n_atoms, MAX_ORBITALS] bool.
    """
    counts = n_orbitals(atomic_numbers)
    if counts.sum() != len(orbital_values):
        raise ValueError(
            f"{len(orbital_values)} orbital values for atoms holding {counts.sum()} orbitals"
        )
    mask = np.arange(MAX_ORBITALS)[None, :] < counts[:, None]
    values = np.full(mask.shape, np.nan)
    values[mask] = orbital_values
    return values, mask


def unpad_orbitals(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Inverse of `pad_orbitals`: [n_atoms, MAX_ORBITALS] → flat [n_orbitals]."""
    return np.asarray(values)[np.asarray(mask)]


def spd_sums(atomic_numbers: np.ndarray, padded_values: np.ndarray) -> np.ndarray:
    """[n_atoms, 3] sum of the orbital values over all s, all p, all d shells of each atom."""
    slot_shell, _ = orbital_slot_table()
    l_table = shell_l_table()
    z = np.asarray(atomic_numbers)
    shell = slot_shell[z]  # [n_atoms, 9]
    l_of_slot = np.where(shell >= 0, np.take_along_axis(l_table[z], np.maximum(shell, 0), 1), -1)
    out = np.zeros((len(z), 3))
    for l in range(3):
        out[:, l] = np.where(l_of_slot == l, np.nan_to_num(padded_values), 0.0).sum(axis=1)
    return out
