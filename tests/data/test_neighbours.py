"""Neighbour lists against the brute-force image enumeration."""

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from orbjax.data.neighbours import brute_force_neighbour_list, image_range, neighbour_list

BORDER = 1e-6  # Å; pairs this close to the cutoff may go either way


def edge_set(positions, senders, receivers, shifts, cutoff):
    """Edges as a set of (sender, receiver, rounded shift), borderline pairs dropped."""
    d = np.linalg.norm(positions[senders] - positions[receivers] + shifts, axis=1)
    keep = np.abs(d - cutoff) > BORDER
    return {
        (int(s), int(r), *np.round(t, 6))
        for s, r, t in zip(senders[keep], receivers[keep], shifts[keep])
    }


def well_separated(positions, cell, pbc, min_distance=0.5):
    """No two atoms (or images) closer than `min_distance` Å, as `Structure` demands."""
    reps = image_range(cell, pbc, min_distance, positions)
    for image in itertools.product(*[range(-r, r + 1) for r in reps]):
        d = np.linalg.norm(
            positions[None] - positions[:, None] + np.asarray(image, float) @ cell, axis=-1
        )
        if not any(image):
            d = d + np.diag(np.full(len(positions), np.inf))  # an atom and itself
        if (d < min_distance).any():
            return False
    return True


def check_against_brute_force(positions, cell, pbc, cutoff):
    senders, receivers, shifts = neighbour_list(positions, cell, pbc, cutoff)
    assert senders.dtype == receivers.dtype == np.int32
    d = np.linalg.norm(positions[senders] - positions[receivers] + shifts, axis=1)
    assert (d < cutoff + BORDER).all(), "edge longer than the cutoff"
    assert (d > 0).all(), "zero-length edge"
    got = edge_set(positions, senders, receivers, shifts, cutoff)
    assert len(got) == np.sum(np.abs(d - cutoff) > BORDER), "duplicate edges"
    want = edge_set(positions, *brute_force_neighbour_list(positions, cell, pbc, cutoff), cutoff)
    assert got == want
    # Every i→j with shift t has j→i with shift −t.
    assert got == {(r, s, *(-np.asarray(t) + 0.0)) for s, r, *t in got}
    return senders, receivers, shifts


@st.composite
def periodic_systems(draw, pbc_options=((True, True, True),)):
    # Atoms sit in distinct octants of the cell (jittered), shifted by whole lattice vectors so
    # that some lie outside it: well separated by construction, so few draws are rejected
    # (rejecting most random draws fails hypothesis' health check).
    n = draw(st.integers(1, 6))
    pbc = np.array(draw(st.sampled_from(pbc_options)))
    lengths = draw(arrays(float, 3, elements=st.floats(1.5, 6.0)))
    skew = draw(arrays(float, (3, 3), elements=st.floats(-0.6, 0.6)))
    cell = np.diag(lengths) + np.triu(skew, 1) * lengths[:, None]  # upper-triangular skew
    octants = np.array(list(itertools.product(range(2), repeat=3)))
    chosen = octants[draw(st.lists(st.integers(0, 7), min_size=n, max_size=n, unique=True))]
    jitter = draw(arrays(float, (n, 3), elements=st.floats(-0.2, 0.2)))
    whole = draw(arrays(int, (n, 3), elements=st.integers(-1, 1)))
    frac = (chosen + 0.5 + jitter) / 2 + whole  # [n, 3]
    cutoff = draw(st.floats(1.0, 5.0))
    return frac @ cell, cell, pbc, cutoff


@st.composite
def isolated_molecules(draw, n_atoms=7, spacing=2.0):
    """`n_atoms` on distinct points of a 4×4×4 grid (Å), jittered by < 0.7 Å: ≥ 0.6 Å apart."""
    grid = np.array(list(itertools.product(range(4), repeat=3)), float) * spacing - 1.5 * spacing
    chosen = grid[
        draw(st.lists(st.integers(0, 63), min_size=n_atoms, max_size=n_atoms, unique=True))
    ]
    return chosen + draw(arrays(float, (n_atoms, 3), elements=st.floats(-0.69, 0.69)))


# Draws are separated by construction; the few close contacts across a skewed cell are
# rejected, never enough to matter, so hypothesis' filtering check is off.
PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)


