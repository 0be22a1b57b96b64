"""Lattice geometry, one description read by the neighbour lists, the potential's periodic
images and the supercell labels: a non-degenerate frame for cells with open directions,
and the spacing of lattice planes (how wide a cell is in each lattice direction)."""

from __future__ import annotations

import numpy as np


def lattice_frame(cell, pbc, xp=np):
    """[3, 3] a non-degenerate basis: periodic rows of `cell`, unit normals for open ones.

    Fractional coordinates in this frame wrap pairs to their minimum image; the open rows
    only complete the basis (a slab's zero or arbitrary vacuum vector is replaced by the
    normal of its periodic plane). `xp` is numpy (static) or jax.numpy (traced `pbc`).
    """
    eye = xp.eye(3)
    rows = [xp.where(pbc[k], cell[k], eye[k]) for k in range(3)]
    for k in range(3):
        normal = xp.cross(rows[(k + 1) % 3], rows[(k + 2) % 3])
        norm = xp.linalg.norm(normal)
        fallback = xp.where(norm > 1e-6, normal / xp.where(norm > 1e-6, norm, 1.0), eye[k])
        rows[k] = xp.where(pbc[k], rows[k], fallback)
    return xp.stack(rows)


def plane_spacing(cell, pbc, xp=np):
    """[3] Å: distance between opposite faces of the cell along each lattice direction
    (volume / area of the face spanned by the other two rows of `lattice_frame`). Along an
    open direction it is that of the stand-in row and carries no meaning: mask it with pbc.

    It is what decides periodic images and supercells, also for cells narrower than the
    cutoff and strongly skewed ones (a lattice vector's length does not)."""
    frame = lattice_frame(cell, pbc, xp)
    volume = xp.abs(xp.linalg.det(frame))
    areas = xp.stack(
        [xp.linalg.norm(xp.cross(frame[(k + 1) % 3], frame[(k + 2) % 3])) for k in range(3)]
    )
    return volume / areas


def cell_and_pbc(cell=None, pbc=None) -> tuple[np.ndarray, np.ndarray]:
    """Concrete ([3, 3] float64 Å, [3] bool) from optional inputs: no cell is zeros, no pbc
    is not periodic, one bool applies to all three directions."""
    cell = np.zeros((3, 3)) if cell is None else np.asarray(cell, np.float64).reshape(3, 3)
    pbc = np.zeros(3, bool) if pbc is None else np.broadcast_to(np.asarray(pbc, bool), (3,))
    return cell, pbc
