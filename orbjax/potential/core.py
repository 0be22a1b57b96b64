"""Loading a trained model and the `Potential` it becomes (see the package docstring)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from orbjax import runtime
from orbjax.data.lattice import cell_and_pbc
from orbjax.data.structures import check_cell
from orbjax.model.build import statistics_variables
from orbjax.model.orbital_mlip import OrbitalMLIP
from orbjax.model.predict import node_features, predict
from orbjax.model.statistics import Statistics, check_elements
from orbjax.potential.dense import _key, dense_efs_jit, image_grid, required_images
from orbjax.potential.jax_md import jax_md_energy_fn
from orbjax.potential.neighbour_list import NeighbourList, NeighbourListBuilder, neighbour_efs_jit

DTYPES = {"float32": np.float32, "float64": np.float64}
# Edges per chunk of the model's edge loop in a potential (`orbjax.model.blocks.chunked_messages`):
# graphs with more edges (above ~70 atoms of liquid water at 5 Å) run their edge loop in
# chunks, which keeps the time per atom of a large MD step flat and its memory small
# (benchmarks/md_flatness/). Same values; 0 turns it off.
EDGE_CHUNK = 4096


# ----------------------------------------------------------------------------- compiled functions
# Jitted once for the process, not per potential (here and in `dense`, `neighbour_list`): the
# model (architecture, dtype, edge chunks; hashable) is a static argument, parameters and
# statistics are array arguments. Two potentials of one architecture, or one potential
# loaded twice, share every compilation.


def _predict_energy_forces(model, variables, graph, compute_stress: bool, level: int):
    """`predict` without auxiliary heads: network_energy [n_graphs] (no E0), forces, stress."""
    out = predict(
        model, variables, graph, with_heads=False, compute_stress=compute_stress, level=level
    )
    return {k: out[k] for k in ("network_energy", "forces", "stress") if k in out}


predict_jit = jax.jit(_predict_energy_forces, static_argnums=(0, 3, 4))
features_jit = jax.jit(node_features, static_argnums=0)


# ----------------------------------------------------------------------------- loading


def load_potential(
    path,
    which: str = "best",
    dtype=None,
    max_images=(0, 0, 0),
    edge_chunk: int = EDGE_CHUNK,
    level: str | None = None,
) -> "Potential":
    """A trained model as a `Potential`: from a model file or a training run's workdir.

    Neither needs the optimiser: only the EMA parameters, config and statistics are read;
    a model file is read without importing any training code.

    Args:
      path: a model file (`python -m orbjax.export`, or `model.orbjax` in a finished run's
        workdir) or the training run's directory (holds `checkpoints/`).
      which: for a workdir, "best" (by validation loss) or "latest"; ignored for a file.
      dtype: None (the training dtype), "float32" or "float64" (see the module docstring).
      max_images: images per lattice direction used when `cell`/`pbc` are traced.
      edge_chunk: edges per chunk of the edge loop (`EDGE_CHUNK`; 0: the whole loop at once).
      level: level of theory to predict (e.g. "dft", "gfn1"); None: the model's default.
    """
    from orbjax.model.io import load_model

    trained = load_model(path, which)
    dtype = _dtype(dtype or trained.config.dtype)
    return Potential.create(
        trained.model,
        trained.variables,
        trained.statistics,
        dtype,
        max_images,
        trained.step,
        edge_chunk,
        level,
    )


def _edge_chunk(edge_chunk) -> int:
    if int(edge_chunk) != edge_chunk or edge_chunk < 0:
        raise ValueError(
            "edge_chunk must be a non-negative integer (edges per chunk, 0: whole), not "
            f"{edge_chunk!r}"
        )
    return int(edge_chunk)


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
      variables: {"params": ..., "statistics": ...} on the device, floats in the compute
        dtype (array arguments of the compiled functions, shared by every potential of one
        architecture).
      statistics: species, levels, reference energies (float64, on the host: totals are
        formed from them in float64, `Statistics.reference_energy`).
      max_images: images per lattice direction when `cell`/`pbc` are traced.
      step: training step of the checkpoint (−1 if unknown).
      level: index of the level of theory it predicts (`statistics.levels`).
    """

    model: OrbitalMLIP
    variables: Any
    statistics: Statistics
    max_images: tuple[int, int, int] = (0, 0, 0)
    step: int = -1
    level: int = 0

    @classmethod
    def create(
        cls,
        model,
        variables,
        statistics,
        dtype=np.float32,
        max_images=(0, 0, 0),
        step=-1,
        edge_chunk: int = EDGE_CHUNK,
        level: str | None = None,
    ) -> "Potential":
        """Cast `model` and `variables` to `dtype` (float32 or float64); the model's edge loop
        in chunks of `edge_chunk` edges (0: whole). `variables` without "statistics" get
        them from `statistics`."""
        dtype = _dtype(dtype)
        model = model.clone(dtype=jnp.dtype(dtype), edge_chunk=_edge_chunk(edge_chunk), parent=None)
        if "statistics" not in variables:
            variables = {**variables, **statistics_variables(model, statistics)}
        with runtime.precision(dtype):
            variables = jax.tree.map(
                lambda p: jax.device_put(
                    np.asarray(p, dtype) if np.asarray(p).dtype.kind == "f" else np.asarray(p)
                ),
                {"params": variables["params"], "statistics": variables["statistics"]},
            )
        return cls(
            model,
            variables,
            statistics,
            _three_ints(max_images),
            int(step),
            statistics.level_index(level),
        )

    @property
    def params(self):
        """The model's variables (parameters and statistics): what the compiled functions take."""
        return self.variables

    @property
    def level_name(self) -> str:
        return self.statistics.levels[self.level]

    def reference_energy(self, atomic_numbers) -> float:
        """Σ E0 of `atomic_numbers` (concrete) at this potential's level, eV, float64."""
        return self.statistics.reference_energy(atomic_numbers, self.level_name)

    def replace(self, **changes) -> "Potential":
        """A variant; `max_images=`, `edge_chunk=` (edges per chunk, 0: whole) or a field."""
        if "max_images" in changes:
            changes["max_images"] = _three_ints(changes["max_images"])
        if "edge_chunk" in changes:
            changes["model"] = changes.get("model", self.model).clone(
                edge_chunk=_edge_chunk(changes.pop("edge_chunk"))
            )
        if isinstance(changes.get("level"), str) or changes.get("level", 0) is None:
            changes["level"] = self.statistics.level_index(changes["level"])
        return dataclasses.replace(self, **changes)

    @property
    def edge_chunk(self) -> int:
        return int(self.model.edge_chunk)

    @property
    def cutoff(self) -> float:
        return float(self.model.config.cutoff)  # Å

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.model.dtype)

    def precision(self):
        """Context that enables x64 while it is open if this potential computes in float64."""
        return runtime.precision(self.dtype)

    # --------------------------------------------------------------- checks done before tracing

    def check_elements(self, atomic_numbers, name: str = "input") -> None:
        """Raise `UnknownElementError` (a `ValueError`) naming the elements the model has
        never seen (`orbjax.model.statistics.check_elements`, the one element check)."""
        check_elements([(name, atomic_numbers)], self.statistics.known_species(self.level_name))

    def images(self, cell, pbc) -> np.ndarray:
        """[n_images, 3] int: the static image offsets for this cell (see module docstring)."""
        cell_c, pbc_c = _concrete(cell), _concrete(pbc)
        if pbc_c is not None and not pbc_c.any():
            reps = (0, 0, 0)
        elif cell_c is not None and pbc_c is not None:
            reps = tuple(
                int(r)
                for r in required_images(np.asarray(cell_c, np.float64), pbc_c, self.cutoff, np)
            )
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
                "jax.config.update('jax_enable_x64', True) yourself"
            )

    # --------------------------------------------------------------- pure functions

    def energy_forces_stress(
        self, positions, atomic_numbers, cell=None, pbc=None
    ) -> dict[str, jnp.ndarray]:
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
          The energy is the network's part (compute dtype) plus Σ E0 formed in float64: a
          float64 numpy scalar when called outside `jit`; inside a `jit` of the caller's it
          is a JAX scalar of JAX's default float (float32 unless x64 is enabled).
        """
        self._require_precision()
        positions, cell, pbc, images, ok = self._prepare(positions, atomic_numbers, cell, pbc)
        result = dense_efs_jit(
            self.model,
            self.variables,
            positions,
            atomic_numbers,
            cell,
            pbc,
            images=_key(images),
            level=self.level,
        )
        result = {k: jnp.where(ok, v, jnp.nan) for k, v in result.items()}
        return self._with_total(result, atomic_numbers)

    def _with_total(self, result: dict, atomic_numbers) -> dict:
        """result with ``network_energy`` replaced by ``energy`` = network + Σ E0 (float64
        when both are concrete; see `energy_forces_stress`)."""
        out = dict(result)
        network = out.pop("network_energy")
        z_c = _concrete(atomic_numbers)
        # traced elements: Σ E0 in JAX's default float (unknown ones are NaN via `ok`)
        if z_c is None:
            out["energy"] = network + self.statistics.reference_energy(
                atomic_numbers, self.level_name, xp=jnp
            )
        elif isinstance(network, jax.core.Tracer):
            out["energy"] = network + self.reference_energy(z_c)
        else:
            out["energy"] = np.float64(network) + self.reference_energy(z_c)
        return out

    def neighbour_list(
        self, cell=None, pbc=None, skin: float = 0.5, headroom: float = 1.1
    ) -> NeighbourListBuilder:
        """A builder of on-device neighbour lists for this potential's cutoff and a fixed cell
        (`orbjax.potential.neighbour_list`): `nbrs = builder.allocate(positions)` on the host,
        `nbrs = nbrs.update(positions)` inside `jit`, reallocate when `nbrs.overflow`.

        Args:
          cell: [3, 3] Å, rows are lattice vectors (None: no cell). pbc: [3] bool.
          skin: Å kept beyond the cutoff; the list is rebuilt once an atom moves skin/2.
          headroom: capacities are this × what the structure needs when allocated.
        """
        cell_c = None if cell is None else np.asarray(cell, np.float64).reshape(3, 3)
        pbc_c = None if pbc is None else np.broadcast_to(np.asarray(pbc, bool), (3,))
        if cell_c is not None and pbc_c is not None:
            check_cell("input", cell_c, pbc_c)
        return NeighbourListBuilder.create(self.cutoff, cell_c, pbc_c, skin, headroom)

    def neighbour_energy_forces_stress(
        self, positions, atomic_numbers, neighbours: NeighbourList
    ) -> dict[str, jnp.ndarray]:
        """Energy, forces and stress on a neighbour list; jit-able, memory O(n × capacity).

        The same numbers as `energy_forces_stress` (the same `predict`) as long as
        `neighbours` is up to date for `positions` (`neighbours.update(positions)`) and has
        not overflowed (`neighbours.overflow`: the caller reallocates and redoes the step).

        Args:
          positions: [n, 3] Å. atomic_numbers: [n] int. neighbours: from `neighbour_list`.
        Returns:
          dict(energy [] eV, forces [n, 3] eV/Å, stress [3, 3] eV/Å³, zeros if not periodic);
          NaN everywhere if `neighbours` has overflowed (its pairs are then incomplete).
        """
        self._require_precision()
        z_c = _concrete(atomic_numbers)
        if z_c is not None:
            self.check_elements(z_c)
        out = neighbour_efs_jit(
            self.model,
            self.variables,
            jnp.asarray(positions, self.dtype),
            atomic_numbers,
            neighbours,
            level=self.level,
        )
        out = {k: jnp.where(neighbours.overflow, jnp.nan, v) for k, v in out.items()}
        return self._with_total(out, atomic_numbers)

    def jax_md_energy_fn(self, atomic_numbers, cell=None, pbc=None) -> Callable[..., jnp.ndarray]:
        """`energy(positions, **kwargs) -> [] eV` for jax-md (see `orbjax.potential.jax_md`)."""
        return jax_md_energy_fn(self, atomic_numbers, cell, pbc)

    energy_fn = jax_md_energy_fn  # the name jax-md users look for

    def descriptors(self, positions, atomic_numbers, cell=None, pbc=None) -> np.ndarray:
        """Per-atom invariant features [n, channels]: the last layer's scalars, exactly what
        the energy readout reads (the model's latent space; orbital heads are not run).

        Host-side (numpy neighbour list, one compilation per shape); for analysis such as
        the latent-space maps of `experiments/metals`, not for MD.

        Args:
          positions: [n, 3] Å. atomic_numbers: [n] int. cell: [3, 3] Å or None. pbc: [3] bool or
              None.
        """
        from orbjax.data.graphs import potential_graph

        cell, pbc = cell_and_pbc(cell, pbc)
        self.check_elements(atomic_numbers)
        # The calculator's graph, padded on its size ladder: many sizes share compilations.
        graph, _ = potential_graph("input", positions, atomic_numbers, cell, pbc, self.cutoff)
        with self.precision():
            return np.asarray(features_jit(self.model, self.variables, _cast(graph, self.dtype)))[
                : len(positions)
            ]

    def predict_graph(self, graph, compute_stress: bool) -> dict[str, jnp.ndarray]:
        """The compiled `predict` on a (padded, numpy) graph in the compute dtype:
        network_energy [n_graphs] eV (no E0: add `reference_energy` on the host), forces
        [n_nodes, 3] eV/Å, stress [n_graphs, 3, 3] eV/Å³ if asked. Shared compilation."""
        return predict_jit(self.model, self.variables, graph, bool(compute_stress), self.level)

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
            need = required_images(
                jax.lax.stop_gradient(cell), jnp.asarray(pbc, bool), self.cutoff, jnp
            )
            ok &= jnp.all(need <= np.abs(images).max(axis=0))
        return positions, cell, pbc, images, ok


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
    return jax.tree.map(
        lambda x: x.astype(dtype) if np.issubdtype(x.dtype, np.floating) else x, graph
    )


def _three_ints(reps) -> tuple[int, int, int]:
    reps = np.broadcast_to(np.asarray(reps, int), (3,))
    if (reps < 0).any():
        raise ValueError(f"max_images must be ≥ 0, not {reps.tolist()}")
    return tuple(int(r) for r in reps)
