"""On-device neighbour lists: a cell list with static capacity, an overflow flag and an update
cheap enough to run on every MD step inside `jit`; and the potential evaluated on it.

The contract is jax-md's `partition.neighbor_list` (allocate on the host, update in `jit`,
check a sticky overflow flag, reallocate), extended with what a machine-learned potential on
small periodic cells needs: every edge stores the lattice image of its sender, so a cell
narrower than twice the cutoff, skewed or not, gets all its periodic images::

    builder = potential.neighbour_list(cell, pbc, skin=0.5)      # host; cell fixed
    nbrs = builder.allocate(positions)                            # host: sets the capacities
    step = jax.jit(lambda x, nbrs: potential.neighbour_energy_forces_stress(x, z, nbrs.update(x)))
    if nbrs.overflow: nbrs = builder.allocate(positions, previous=nbrs)   # bigger, redo

Edges follow orbjax's convention: vector = x[senders] − x[receivers] + images @ cell
(Å), both directions of every pair, padded to `capacity` with edges of length `FAR` that the
model's envelope turns into exact zeros. Two levels: candidate pairs within cutoff + skin,
complete until some atom has moved skin/2 (then `update` rebuilds them, in a `lax.cond`),
and, selected from them on every `update` (O(candidates)), the edges within the cutoff,
which are all the model sees.

How the list is built (all static shapes, memory O(N × bin neighbourhood), not N²). The
positions are expressed in the fractional coordinates of the cell (open directions: unit
normals, `lattice_frame`) and sorted into bins at least `cutoff + skin` wide between lattice
planes. Along a periodic direction narrower than that there is one bin and the search reaches
ceil((cutoff + skin) / spacing) images each side; along an open direction bins start at the
lowest atom and the last bin takes every atom beyond (clamping moves two atoms' bins apart by
at most what separates them, so no pair is lost). Each atom then looks at the atoms of the
bins within reach, at the image each bin offset implies, and the pairs closer than
cutoff + skin are compacted into the edge list.

Why not jax-md itself: jax-md 0.2.29 imports with jax 0.10.2, but its neighbour lists store
no image shifts (the displacement function takes the minimum image), so a cell narrower than
2 × cutoff loses pairs; and it requires pymatgen at install. `NeighbourList` keeps jax-md's
names where they exist (`update`, `did_buffer_overflow`) so jax-md-style loops read the same.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools

import flax.struct
import jax
import jax.numpy as jnp
import jraph
import numpy as np

from orbjax.data.batching import round_up
from orbjax.data.graphs import geometry_graph
from orbjax.data.lattice import cell_and_pbc, lattice_frame, plane_spacing
from orbjax.model.predict import network_energy, predict
from orbjax.potential.dense import FAR


@flax.struct.dataclass
class NeighbourList:
    """Two edge lists of static capacity (a pytree: pass it through `jit` and `lax.scan`).

    The candidates, every pair closer than cutoff + skin when they were last built, are
    rebuilt only after some atom moved skin/2; the edges, the candidates closer than the
    cutoff now, are selected from them on every `update` and are what the model sees (so it
    computes no pair that contributes exactly zero).

    Attributes:
      senders, receivers: [capacity] int32 (j, i) of the edges; padding is 0 with mask False.
      images: [capacity, 3] int32 lattice image S of the sender: shift = S @ cell (Å).
      mask: [capacity] bool, a real edge (closer than the cutoff at the last update).
      candidates: (senders, receivers, images, mask) of the candidate list, [candidate_capacity].
      reference: [n, 3] Å positions at the last build (the skin test measures from them).
      n_edges, n_candidates: [] int32 found at the last update / build (either may exceed
        its capacity: then overflow).
      max_edges, max_candidates, max_bin: [] int32 the most edges, candidates and atoms in
        one bin since allocation (what a reallocation needs).
      overflow: [] bool, sticky: something did not fit; the edges are then incomplete.
      n_builds: [] int32 candidate builds since allocation.
      builder: the `NeighbourListBuilder` (static), which `update` calls.
      n_bins: bins per direction (static). bin_capacity: atoms per bin (static).
    """

    senders: jnp.ndarray  # [capacity] int32
    receivers: jnp.ndarray  # [capacity] int32
    images: jnp.ndarray  # [capacity, 3] int32
    mask: jnp.ndarray  # [capacity] bool
    candidates: tuple  # ([C] int32, [C] int32, [C, 3] int32, [C] bool)
    reference: jnp.ndarray  # [n, 3] Å
    n_edges: jnp.ndarray  # [] int32
    n_candidates: jnp.ndarray  # [] int32
    max_edges: jnp.ndarray  # [] int32
    max_candidates: jnp.ndarray  # [] int32
    max_bin: jnp.ndarray  # [] int32
    overflow: jnp.ndarray  # [] bool
    n_builds: jnp.ndarray  # [] int32
    builder: "NeighbourListBuilder" = flax.struct.field(pytree_node=False)
    n_bins: tuple[int, int, int] = flax.struct.field(pytree_node=False)
    bin_capacity: int = flax.struct.field(pytree_node=False)

    @property
    def capacity(self) -> int:
        return int(self.senders.shape[0])

    @property
    def candidate_capacity(self) -> int:
        return int(self.candidates[0].shape[0])

    @property
    def did_buffer_overflow(self) -> jnp.ndarray:  # jax-md's name
        return self.overflow

    def update(self, positions) -> "NeighbourList":
        """`builder.update(positions, self)`: the edges at `positions`, from candidates
        rebuilt first if an atom moved more than skin/2."""
        return self.builder.update(positions, self)


@dataclasses.dataclass(frozen=True)
class NeighbourListBuilder:
    """Builds and updates `NeighbourList`s for one fixed cell (hashable: a static argument).

    Attributes:
      cutoff: Å, the model's. skin: Å, extra radius kept so the list survives moves.
      cell: rows are lattice vectors, Å (zeros: no cell). pbc: periodic directions.
      headroom: the edge and candidate capacities are `headroom` × what is needed when
        (re)allocated (1.1: the model pays for padded edges; an overflow only recompiles).
    """

    cutoff: float
    skin: float
    cell: tuple  # 3 × 3 floats, Å
    pbc: tuple  # 3 bools
    headroom: float = 1.1

    @classmethod
    def create(cls, cutoff, cell=None, pbc=None, skin: float = 0.5, headroom: float = 1.1):
        cell, pbc = cell_and_pbc(cell, pbc)
        if pbc.any() and abs(np.linalg.det(lattice_frame(cell, pbc, np))) < 1e-9:
            raise ValueError(f"periodic directions {pbc.tolist()} need a cell, not {cell.tolist()}")
        if skin < 0 or headroom < 1:
            raise ValueError(f"need skin ≥ 0 and headroom ≥ 1, not {skin}, {headroom}")
        return cls(
            float(cutoff),
            float(skin),
            tuple(map(tuple, cell.tolist())),
            tuple(bool(p) for p in pbc),
            float(headroom),
        )

    # ------------------------------------------------------------------ geometry (numpy, static)

    @property
    def radius(self) -> float:
        return self.cutoff + self.skin  # Å

    def cell_array(self) -> np.ndarray:
        return np.asarray(self.cell, np.float64)

    def frame(self) -> np.ndarray:
        """[3, 3] periodic rows of the cell and unit normals for open directions."""
        return np.asarray(lattice_frame(self.cell_array(), np.asarray(self.pbc), np), np.float64)

    def spacing(self) -> np.ndarray:
        """[3] Å between lattice planes of the frame (`orbjax.data.lattice.plane_spacing`)."""
        return np.asarray(plane_spacing(self.cell_array(), np.asarray(self.pbc), np), np.float64)

    def bins_per_unit(self, n_bins) -> np.ndarray:
        """[3] bins per unit of fractional coordinate: n_k (periodic), spacing/radius (open)."""
        return np.where(self.pbc, np.asarray(n_bins, np.float64), self.spacing() / self.radius)

    def n_bins(self, positions: np.ndarray) -> tuple[int, int, int]:
        """Bins per direction: as many ≥ radius-wide bins as fit (periodic), or enough to
        span the atoms' present extent (open; atoms beyond fall into the last bin)."""
        spacing = self.spacing()
        frac = np.asarray(positions, np.float64) @ np.linalg.inv(self.frame())
        extent = np.ptp(frac, axis=0) * spacing if len(frac) else np.zeros(3)
        periodic = np.maximum(1, np.floor(spacing / self.radius))
        open_ = np.maximum(1, np.ceil(extent / self.radius))
        return tuple(int(b) for b in np.where(self.pbc, periodic, open_))

    def offsets(self, n_bins) -> np.ndarray:
        """[K, 3] int bin offsets to search: ±1 (or ±ceil(radius/spacing) for a one-bin
        periodic direction narrower than the radius)."""
        spacing = self.spacing()
        reach = np.where(
            self.pbc, np.maximum(1, np.ceil(np.asarray(n_bins) * self.radius / spacing - 1e-9)), 1
        )
        return np.asarray(
            list(itertools.product(*[range(-r, r + 1) for r in reach.astype(int)])), np.int32
        )

    # ------------------------------------------------------------- allocate (host) and update (jit)

    def allocate(self, positions, previous: NeighbourList | None = None) -> NeighbourList:
        """A list for `positions` (concrete), with capacities `headroom` × what they need
        (and, after an overflow of `previous`, × the most `previous` saw)."""
        positions = jnp.asarray(np.asarray(positions))
        n_bins = self.n_bins(np.asarray(positions))
        occupancy = int(
            np.bincount(np.asarray(_bin_indices(self, n_bins, positions)), minlength=1).max()
        )
        need = {"bin": occupancy, "candidates": 0, "edges": 0}
        if previous is not None:
            if previous.n_bins == n_bins:
                need["bin"] = max(occupancy, int(previous.max_bin))
            need["candidates"], need["edges"] = (
                int(previous.max_candidates),
                int(previous.max_edges),
            )
        # Bins hold few atoms, whose count fluctuates more: at least 25 % + 2 spare slots
        # (they cost only build time; the edge capacity is what the model pays for).
        bin_capacity = int(np.ceil(max(self.headroom, 1.25) * need["bin"])) + 2
        probe = _build_jit(self, n_bins, 1, bin_capacity, positions)  # counts the candidates
        candidate_capacity = int(
            round_up(self.headroom * max(int(probe[4]), need["candidates"]) + 1)
        )
        built = _build_jit(self, n_bins, candidate_capacity, bin_capacity, positions)
        candidates, n_candidates, most_in_bin = built[:4], built[4], built[5]
        probe = _select_jit(self, 1, positions, candidates)  # counts the edges
        capacity = int(round_up(self.headroom * max(int(probe[4]), need["edges"]) + 1))
        senders, receivers, images, mask, n_edges = _select_jit(
            self, capacity, positions, candidates
        )
        return NeighbourList(
            senders=senders,
            receivers=receivers,
            images=images,
            mask=mask,
            candidates=candidates,
            reference=positions,
            n_edges=n_edges,
            n_candidates=n_candidates,
            max_edges=n_edges,
            max_candidates=n_candidates,
            max_bin=most_in_bin,
            overflow=(n_edges > capacity)
            | (n_candidates > candidate_capacity)
            | (most_in_bin > bin_capacity),
            n_builds=jnp.asarray(1, jnp.int32),
            builder=self,
            n_bins=tuple(n_bins),
            bin_capacity=bin_capacity,
        )

    def update(self, positions, nbrs: NeighbourList) -> NeighbourList:
        """Inside or outside `jit`: the edges at `positions` (same capacities), from
        candidates rebuilt first if any atom moved more than skin/2 since they were built;
        overflow and the maxima accumulate."""
        positions = jnp.asarray(positions)
        moved = jnp.max(jnp.sum((positions - nbrs.reference.astype(positions.dtype)) ** 2, axis=-1))

        def rebuild(nbrs):
            *candidates, count, most_in_bin = _build(
                self, nbrs.n_bins, nbrs.candidate_capacity, nbrs.bin_capacity, positions
            )
            return nbrs.replace(
                candidates=tuple(candidates),
                reference=positions.astype(nbrs.reference.dtype),
                n_candidates=count,
                max_candidates=jnp.maximum(nbrs.max_candidates, count),
                max_bin=jnp.maximum(nbrs.max_bin, most_in_bin),
                overflow=nbrs.overflow
                | (count > nbrs.candidate_capacity)
                | (most_in_bin > nbrs.bin_capacity),
                n_builds=nbrs.n_builds + 1,
            )

        nbrs = jax.lax.cond(moved > (0.5 * self.skin) ** 2, rebuild, lambda nbrs: nbrs, nbrs)
        senders, receivers, images, mask, count = _select(
            self, nbrs.capacity, positions, nbrs.candidates
        )
        return nbrs.replace(
            senders=senders,
            receivers=receivers,
            images=images,
            mask=mask,
            n_edges=count,
            max_edges=jnp.maximum(nbrs.max_edges, count),
            overflow=nbrs.overflow | (count > nbrs.capacity),
        )


