"""A trained orbjax model as a potential: pure JAX functions and an ASE calculator.

Two ways to evaluate the same `orbjax.model.predict.predict` (so what was trained is exactly
what runs):

* `Potential.energy_forces_stress(positions, atomic_numbers, cell, pbc)` — a pure function
  of arrays that can be `jax.jit`-ed, `jax.grad`-ed and `jax.vmap`-ed. It builds its
  neighbours inside JAX from *all* N² pairs times a static set of periodic images (pairs
  beyond the cutoff cost compute but contribute exactly zero: the model's envelope vanishes
  at and beyond the cutoff). Cost grows as N², so it is meant for small and medium systems
  and for batched (vmap) work.
* `OrbjaxCalculator` — an ASE calculator for molecular dynamics and optimisation: a numpy
  neighbour list, padded to budgets that grow geometrically (MD compiles once or twice, not
  every step), and a jitted `predict`.

Periodic images of the pure function. Pairs are taken at their minimum image (rounded
fractional separation) plus the images S with |S_k| ≤ m_k, m_k = floor(cutoff/h_k + 1/2) for
the face spacing h_k of the cell. A cell wider than 2·cutoff in every direction needs m = 0:
one image per pair. When `cell` and `pbc` are concrete (closed over, or unbatched under
vmap) the images are computed from them; when they are traced, `Potential.max_images` is
used (default (0, 0, 0): molecules and cells wider than 2·cutoff) and a cell that needs more
gives NaN outputs rather than a silently wrong answer.

Precision (float64). `load_potential(..., dtype="float64")` computes in float64. The pure
functions never change JAX's global configuration: call them with x64 enabled, e.g.
``with jax.enable_x64(True): potential.energy_forces_stress(...)``; they raise a clear error
otherwise. The calculator enables x64 itself, for its own calls only.

Units: positions and cell Å, energy eV, forces eV/Å, stress eV/Å³ (ASE sign convention:
(1/V) ∂E/∂ε, negative under compression).

Usage::

    pot = orbjax.load_potential("runs/x")
    out = pot.energy_forces_stress(x, numbers, cell, pbc)   # compiled internally on first call
    f = jax.jit(lambda x: pot.energy_forces_stress(x, numbers, cell, pbc))  # cell closed over
    batch = jax.vmap(pot.energy_forces_stress, in_axes=(0, None, None, None))(xs, numbers, cell, pbc)
    small_cells = jax.jit(pot.replace(max_images=1).energy_forces_stress)   # cell traced
    atoms.calc = orbjax.OrbjaxCalculator(pot)
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import jraph
import numpy as np
from ase.calculators.calculator import Calculator, all_changes
from ase.data import chemical_symbols
from ase.stress import full_3x3_to_voigt_6_stress

from orbjax.data.batching import PaddingBudget, pad_batch
from orbjax.data.neighbours import neighbour_list
from orbjax.data.structures import MIN_DISTANCE, StructureError, check_cell
from orbjax.model.mlip import OrbitalMLIP
from orbjax.model.predict import predict
from orbjax.model.statistics import Statistics

FAR = 1.0e3  # Å: offset that puts an excluded pair (image along an open direction) beyond any cutoff
DTYPES = {"float32": np.float32, "float64": np.float64}


# ----------------------------------------------------------------------------- loading


def load_potential(path, which: str = "best", dtype=None, max_images=(0, 0, 0)) -> "Potential":
    """A trained model as a `Potential`: from a model file or a training run's workdir.

    Neither needs the optimiser: only the EMA parameters, config and statistics are read.

    Args:
      path: a model file (`python -m orbjax.export`, or `model.orbjax` in a finished run's
        workdir) or the training run's directory (holds `checkpoints/`).
      which: for a workdir, "best" (by validation loss) or "latest"; ignored for a file.
      dtype: None (the training dtype), "float32" or "float64" (see the module docstring).
      max_images: images per lattice direction used when `cell`/`pbc` are traced.
    """
    from orbjax.training.restore import load_model_file, load_trained

    if os.path.isfile(path):
        trained = load_model_file(path)
    elif os.path.isdir(os.path.join(path, "checkpoints")):
        trained = load_trained(path, which)
    elif os.path.isdir(path):
        raise FileNotFoundError(f"{path}: no checkpoints/ directory; is this a training run's workdir?")
    else:
        raise FileNotFoundError(f"{path}: no such model file or workdir")
    dtype = _dtype(dtype or trained.config.dtype)
    return Potential.create(trained.model, trained.params, trained.statistics, dtype, max_images, trained.step)


def _dtype(dtype) -> np.dtype:
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, not {dtype!r}")
    return np.dtype(DTYPES[name])


# ----------------------------------------------------------------------------- the potential


@dataclasses.dataclass(frozen=True, eq=False)
class Potential:
    """A trained model, its parameters and its dataset statistics.

    Build with `load_potential` (or `Potential.create` for a model in memory). Immutable:
    use `replace(max_images=...)` for a variant.

    Attributes:
      model: the Flax module; its `dtype` is the compute dtype.
      params: parameters (device arrays of the compute dtype).
      statistics: species, reference energies, scales (from the checkpoint).
      max_images: images per lattice direction when `cell`/`pbc` are traced.
      step: training step of the checkpoint (−1 if unknown).
    """

    model: OrbitalMLIP
    params: Any
    statistics: Statistics
    max_images: tuple[int, int, int] = (0, 0, 0)
    step: int = -1

    def __post_init__(self):
        # One compiled function per Potential; images (static) select the variant.
        object.__setattr__(self, "_jitted_efs", jax.jit(functools.partial(_dense_efs, self.model),
                                                        static_argnames="images"))
        object.__setattr__(self, "_jitted_energy", jax.jit(functools.partial(_dense_energy, self.model),
                                                           static_argnames="images"))
        # Shared by every calculator of this potential: a new calculator does not recompile.
        object.__setattr__(self, "_jitted_predict", jax.jit(self.predict_fn(), static_argnums=2))

    @classmethod
    def create(cls, model, params, statistics, dtype=np.float32, max_images=(0, 0, 0), step=-1) -> "Potential":
        """Cast `model` and `params` to `dtype` (float32 or float64)."""
        dtype = _dtype(dtype)
        with _precision(dtype):
            params = jax.tree.map(lambda p: jax.device_put(np.asarray(p, dtype)), params)
        model = model.clone(dtype=jnp.dtype(dtype), parent=None)
        return cls(model, params, statistics, _three_ints(max_images), int(step))

    def replace(self, **changes) -> "Potential":
        if "max_images" in changes:
            changes["max_images"] = _three_ints(changes["max_images"])
        return dataclasses.replace(self, **changes)

    @property
    def cutoff(self) -> float:
        return float(self.model.config.cutoff)  # Å

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.model.dtype)

    def precision(self):
        """Context that enables x64 while it is open if this potential computes in float64."""
        return _precision(self.dtype)

    # --------------------------------------------------------------- checks done before tracing

    def check_elements(self, atomic_numbers) -> None:
        """Raise `ValueError` naming the elements the model has never seen."""
        z = np.unique(np.asarray(atomic_numbers, np.int64))
        unknown = [int(x) for x in z if int(x) not in self.statistics.species]
        if unknown:
            raise ValueError(
                f"elements {_names(unknown)} are unknown to this potential, which was trained on "
                f"{_names(self.statistics.species)} only")

    def images(self, cell, pbc) -> np.ndarray:
        """[n_images, 3] int: the static image offsets for this cell (see module docstring)."""
        cell_c, pbc_c = _concrete(cell), _concrete(pbc)
        if pbc_c is not None and not pbc_c.any():
            reps = (0, 0, 0)
        elif cell_c is not None and pbc_c is not None:
            reps = tuple(int(r) for r in required_images(np.asarray(cell_c, np.float64), pbc_c, self.cutoff, np))
        else:
            reps = self.max_images
            if pbc_c is not None:
                reps = tuple(r if p else 0 for r, p in zip(reps, pbc_c))
        return image_grid(reps)

    def _require_precision(self) -> None:
        if self.dtype == np.float64 and jax.dtypes.canonicalize_dtype(jnp.float64) != np.float64:
            raise RuntimeError(
                "this potential computes in float64 but JAX's x64 mode is off: call it inside "
                "`with jax.enable_x64(True):` (or `with potential.precision():`), or set "
                "jax.config.update('jax_enable_x64', True) yourself")

    # --------------------------------------------------------------- pure functions

    def energy_forces_stress(self, positions, atomic_numbers, cell=None, pbc=None) -> dict[str, jnp.ndarray]:
        """Energy, forces and stress of one structure; jit-, grad- and vmap-able.

        Checks and image selection happen in Python on whatever is concrete; the computation
        itself is jitted (compiled once per shape), so plain calls are fast too.

        Args:
          positions: [n, 3] Å.
          atomic_numbers: [n] int.
          cell: [3, 3] Å, rows are lattice vectors (None: no cell).
          pbc: [3] bool (None: not periodic).
        Returns:
          dict(energy [] eV, forces [n, 3] eV/Å, stress [3, 3] eV/Å³, zeros if not periodic).
          NaN everywhere if traced inputs hold an unknown element or a cell that needs more
          than `max_images` images (concrete inputs raise or choose the images instead).
        """
        self._require_precision()
        positions, cell, pbc, images, ok = self._prepare(positions, atomic_numbers, cell, pbc)
        result = self._jitted_efs(self.params, positions, atomic_numbers, cell, pbc, images=_key(images))
        return {k: jnp.where(ok, v, jnp.nan) for k, v in result.items()}

    def jax_md_energy_fn(self, atomic_numbers, cell=None, pbc=None) -> Callable[..., jnp.ndarray]:
        """`energy(positions, **kwargs) -> [] eV` for jax-md (positions in Cartesian Å).

        Elements and periodic images are checked and fixed here, once. Forces are
        `-jax.grad(energy)`. Extra keyword arguments jax-md passes (e.g. `neighbor`) are
        ignored, except `box`/`perturbation` (NPT), which are not supported.
        """
        atomic_numbers = np.asarray(atomic_numbers, np.int32)
        self.check_elements(atomic_numbers)
        n = len(atomic_numbers)
        cell = np.zeros((3, 3)) if cell is None else np.asarray(cell, np.float64).reshape(3, 3)
        pbc = np.zeros(3, bool) if pbc is None else np.broadcast_to(np.asarray(pbc, bool), (3,))
        images = _key(self.images(cell, pbc))

        def energy(positions, **kwargs):
            if "box" in kwargs or "perturbation" in kwargs:
                raise NotImplementedError("orbjax energy functions take a fixed cell; NPT (box=...) is not supported")
            self._require_precision()
            positions = jnp.asarray(positions, self.dtype).reshape(n, 3)
            return self._jitted_energy(self.params, positions, atomic_numbers, jnp.asarray(cell, self.dtype),
                                       pbc, images=images)

        return energy

    energy_fn = jax_md_energy_fn  # the name jax-md users look for

    def predict_fn(self) -> Callable:
        """`f(params, graph, compute_stress)`: `predict` without charge heads, for jitting;
        returns only energy [n_graphs], forces [n_nodes, 3] and (if asked) stress."""
        model = self.model

        def f(params, graph, compute_stress: bool):
            out = predict(model, params, graph, with_heads=False, compute_stress=compute_stress)
            return {k: out[k] for k in ("energy", "forces", "stress") if k in out}

        return f

    def _prepare(self, positions, atomic_numbers, cell, pbc):
        """Check what is concrete now (before casting: a cast inside jit is traced), cast the
        inputs, and return `ok`, an in-graph check of what is traced (True if nothing is)."""
        cell = np.zeros((3, 3)) if cell is None else cell
        pbc = np.zeros(3, bool) if pbc is None else pbc
        z_c, cell_c, pbc_c = _concrete(atomic_numbers), _concrete(cell), _concrete(pbc)
        if z_c is not None:
            self.check_elements(z_c)
        if cell_c is not None and pbc_c is not None:
            check_cell("input", cell_c, pbc_c)
        images = self.images(cell, pbc)
        positions, cell = jnp.asarray(positions, self.dtype), jnp.asarray(cell, self.dtype)
        pbc = jnp.asarray(pbc, bool)
        ok = jnp.asarray(True)
        if z_c is None:
            table = jnp.asarray(self.statistics.z_to_species())
            ok &= jnp.all(table[jnp.asarray(atomic_numbers)] >= 0)
        if pbc_c is None or (pbc_c.any() and cell_c is None):  # images from max_images
            need = required_images(jax.lax.stop_gradient(cell), jnp.asarray(pbc, bool), self.cutoff, jnp)
            ok &= jnp.all(need <= np.abs(images).max(axis=0))
        return positions, cell, pbc, images, ok


# ----------------------------------------------------------------------------- dense pairs


def image_grid(reps) -> np.ndarray:
    """[Π(2 r_k + 1), 3] int: every image S with |S_k| ≤ reps[k], (0, 0, 0) first."""
    grid = sorted(itertools.product(*[range(-r, r + 1) for r in reps]), key=lambda s: np.abs(s).sum())
    return np.asarray(grid, np.int32).reshape(-1, 3)


def lattice_frame(cell, pbc, xp=jnp):
    """[3, 3] a non-degenerate basis: periodic rows of `cell`, unit normals for open ones.

    Fractional coordinates in this frame are used to wrap pairs to their minimum image;
    the open rows only need to complete the basis. `xp` is numpy (static) or jax.numpy.
    """
    eye = xp.eye(3)
    rows = [xp.where(pbc[k], cell[k], eye[k]) for k in range(3)]
    for k in range(3):
        normal = xp.cross(rows[(k + 1) % 3], rows[(k + 2) % 3])
        norm = xp.linalg.norm(normal)
        fallback = xp.where(norm > 1e-6, normal / xp.where(norm > 1e-6, norm, 1.0), eye[k])
        rows[k] = xp.where(pbc[k], rows[k], fallback)
    return xp.stack(rows)


def required_images(cell, pbc, cutoff: float, xp=jnp):
    """[3] int: m_k = floor(cutoff / h_k + 1/2) images needed beyond the minimum image.

    h_k is the spacing of the lattice planes of direction k. A pair at its minimum image has
    fractional separation |Δ_k| ≤ 1/2; a partner within the cutoff needs |Δ_k + S_k| < cutoff/h_k.
    """
    frame = lattice_frame(cell, pbc, xp)
    volume = xp.abs(xp.linalg.det(frame))
    areas = xp.stack([xp.linalg.norm(xp.cross(frame[(k + 1) % 3], frame[(k + 2) % 3])) for k in range(3)])
    need = xp.floor(cutoff * areas / volume + 0.5).astype(xp.int32)
    return xp.where(xp.asarray(pbc, bool), need, 0)


def dense_pairs(positions, cell, pbc, images: np.ndarray):
    """All ordered pairs (i, j) at every image, with static shapes.

    Args:
      positions: [n, 3] Å. cell: [3, 3] Å. pbc: [3] bool (concrete or traced).
      images: [K, 3] int, static (`Potential.images`).
    Returns:
      senders [K·n²] (j), receivers [K·n²] (i), both numpy; shifts [K·n², 3] Å such that
      the edge vector is positions[j] - positions[i] + shift. The pair (i, i) of the home
      image has a zero vector (the model skips it). `valid` [K·n²] is False for images along
      open directions (possible only when `pbc` is traced); `dense_graph` moves those away.
    """
    n, k = positions.shape[0], len(images)
    receivers = np.tile(np.repeat(np.arange(n, dtype=np.int32), n), k)
    senders = np.tile(np.arange(n, dtype=np.int32), n * k)
    pbc = jnp.asarray(pbc, bool)
    frame = jax.lax.stop_gradient(lattice_frame(cell, pbc))
    frac = jax.lax.stop_gradient(positions) @ jnp.linalg.inv(frame)  # [n, 3]
    nearest = -jnp.round(frac[None, :, :] - frac[:, None, :]) * pbc  # [i, j, 3] minimum image
    lattice = jax.lax.stop_gradient(nearest[None] + jnp.asarray(images, positions.dtype)[:, None, None])
    shifts = (lattice @ cell).reshape(-1, 3)  # [K·n², 3] Å
    valid = jnp.repeat(jnp.all((images == 0) | pbc, axis=-1), n * n)  # image exists along open axes?
    return senders, receivers, shifts, valid


def dense_graph(positions, atomic_numbers, cell, pbc, images: np.ndarray) -> jraph.GraphsTuple:
    """One-graph `GraphsTuple` of all pairs (see `dense_pairs`), the layout `predict` takes."""
    n = positions.shape[0]
    senders, receivers, shifts, valid = dense_pairs(positions, cell, pbc, images)
    # Excluded pairs: an edge vector of FAR Å, beyond any cutoff, so it contributes exactly zero.
    far = jax.lax.stop_gradient(positions[receivers] - positions[senders]) \
        + jnp.asarray([FAR, 0.0, 0.0], positions.dtype)
    shifts = jnp.where(valid[:, None], shifts, far)
    periodic = jnp.any(jnp.asarray(pbc, bool))
    return jraph.GraphsTuple(
        nodes={"positions": positions, "atomic_numbers": jnp.asarray(atomic_numbers, jnp.int32)},
        edges={"shifts": shifts},
        globals={"cell": jnp.where(periodic, cell, 0.0)[None],  # no cell → zero volume → zero stress
                 "total_charge": jnp.zeros(1, positions.dtype)},
        senders=jnp.asarray(senders), receivers=jnp.asarray(receivers),
        n_node=jnp.asarray([n]), n_edge=jnp.asarray([len(senders)]))


def _dense_efs(model, params, positions, atomic_numbers, cell, pbc, images) -> dict[str, jnp.ndarray]:
    """`predict` on the dense graph: energy [] eV, forces [n, 3] eV/Å, stress [3, 3] eV/Å³."""
    graph = dense_graph(positions, atomic_numbers, cell, pbc, np.asarray(images, np.int32).reshape(-1, 3))
    out = predict(model, params, graph, with_heads=False, compute_stress=True)
    return {"energy": out["energy"][0], "forces": out["forces"], "stress": out["stress"][0]}


def _dense_energy(model, params, positions, atomic_numbers, cell, pbc, images) -> jnp.ndarray:
    """[] eV: the energy alone (for `jax.grad` by the caller, e.g. jax-md)."""
    graph = dense_graph(positions, atomic_numbers, cell, pbc, np.asarray(images, np.int32).reshape(-1, 3))
    vectors = positions[graph.senders] - positions[graph.receivers] + graph.edges["shifts"]
    n = positions.shape[0]
    out = model.apply(params, vectors, graph.nodes["atomic_numbers"], graph.senders, graph.receivers,
                      jnp.zeros(n, jnp.int32), graph.globals["total_charge"], with_heads=False)
    return out["node_energies"].sum()


def _key(images: np.ndarray) -> tuple:
    """Hashable form of an image grid, for a static jit argument."""
    return tuple(map(tuple, np.asarray(images).tolist()))


# ----------------------------------------------------------------------------- ASE


class OrbjaxCalculator(Calculator):
    """ASE calculator: numpy neighbour list, geometrically growing padding, jitted `predict`.

    Stress (ASE Voigt order xx, yy, zz, yz, xz, xy; eV/Å³) is computed only for periodic
    atoms. `n_compilations` counts XLA compilations (one per padding budget and stress flag)
    of the potential's graph function, which all calculators of one `Potential` share.

    Args:
      potential: a `Potential`, a model file or a training workdir.
      which, dtype: passed to `load_potential` when `potential` is a workdir.
      headroom: the edge budget is at least `headroom` × the edges needed when it grows.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, potential, which: str = "best", dtype=None, headroom: float = 1.1, **kwargs):
        super().__init__(**kwargs)
        self.potential = potential if isinstance(potential, Potential) else load_potential(potential, which, dtype)
        self.headroom = headroom
        self.budget: PaddingBudget | None = None

    @property
    def n_compilations(self) -> int:
        return self.potential._jitted_predict._cache_size()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms, pot = self.atoms, self.potential
        pot.check_elements(atoms.numbers)
        periodic = bool(atoms.pbc.any())
        graph = self._padded_graph(atoms)
        with pot.precision():
            out = jax.device_get(pot._jitted_predict(pot.params, _cast(graph, pot.dtype), periodic))
        energy = float(out["energy"][0])
        self.results = {"energy": energy, "free_energy": energy,
                        "forces": np.asarray(out["forces"][: len(atoms)], np.float64)}
        if periodic:
            self.results["stress"] = full_3x3_to_voigt_6_stress(np.asarray(out["stress"][0], np.float64))

    def _padded_graph(self, atoms) -> jraph.GraphsTuple:
        positions = np.asarray(atoms.positions, np.float64)
        cell = np.asarray(atoms.cell.array, np.float64)
        name = atoms.get_chemical_formula() or "empty"
        _check_geometry(name, positions, cell, atoms.pbc)
        senders, receivers, shifts = neighbour_list(positions, cell, atoms.pbc, self.potential.cutoff)
        _check_contacts(name, positions, senders, receivers, shifts)
        graph = jraph.GraphsTuple(
            nodes={"positions": positions, "atomic_numbers": np.asarray(atoms.numbers, np.int32)},
            edges={"shifts": shifts}, globals={"cell": cell[None], "total_charge": np.zeros(1)},
            senders=senders, receivers=receivers,
            n_node=np.array([len(atoms)], np.int32), n_edge=np.array([len(senders)], np.int32))
        self.budget = next_budget(self.budget, len(atoms), len(senders), self.headroom)
        return pad_batch([graph], self.budget)