@PROPERTY_SETTINGS
@given(periodic_systems())
def test_bulk_matches_brute_force(system):
    assume(well_separated(*system[:3]))
    check_against_brute_force(*system)


@PROPERTY_SETTINGS
@given(
    periodic_systems(pbc_options=((True, True, False), (False, True, True), (True, False, False)))
)
def test_slabs_and_wires_match_brute_force(system):
    assume(well_separated(*system[:3]))
    check_against_brute_force(*system)


@settings(max_examples=15, deadline=None)
@given(isolated_molecules(), st.floats(1.0, 6.0))
def test_isolated_molecule_matches_brute_force(positions, cutoff):
    assert well_separated(positions, np.zeros((3, 3)), np.zeros(3, bool))
    check_against_brute_force(positions, np.zeros((3, 3)), np.zeros(3, bool), cutoff)


def test_atoms_several_cells_apart_reach_each_other_across_the_images():
    # Unwrapped positions 2.5 cells apart along x: atoms 0 and 4 are 0.75 Å apart through the
    # images 2 and 3 cells away (a hypothesis draw on which the reference once missed the second).
    positions = np.array(
        [
            [-1.125, 1.875, 1.875],
            [1.875, 1.875, 2.625],
            [1.875, 2.625, 1.875],
            [1.875, 2.625, 2.625],
            [2.625, 1.875, 1.875],
        ]
    )
    senders, receivers, shifts = check_against_brute_force(
        positions, 1.5 * np.eye(3), np.ones(3, bool), 1.0
    )
    pair = (senders == 0) & (receivers == 4)
    assert sorted(shifts[pair][:, 0]) == [3.0, 4.5] and not shifts[pair][:, 1:].any()


def test_cell_much_smaller_than_cutoff_counts_all_images():
    # One atom in a 1 Å simple cubic cell, cutoff 2.5 Å: neighbours at |n| < 2.5 for integer n ≠ 0.
    senders, receivers, shifts = check_against_brute_force(
        np.zeros((1, 3)), np.eye(3), np.ones(3, bool), 2.5
    )
    grid = np.stack(np.meshgrid(*[np.arange(-3, 4)] * 3), -1).reshape(-1, 3)
    norms = np.linalg.norm(grid, axis=1)
    assert len(senders) == np.sum((norms > 0) & (norms < 2.5))  # 80 images (shells 1, √2 … √6)


def test_strongly_skewed_cell():
    # Lattice vectors 60° apart with a long tilted c: the face heights, not the lengths, matter.
    cell = np.array([[2.0, 0.0, 0.0], [1.9, 0.5, 0.0], [1.5, 0.3, 1.2]])
    positions = np.array([[0.1, 0.2, 0.3], [1.0, 0.2, 0.8]])
    check_against_brute_force(positions, cell, np.ones(3, bool), 3.0)


def test_slab_with_tilted_in_plane_vector():
    # The in-plane lattice vector has a component along the open axis (z): shifts keep it.
    cell = np.array([[3.0, 0.0, 0.7], [0.0, 3.0, 0.0], [0.0, 0.0, 10.0]])
    positions = np.array([[0.0, 0.0, 0.0], [1.5, 1.5, 1.0]])
    senders, receivers, shifts = check_against_brute_force(
        positions, cell, np.array([True, True, False]), 3.5
    )
    assert np.isclose(np.abs(shifts[:, 2]).max(), 0.7)


def test_isolated_molecule_has_no_shifts_and_far_atoms_no_edges():
    positions = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [10.0, 0.0, 0.0]])
    senders, receivers, shifts = neighbour_list(positions, np.zeros((3, 3)), np.zeros(3, bool), 2.0)
    assert sorted(zip(senders.tolist(), receivers.tolist())) == [(0, 1), (1, 0)]
    assert not shifts.any()


def test_flat_cell_is_refused_with_a_value_error():
    # Two parallel lattice vectors: no volume, no cell list (callers catch ValueError and name it).
    cell = np.array([[3.0, 0.0, 0.0], [6.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    with pytest.raises(ValueError, match="no volume"):
        neighbour_list(np.zeros((2, 3)) + [[0, 0, 0], [1.0, 1.0, 1.0]], cell, np.ones(3, bool), 2.0)
