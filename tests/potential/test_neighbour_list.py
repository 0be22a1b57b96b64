"""The on-device neighbour list: it finds exactly the pairs the host list finds (images of
small skewed cells included), the potential on it equals the dense function, it rebuilds only
after skin/2, and an overflow is flagged and recovered by reallocating."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ase import Atoms

import orbjax
from orbjax.data.neighbours import neighbour_list
from orbjax.data.readers import CHNO_KEYS, example_path, read_structures
from orbjax.potential import NeighbourListBuilder
from tests.potential.test_potential import train_tiny_model

REL = 1e-5  # float64: the two paths differ only in summation order


@pytest.fixture(scope="module")
def potential64(tmp_path_factory):
    return orbjax.load_potential(train_tiny_model(tmp_path_factory), dtype="float64")


def chno_molecule() -> Atoms:
    s = max(read_structures(example_path(), keys=CHNO_KEYS), key=lambda s: s.n_atoms)  # 18 atoms
    return Atoms(numbers=s.atomic_numbers, positions=s.positions)


def skewed_cell() -> Atoms:
    """The molecule in a skewed cell narrower than 2×cutoff, partly outside it."""
    atoms = chno_molecule()
    atoms.cell = [[7.0, 0.0, 0.0], [1.5, 6.5, 0.0], [0.8, -1.0, 6.8]]
    atoms.pbc = True
    atoms.positions += [3.0, -1.0, 4.0]
    return atoms


def tiny_cell() -> Atoms:
    """5 atoms in a 3-4 Å skewed cell: several images of every atom within the cutoff."""
    atoms = chno_molecule()[:5]
    atoms.cell = [[3.0, 0.0, 0.0], [2.5, 3.0, 0.0], [0.5, -1.0, 3.5]]
    atoms.pbc = True
    return atoms


def slab() -> Atoms:
    atoms = skewed_cell()
    atoms.pbc = [True, True, False]
    return atoms


def water_box(n_side: int = 4, seed: int = 0) -> Atoms:
    """n³ randomly oriented waters (3n³ atoms) at 1 g/cm³ in a cubic periodic cell."""
    rng = np.random.default_rng(seed)
    water = np.array([[0.0, 0.0, 0.0], [0.7572, 0.5865, 0.0], [-0.7572, 0.5865, 0.0]])  # Å, O H H
    side = (29.9 * n_side**3) ** (1 / 3)
    positions = []
    for idx in np.ndindex(n_side, n_side, n_side):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        positions.append(water @ q.T + (np.array(idx) + 0.5) * side / n_side)
    return Atoms(
        "OH2" * n_side**3, positions=np.concatenate(positions), cell=np.eye(3) * side, pbc=True
    )


SYSTEMS = {
    "molecule": chno_molecule,
    "skewed": skewed_cell,
    "tiny": tiny_cell,
    "slab": slab,
    "box": water_box,
}


def cell_pbc(atoms):
    return (atoms.cell.array, atoms.pbc) if atoms.pbc.any() else (None, None)


# ----------------------------------------------------------------------------- the list itself


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_edges_and_candidates_are_exactly_the_host_lists(name):
    """Edges: every pair closer than the cutoff; candidates: closer than cutoff + skin."""
    atoms = SYSTEMS[name]()
    cell, pbc = cell_pbc(atoms)
    cutoff, skin = 5.0, 0.5
    builder = NeighbourListBuilder.create(cutoff, cell, pbc, skin=skin)
    nbrs = builder.allocate(atoms.positions)
    assert not nbrs.overflow and int(nbrs.n_edges) <= nbrs.capacity <= nbrs.candidate_capacity
    edges = (nbrs.senders, nbrs.receivers, nbrs.images, nbrs.mask)
    for (senders, receivers, images, mask), radius in (
        (edges, cutoff),
        (nbrs.candidates, cutoff + skin),
    ):
        mask = np.asarray(mask)
        s, r = np.asarray(senders)[mask], np.asarray(receivers)[mask]
        shifts = np.asarray(images)[mask] @ builder.cell_array()
        d = np.linalg.norm(atoms.positions[s] - atoms.positions[r] + shifts, axis=1)
        assert d.max() < radius and d.min() > 0
        ours = sorted(zip(s, r, *np.round(shifts, 6).T))
        assert len(set(ours)) == len(ours)  # no pair twice
        ref_s, ref_r, ref_shift = neighbour_list(
            atoms.positions,
            cell if cell is not None else np.zeros((3, 3)),
            pbc if pbc is not None else np.zeros(3, bool),
            radius,
        )
        assert ours == sorted(zip(ref_s, ref_r, *np.round(ref_shift, 6).T))
        if name == "tiny":
            assert np.abs(np.asarray(images)[mask]).max() >= 2  # really several images


def test_update_rebuilds_only_after_half_the_skin():
    atoms = skewed_cell()
    builder = NeighbourListBuilder.create(5.0, atoms.cell.array, atoms.pbc, skin=0.4)
    nbrs = builder.allocate(atoms.positions)
    update = jax.jit(lambda x, nbrs: nbrs.update(x))
    small = atoms.positions.copy()
    small[3] += [0.19, 0.0, 0.0]  # < skin/2
    kept = update(small, nbrs)
    assert int(kept.n_builds) == 1
    large = atoms.positions.copy()
    large[3] += [0.21, 0.0, 0.0]  # > skin/2
    assert int(update(large, nbrs).n_builds) == 2
    # Without a rebuild the edges still follow the positions: exactly those within the cutoff.
    mask = np.asarray(kept.mask)
    shifts = np.asarray(kept.images)[mask] @ atoms.cell.array
    d = np.linalg.norm(
        small[np.asarray(kept.senders)[mask]] - small[np.asarray(kept.receivers)[mask]] + shifts,
        axis=1,
    )
    assert d.max() < 5.0 and len(d) == len(
        neighbour_list(small, atoms.cell.array, atoms.pbc, 5.0)[0]
    )


def test_overflow_is_flagged_and_reallocation_recovers_it(potential64):
    """A list allocated for a uniform box overflows when the atoms crowd into part of it
    (more pairs per atom); reallocating from it gives the dense function's numbers."""
    atoms = water_box(3)  # 81 atoms
    z, cell, pbc = atoms.numbers, atoms.cell.array, atoms.pbc
    crowded = 0.7 * atoms.positions  # the same cell, local density ×2.9
    builder = NeighbourListBuilder.create(potential64.cutoff, cell, pbc, skin=0.5, headroom=1.0)
    with jax.enable_x64(True):
        nbrs = builder.allocate(atoms.positions)
        assert not nbrs.overflow
        nbrs = jax.jit(lambda x, nbrs: nbrs.update(x))(crowded, nbrs)
        assert bool(nbrs.overflow) and bool(nbrs.did_buffer_overflow)
        assert int(nbrs.max_candidates) > nbrs.candidate_capacity
        grown = builder.allocate(crowded, previous=nbrs)
        assert not grown.overflow and grown.candidate_capacity >= int(nbrs.max_candidates)
        out = potential64.neighbour_energy_forces_stress(crowded, z, grown)
        ref = potential64.energy_forces_stress(crowded, z, cell, pbc)
        assert np.isnan(potential64.neighbour_energy_forces_stress(crowded, z, nbrs)["energy"])
    assert_same(out, ref)