def _check_geometry(name, positions, cell, pbc) -> None:
    """The cheap part of `Structure` validation, on every MD step (no extra neighbour list)."""
    if len(positions) == 0:
        raise StructureError(name, "empty structure (no atoms)")
    if not np.isfinite(positions).all():
        i = int(np.argmax(~np.isfinite(positions).all(axis=1)))
        raise StructureError(name, f"non-finite (NaN/inf) position at atom {i}")
    check_cell(name, cell, pbc)


def _check_contacts(name, positions, senders, receivers, shifts) -> None:
    """Overlapping atoms, read off the neighbour list the step needs anyway."""
    if len(senders) == 0:
        return
    d = np.linalg.norm(positions[senders] - positions[receivers] + shifts, axis=1)
    k = int(np.argmin(d))
    if d[k] < MIN_DISTANCE:
        raise StructureError(name, f"atoms {receivers[k]} and {senders[k]} are {d[k]:.3g} Å apart "
                                   f"(< {MIN_DISTANCE} Å): overlapping atoms")


def next_budget(current: PaddingBudget | None, n_node: int, n_edge: int, headroom: float = 1.1) -> PaddingBudget:
    """Keep `current` while it holds the graph and is not 4× too large; else a new budget of
    `headroom` × what is needed, rounded up to a size on the ladder 2^k × {1, 1.25, 1.5, 1.75}
    (at most 25 % more), so a drifting edge count recompiles rarely and padded edges, whose
    cost is that of real ones, stay below ~1.2× (it was ~1.5× with a 2^k, 1.5·2^k ladder)."""
    if current is not None and current.fits(n_node, n_edge, 1) and current.n_node <= 4 * (n_node + 1) \
            and current.n_edge <= 4 * max(n_edge, 16):
        return current
    return PaddingBudget(_bucket(n_node + 1), _bucket(headroom * n_edge), 2)