def _fractional(builder: NeighbourListBuilder, positions):
    """Fractional coordinates in the frame, wrapped into [0, 1) along periodic directions,
    and the integer lattice vector W removed (x = wrapped + W @ cell)."""
    frac = positions @ jnp.asarray(np.linalg.inv(builder.frame()), positions.dtype)  # [n, 3]
    pbc = np.asarray(builder.pbc)
    wrap = jnp.where(pbc, jnp.floor(frac), 0.0)
    return frac - wrap, wrap


def _bin_indices(builder: NeighbourListBuilder, n_bins, positions):
    """[n] int32 flat bin index of every atom (and [n, 3] per direction)."""
    frac, _ = _fractional(builder, positions)
    return _bins(builder, n_bins, frac)[0]


def _bins(builder, n_bins, frac):
    pbc = np.asarray(builder.pbc)
    nb = np.asarray(n_bins, np.int32)
    # open directions: bins start at the lowest atom
    low = jnp.where(pbc, 0.0, jnp.min(frac, axis=0))
    per_unit = jnp.asarray(builder.bins_per_unit(n_bins), frac.dtype)
    b = jnp.clip(jnp.floor((frac - low) * per_unit).astype(jnp.int32), 0, nb - 1)  # [n, 3]
    return (b[:, 0] * nb[1] + b[:, 1]) * nb[2] + b[:, 2], b


