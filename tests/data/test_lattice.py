"""Lattice-plane spacing: one definition for neighbour images, the potential and supercells."""

import numpy as np
import pytest

from orbjax.data.lattice import lattice_frame, plane_spacing
from orbjax.data.structures import Structure
from orbjax.labels.xtb import supercell_repeats


def test_spacing_is_the_inverse_norm_of_the_reciprocal_vectors():
    cell = np.array([[14.22, 5.59, 15.56], [0.0, 9.06, 0.27], [0.0, 0.0, 9.18]])  # a skewed Si cell
    reciprocal = np.linalg.inv(cell).T  # rows b_k with a_i · b_k = δ_ik
    np.testing.assert_allclose(
        plane_spacing(cell, np.ones(3, bool)), 1 / np.linalg.norm(reciprocal, axis=1)
    )
    assert plane_spacing(np.eye(3) * 4.0, np.ones(3, bool)).tolist() == pytest.approx([4.0] * 3)


@pytest.mark.parametrize("vacuum", [[0.0, 0.0, 0.0], [1.0, 2.0, 30.0]])
def test_slab_spacing_and_supercell_ignore_the_vacuum_vector(vacuum):
    """A slab periodic in a, b: its open vector (zero or tilted) must not change the widths."""
    a, b = [3.0, 0.0, 0.0], [1.5, 2.6, 0.0]
    cell, pbc = np.array([a, b, vacuum]), np.array([True, True, False])
    frame = lattice_frame(cell, pbc)
    np.testing.assert_allclose(frame[2], [0.0, 0.0, 1.0], atol=1e-12)  # the plane's normal
    spacing = plane_spacing(cell, pbc)
    volume = 3.0 * 2.6  # |a · (b × n)| with n the unit normal
    np.testing.assert_allclose(
        spacing[:2], [volume / np.linalg.norm(np.cross(b, [0, 0, 1])), volume / 3.0], rtol=1e-9
    )
    slab = Structure(np.array([29]), np.zeros((1, 3)), cell=cell, pbc=pbc, name="slab")
    assert supercell_repeats(slab, 9.0) == (4, 4, 1)