def _bucket(x: float, smallest: int = 16) -> int:
    """Smallest size 2^k × {1, 1.25, 1.5, 1.75} ≥ x (and ≥ `smallest`, a power of two)."""
    power = smallest
    while 2 * power <= x:
        power *= 2
    for quarter in (4, 5, 6, 7, 8):
        if power * quarter // 4 >= x:
            return int(power * quarter // 4)
    raise AssertionError("unreachable")


# ----------------------------------------------------------------------------- helpers


def _concrete(x) -> np.ndarray | None:
    """The value of `x` if it is known now (not a tracer), else None."""
    if x is None:
        return None
    try:
        return np.asarray(x)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _cast(graph, dtype):
    """Floats of a numpy graph in the compute dtype (numpy: jit moves it in one transfer)."""
    return jax.tree.map(lambda x: x.astype(dtype) if np.issubdtype(x.dtype, np.floating) else x, graph)


def _precision(dtype):
    return jax.enable_x64(True) if np.dtype(dtype) == np.float64 else contextlib.nullcontext()


def _names(zs) -> str:
    return ", ".join(f"{chemical_symbols[z] if 0 < z < len(chemical_symbols) else '?'} (Z={z})" for z in zs)


def _three_ints(reps) -> tuple[int, int, int]:
    reps = np.broadcast_to(np.asarray(reps, int), (3,))
    if (reps < 0).any():
        raise ValueError(f"max_images must be ≥ 0, not {reps.tolist()}")
    return tuple(int(r) for r in reps)