def _build(builder: NeighbourListBuilder, n_bins, capacity: int, bin_capacity: int, positions):
    """The cell-list search for pairs closer than cutoff + skin (static shapes). Returns
    senders, receivers, images, mask ([capacity]), the number of pairs found and the most
    atoms in one bin."""
    n = positions.shape[0]
    pbc = np.asarray(builder.pbc)
    nb = np.asarray(n_bins, np.int32)
    cell = jnp.asarray(builder.cell_array(), positions.dtype)
    frac, wrap = _fractional(builder, jax.lax.stop_gradient(positions))
    flat, b = _bins(builder, n_bins, frac)  # [n], [n, 3]

    # Bin table [n_bins_total, bin_capacity] of atom indices (−1: empty), from a sort.
    n_total = int(np.prod(nb))
    order = jnp.argsort(flat)
    starts = jnp.searchsorted(flat[order], jnp.arange(n_total), side="left")
    counts = jnp.searchsorted(flat[order], jnp.arange(n_total), side="right") - starts  # [n_total]
    slot = jnp.arange(bin_capacity)
    table = jnp.where(slot < counts[:, None], order[jnp.minimum(starts[:, None] + slot, n - 1)], -1)

    # Candidates: the atoms of every bin within reach of each atom, at the implied image.
    offsets = builder.offsets(n_bins)  # [K, 3] static
    ext = b[:, None, :] + offsets[None]  # [n, K, 3] bin in the unwrapped lattice of bins
    inside = jnp.all(pbc | ((ext >= 0) & (ext < nb)), axis=-1)  # [n, K] open directions end
    home = jnp.where(pbc, jnp.mod(ext, nb), jnp.clip(ext, 0, nb - 1))
    bin_image = jnp.where(pbc, jnp.floor_divide(ext, nb), 0)  # [n, K, 3]
    neighbour_bin = (home[..., 0] * nb[1] + home[..., 1]) * nb[2] + home[..., 2]
    j = table[neighbour_bin]  # [n, K, C]
    # [n, K, C, 3]
    images = (bin_image[:, :, None, :] + wrap[:, None, None, :] - wrap[j]).astype(jnp.int32)
    vectors = positions[j] - positions[:, None, None, :] + images.astype(positions.dtype) @ cell
    distance2 = jnp.sum(jax.lax.stop_gradient(vectors) ** 2, axis=-1)  # [n, K, C]
    i = jnp.arange(n)[:, None, None]
    itself = (j == i) & jnp.all(images == 0, axis=-1)
    keep = (j >= 0) & inside[:, :, None] & (distance2 < builder.radius**2) & ~itself
    count = jnp.sum(keep, dtype=jnp.int32)

    # Compaction to `capacity` edges (the first ones if there are more: overflow).
    (index,) = jnp.nonzero(keep.reshape(-1), size=capacity, fill_value=0)
    mask = jnp.arange(capacity) < count
    per_atom = keep.shape[1] * keep.shape[2]
    receivers = jnp.where(mask, index // per_atom, 0).astype(jnp.int32)
    senders = jnp.where(mask, j.reshape(-1)[index], 0).astype(jnp.int32)
    edge_images = jnp.where(mask[:, None], images.reshape(-1, 3)[index], 0)
    return senders, receivers, edge_images, mask, count, jnp.max(counts).astype(jnp.int32)


_build_jit = jax.jit(_build, static_argnums=(0, 1, 2, 3))


def _select(builder: NeighbourListBuilder, capacity: int, positions, candidates):
    """The candidates closer than the cutoff at `positions`, compacted to `capacity`:
    senders, receivers, images, mask and how many there are."""
    senders, receivers, images, mask = candidates
    cell = jnp.asarray(builder.cell_array(), positions.dtype)
    x = jax.lax.stop_gradient(positions)
    vectors = x[senders] - x[receivers] + images.astype(x.dtype) @ cell
    keep = mask & (jnp.sum(vectors**2, axis=-1) < builder.cutoff**2)
    count = jnp.sum(keep, dtype=jnp.int32)
    (index,) = jnp.nonzero(keep, size=capacity, fill_value=0)
    valid = jnp.arange(capacity) < count
    return (
        jnp.where(valid, senders[index], 0),
        jnp.where(valid, receivers[index], 0),
        jnp.where(valid[:, None], images[index], 0),
        valid,
        count,
    )


_select_jit = jax.jit(_select, static_argnums=(0, 1))


# -------------------------------------------------------------------------- the potential on a list


def neighbour_graph(positions, atomic_numbers, nbrs: NeighbourList, cell=None) -> jraph.GraphsTuple:
    """One-graph `GraphsTuple` of the list's edges, the layout `predict` takes; padding
    edges (mask False) are (0 → 0) with a shift of `FAR` Å, beyond any cutoff. `cell`
    ([3, 3] Å, traced) replaces the builder's for a cell that changes (NPT: the list is then
    kept in the builder's cell, `orbjax.potential.dynamics`)."""
    cell = jnp.asarray(nbrs.builder.cell_array() if cell is None else cell, positions.dtype)
    shifts = nbrs.images.astype(positions.dtype) @ cell  # [capacity, 3] Å
    shifts = jnp.where(nbrs.mask[:, None], shifts, jnp.asarray([FAR, 0.0, 0.0], positions.dtype))
    periodic = any(nbrs.builder.pbc)
    cell = cell if periodic else jnp.zeros_like(cell)  # no cell → zero stress
    return geometry_graph(
        positions, atomic_numbers, cell, nbrs.senders, nbrs.receivers, shifts, xp=jnp
    )


def neighbour_efs(
    model, variables, positions, atomic_numbers, nbrs: NeighbourList, cell=None, level: int = 0
) -> dict[str, jnp.ndarray]:
    """`predict` on the list: network_energy [] eV (without Σ E0, which the caller adds in
    float64), forces [n, 3] eV/Å, stress [3, 3] eV/Å³ (`cell` as in `neighbour_graph`)."""
    out = predict(
        model,
        variables,
        neighbour_graph(positions, atomic_numbers, nbrs, cell),
        with_heads=False,
        compute_stress=True,
        level=level,
    )
    return {
        "network_energy": out["network_energy"][0],
        "forces": out["forces"],
        "stress": out["stress"][0],
    }


# Compiled once per process for every potential (the model is static; see `core`).
neighbour_efs_jit = jax.jit(neighbour_efs, static_argnums=0, static_argnames="level")


def neighbour_energy(
    model, variables, positions, atomic_numbers, nbrs: NeighbourList, level: int = 0
) -> jnp.ndarray:
    """[] eV: the network's energy alone, without Σ E0 (for `jax.grad` by the caller, e.g.
    jax-md)."""
    return network_energy(
        model, variables, neighbour_graph(positions, atomic_numbers, nbrs), level
    )[0]


def neighbour_forces(
    model, variables, positions, atomic_numbers, nbrs: NeighbourList, level: int = 0
):
    """(network energy [] eV without Σ E0, forces [n, 3] eV/Å) without the strain
    derivative (cheaper, for MD)."""
    energy, grad = jax.value_and_grad(
        functools.partial(neighbour_energy, model, variables, level=level)
    )(positions, atomic_numbers, nbrs)
    return energy, -grad