def test_more_edges_within_the_cutoff_without_a_rebuild_overflow_too():
    """Atoms drawn together by less than skin/2: no rebuild, but more candidates come
    within the cutoff than the edge capacity holds."""
    atoms = water_box(3)
    builder = NeighbourListBuilder.create(5.0, atoms.cell.array, atoms.pbc, skin=0.5, headroom=1.0)
    nbrs = builder.allocate(atoms.positions)
    centre = atoms.cell.array.sum(0) / 2
    closer = centre + 0.97 * (atoms.positions - centre)  # every atom moves < 0.25 Å
    assert np.linalg.norm(closer - atoms.positions, axis=1).max() < 0.25
    moved = nbrs.update(closer)
    assert (
        int(moved.n_builds) == 1 and bool(moved.overflow) and int(moved.max_edges) > moved.capacity
    )
    assert not builder.allocate(closer, previous=moved).overflow


# ----------------------------------------------------------------------------- the potential on it


def assert_same(out, ref):
    e, e_ref = float(out["energy"]), float(ref["energy"])
    assert abs(e - e_ref) <= REL * max(abs(e_ref), 1.0), (e, e_ref)
    f_ref = np.asarray(ref["forces"])
    assert np.abs(f_ref).max() > 1e-3  # not trivially zero
    np.testing.assert_allclose(np.asarray(out["forces"]), f_ref, atol=REL * np.abs(f_ref).max())
    s_ref = np.asarray(ref["stress"])
    np.testing.assert_allclose(
        np.asarray(out["stress"]), s_ref, atol=REL * max(np.abs(s_ref).max(), 1e-3)
    )


@pytest.mark.parametrize("name", ["molecule", "skewed", "tiny", "box"])
def test_neighbour_list_potential_equals_the_dense_function(potential64, name):
    atoms = SYSTEMS[name]()
    cell, pbc = cell_pbc(atoms)
    with jax.enable_x64(True):
        nbrs = potential64.neighbour_list(cell, pbc).allocate(atoms.positions)
        out = potential64.neighbour_energy_forces_stress(atoms.positions, atoms.numbers, nbrs)
        ref = potential64.energy_forces_stress(atoms.positions, atoms.numbers, cell, pbc)
    if name != "molecule":
        assert np.abs(np.asarray(ref["stress"])).max() > 1e-5
    assert_same(out, ref)


def test_jax_md_energy_fn_uses_the_neighbor_argument(potential64):
    atoms = skewed_cell()
    z, cell, pbc = atoms.numbers, atoms.cell.array, atoms.pbc
    energy = potential64.jax_md_energy_fn(z, cell, pbc)
    with jax.enable_x64(True):
        x = jnp.asarray(atoms.positions)
        nbrs = potential64.neighbour_list(cell, pbc).allocate(x)
        e_nl, g_nl = jax.jit(
            jax.value_and_grad(lambda x, nbrs: energy(x, neighbor=nbrs.update(x)))
        )(x, nbrs)
        e_dense, g_dense = jax.value_and_grad(energy)(x)
    assert_same(
        {"energy": e_nl, "forces": -g_nl, "stress": 0.0},
        {"energy": e_dense, "forces": -g_dense, "stress": 0.0},
    )
    with jax.enable_x64(True):
        other = potential64.neighbour_list(cell * 1.1, pbc).allocate(x)
        with pytest.raises(ValueError, match="another cell"):
            energy(x, neighbor=other)
        with pytest.raises(TypeError, match="NeighbourList"):
            energy(x, neighbor=object())
