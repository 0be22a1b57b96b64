"""A committee of potentials: M models of one architecture evaluated as one.

The members' variables ({"params", "statistics"}) are stacked along a leading axis [M, ...]
and `jax.vmap`ped (or, `mode="map"`, looped with `lax.map`) through one compiled function
per shape (module-level `jit`s below, the model a static argument, as in `core`): M members
cost one compilation, and one call.
Each member keeps its own statistics (E0s, energy scale); its Σ E0 is added to its network
energy in float64 on the host, as for a single `Potential`.

Outputs (`Committee.energy_forces_stress`, `CommitteeCalculator.results`): the members'
mean energy (eV), forces (eV/Å) and stress (eV/Å³), and the spread:

* ``energy_std_per_atom``  σ_E = std over members of E / n_atoms (eV/atom; population std);
* ``forces_std``           [n] σ_F,i = sqrt(Σ_α var_members F_iα) (eV/Å);
* ``max_force_std``        max_i σ_F,i (eV/Å);
* ``energies``             [M] the members' energies (eV).

Calibration (optional, `load_committee(paths, calibration=...)`): the spreads above are
multiplied by a fitted scale (forces: σ_F,i and its max; energy: σ_E), so that they read as an
expected error (e.g. s fitted on validation so that ΔF_iα ~ N(0, (s σ_F,i)² / 3); see
`experiments/calibration/`). The raw spreads stay in ``forces_std_raw``,
``max_force_std_raw`` and ``energy_std_per_atom_raw`` (identical to the reported ones when
no calibration is given). Only these reported outputs are scaled: the jitted committee MD's
spread threshold (`dynamics`, `md_run`) compares the raw max σ_F.

    committee = orbjax.load_committee(["m0.orbjax", "m1.orbjax", "m2.orbjax", "m3.orbjax"])
    out = committee.energy_forces_stress(positions, numbers)
    atoms.calc = orbjax.CommitteeCalculator(committee)   # results["max_force_std"], ...
"""

from __future__ import annotations

import dataclasses
import functools
import json
import numbers
import os

import jax
import jax.numpy as jnp
import numpy as np

from orbjax.potential.core import Potential, _concrete, _predict_energy_forces, load_potential
from orbjax.potential.dense import _dense_efs, _key
from orbjax.potential.neighbour_list import NeighbourList, neighbour_efs, neighbour_forces


class CommitteeError(ValueError):
    """Members that cannot form a committee (other elements, levels or architecture)."""


# ----------------------------------------------------------------------------- compiled functions
# One per process for every committee (the model static, stacked variables array arguments):
# a committee of M members of one architecture compiles once per shape, whatever M's values.


# all members at once (jax.vmap) | one after another in one function (lax.map)
MODES = ("vmap", "map")


def _members(fn, model, stacked, *args, mode: str = "vmap", **kwargs):
    """`fn(model, variables, *args, **kwargs)` of every member, outputs stacked [M, ...]."""
    one = lambda v: fn(model, v, *args, **kwargs)  # noqa: E731
    return jax.vmap(one)(stacked) if mode == "vmap" else jax.lax.map(one, stacked)


committee_dense_efs_jit = jax.jit(
    functools.partial(_members, _dense_efs),
    static_argnums=0,
    static_argnames=("images", "level", "mode"),
)
committee_predict_jit = jax.jit(
    functools.partial(_members, _predict_energy_forces),
    static_argnums=(0, 3, 4),
    static_argnames="mode",
)
committee_neighbour_efs_jit = jax.jit(
    functools.partial(_members, neighbour_efs), static_argnums=0, static_argnames=("level", "mode")
)


def committee_neighbour_forces(
    model,
    stacked,
    positions,
    atomic_numbers,
    nbrs: NeighbourList,
    level: int = 0,
    mode: str = "vmap",
):
    """Members' (network energies [M] eV without Σ E0, forces [M, n, 3] eV/Å) on one list
    (inside the jitted MD step)."""
    return _members(
        neighbour_forces, model, stacked, positions, atomic_numbers, nbrs, level=level, mode=mode
    )


def force_spread(forces):
    """σ_F,i = sqrt(Σ_α var_members F_iα) [n] eV/Å, from members' forces [M, n, 3] (jnp or
    numpy)."""
    xp = jnp if isinstance(forces, jax.Array) else np
    return xp.sqrt(xp.sum(xp.var(forces, axis=0), axis=-1))


# ----------------------------------------------------------------------------- loading

CALIBRATION_KEYS = ("forces", "energy")  # the JSON file's keys: scale of σ_F,i and of σ_E


def read_calibration(calibration) -> tuple[float, float]:
    """(force scale, energy scale) from `calibration`: None (1, 1); one number (both); a
    (forces, energy) pair; a dict or a JSON file of {"forces": s_F, "energy": s_E} (a missing
    key is 1; other keys are ignored, so the file may record how the scale was fitted).
    Scales must be finite and > 0."""
    if calibration is None:
        return 1.0, 1.0
    if isinstance(calibration, numbers.Real) and not isinstance(calibration, bool):
        scales = {k: float(calibration) for k in CALIBRATION_KEYS}
        where = "calibration"
    elif isinstance(calibration, dict):
        scales, where = calibration, "calibration"
    elif isinstance(calibration, (tuple, list)) and len(calibration) == 2:
        scales, where = dict(zip(CALIBRATION_KEYS, calibration)), "calibration"
    elif isinstance(calibration, (str, os.PathLike)):
        where = os.fspath(calibration)
        if not os.path.isfile(where):
            raise FileNotFoundError(f"{where}: no such calibration file")
        with open(where, encoding="utf-8") as f:
            scales = json.load(f)
        if not isinstance(scales, dict):
            raise ValueError(f'{where}: a calibration file holds a JSON object {{"forces": s}}')
    else:
        raise TypeError(
            f"calibration: a number, a dict or a JSON file, not {type(calibration).__name__}"
        )
    out = []
    for key in CALIBRATION_KEYS:
        value = scales.get(key, 1.0)
        if not isinstance(value, numbers.Real) or not np.isfinite(value) or value <= 0:
            raise ValueError(
                f"{where}: calibration scale {key!r} must be a finite number > 0, not {value!r}"
            )
        out.append(float(value))
    return out[0], out[1]


def load_committee(
    paths,
    which: str = "best",
    dtype=None,
    max_images=(0, 0, 0),
    edge_chunk: int | None = None,
    level: str | None = None,
    mode: str = "vmap",
    calibration=None,
) -> "Committee":
    """Model files or workdirs as one `Committee` (arguments as `orbjax.load_potential`;
    `mode` "vmap": the members batched, "map": one after another inside the one compiled
    function — see `benchmarks/committee_step.csv` for which is faster where).
    `calibration`: None, one scale, or {"forces": s_F, "energy": s_E} as a dict or JSON
    file (`read_calibration`): the reported spreads are multiplied by it, the raw ones kept.

    The members must share elements, levels of theory and architecture (the same Flax
    model); otherwise a one-line `CommitteeError` names the odd member and what differs.
    """
    paths = [
        str(p)
        for p in (
            [paths] if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__") else paths
        )
    ]
    if len(paths) < 2:
        raise CommitteeError(f"a committee needs at least 2 model files, got {len(paths)}: {paths}")
    kwargs = {} if edge_chunk is None else {"edge_chunk": edge_chunk}
    scales = read_calibration(calibration)
    members = [load_potential(p, which, dtype, max_images, level=level, **kwargs) for p in paths]
    return Committee.create(members, paths, mode, calibration=scales)


@dataclasses.dataclass(frozen=True, eq=False)
class Committee:
    """M potentials of one architecture, evaluated together (see the module docstring).

    Duck-types the parts of `Potential` that MD and the calculator use (`model`,
    `variables` — here stacked [M, ...] —, `level`, `cutoff`, `dtype`, `precision`,
    `check_elements`, `neighbour_list`, `reference_energy` — the members' mean).

    Attributes:
      members: the `Potential`s (each usable alone). names: where each came from.
      variables: the members' variables stacked along a leading axis, on the device.
      mode: "vmap" (members batched) or "map" (one after another, `lax.map`), in one compiled
          function.
      calibration: (force scale, energy scale) applied to the reported spreads (1, 1: none).
    """

    members: tuple
    names: tuple
    variables: dict
    mode: str = "vmap"
    calibration: tuple = (1.0, 1.0)

    @classmethod
    def create(cls, members, names=None, mode: str = "vmap", calibration=None) -> "Committee":
        """From `Potential`s (refused by name if they differ in elements, levels, dtype or
        architecture)."""
        if mode not in MODES:
            raise ValueError(f"committee mode must be one of {MODES}, not {mode!r}")
        members = tuple(members)
        names = tuple(str(n) for n in (names or [f"member {k}" for k in range(len(members))]))
        first = members[0]
        for name, m in zip(names[1:], members[1:]):
            what = _difference(first, m)
            if what:
                raise CommitteeError(
                    f"{name}: {what} than the committee's first member {names[0]}; "
                    f"use members trained with the same config and elements"
                )
        with first.precision():
            variables = jax.tree.map(lambda *xs: jnp.stack(xs), *[m.variables for m in members])
        return cls(members, names, variables, mode, read_calibration(calibration))

    def calibrated(self, calibration) -> "Committee":
        """This committee with another calibration (`read_calibration`; None: raw spreads)."""
        return dataclasses.replace(self, calibration=read_calibration(calibration))

    # --------------------------------------------------------------- what MD and the calculator use

    @property
    def n_members(self) -> int:
        return len(self.members)

    @property
    def model(self):
        return self.members[0].model

    @property
    def level(self) -> int:
        return self.members[0].level

    @property
    def statistics(self):
        return self.members[0].statistics

    @property
    def cutoff(self) -> float:
        return self.members[0].cutoff

    @property
    def dtype(self) -> np.dtype:
        return self.members[0].dtype

    @property
    def step(self) -> int:
        return self.members[0].step

    def precision(self):
        return self.members[0].precision()

    def check_elements(self, atomic_numbers, name: str = "input") -> None:
        self.members[0].check_elements(atomic_numbers, name)

    def neighbour_list(self, *args, **kwargs):
        return self.members[0].neighbour_list(*args, **kwargs)

    def descriptors(self, *args, **kwargs) -> np.ndarray:
        """The first member's per-atom descriptors (`Potential.descriptors`)."""
        return self.members[0].descriptors(*args, **kwargs)

    def reference_energies(self, atomic_numbers) -> np.ndarray:
        """[M] each member's Σ E0 of `atomic_numbers` (eV, float64, host)."""
        return np.array([m.reference_energy(atomic_numbers) for m in self.members], np.float64)

    def reference_energy(self, atomic_numbers) -> float:
        """The members' mean Σ E0 (eV, float64): what the mean network energy needs to be the mean
        total."""
        return float(self.reference_energies(atomic_numbers).mean())

    def replace(self, **changes) -> "Committee":
        """Every member's `Potential.replace(**changes)`."""
        mode = changes.pop("mode", self.mode)
        return Committee.create(
            [m.replace(**changes) for m in self.members], self.names, mode, self.calibration
        )

    # --------------------------------------------------------------- evaluation

    def energy_forces_stress(self, positions, atomic_numbers, cell=None, pbc=None) -> dict:
        """The committee on one structure, dense all-pairs graph (`Potential.energy_forces_stress`).

        Args: positions [n, 3] Å; atomic_numbers [n] (concrete); cell [3, 3] Å; pbc [3] bool.
        Returns: dict of energy [] eV (mean), forces [n, 3] eV/Å (mean), stress [3, 3] eV/Å³
          (mean), energies [M] eV, member_forces [M, n, 3] eV/Å, energy_std_per_atom [] eV/atom,
          forces_std [n] eV/Å, max_force_std [] eV/Å (times `calibration`; the same three
          uncalibrated with the suffix ``_raw``) (numpy, float64 energies).
        """
        first = self.members[0]
        first._require_precision()
        z = _concrete(atomic_numbers)
        if z is None:
            raise TypeError("Committee.energy_forces_stress needs concrete atomic_numbers")
        positions, cell, pbc, images, ok = first._prepare(positions, atomic_numbers, cell, pbc)
        out = committee_dense_efs_jit(
            self.model,
            self.variables,
            positions,
            atomic_numbers,
            cell,
            pbc,
            images=_key(images),
            level=self.level,
            mode=self.mode,
        )
        out = {k: np.where(np.asarray(ok), np.asarray(v), np.nan) for k, v in out.items()}
        return self.combine(out["network_energy"], out["forces"], out["stress"], z)

    def predict_structures(self, structures, batch_size: int = 8, n_buckets: int = 2) -> list:
        """`combine` of every structure (`Structure`s; input order; no stress), batched as
        the evaluation batches: graphs padded to `n_buckets` shared budgets, so a pool of many
        molecule sizes compiles a few times, not once per size as `energy_forces_stress`."""
        from orbjax.data.batching import compute_budgets, pad_batch, plan_batches
        from orbjax.data.graphs import structures_to_graphs

        for s in structures:
            self.check_elements(s.atomic_numbers, s.name)
        if not structures:
            return []
        graphs = structures_to_graphs(structures, self.cutoff)
        budgets = compute_budgets(graphs, batch_size, n_buckets, seed=0)
        plan = plan_batches(
            graphs, batch_size, budgets, shuffle=False, names=[s.name for s in structures]
        )
        out: list = [None] * len(structures)
        for indices, budget in plan:
            batch = jax.tree.map(self._on_device, pad_batch([graphs[i] for i in indices], budget))
            with self.precision():
                pred = jax.device_get(self.predict_graph(batch, False))
            start = 0
            for k, i in enumerate(indices):  # a batch's nodes: its graphs' atoms, in order
                z = structures[i].atomic_numbers
                stop = start + len(z)
                out[i] = self.combine(
                    pred["network_energy"][:, k], pred["forces"][:, start:stop], None, z
                )
                start = stop
        return out

    def _on_device(self, x: np.ndarray):
        return jnp.asarray(x, self.dtype) if np.issubdtype(x.dtype, np.floating) else jnp.asarray(x)

    def predict_graph(self, graph, compute_stress: bool) -> dict:
        """The compiled `predict` of every member on one padded graph: network_energy
        [M, n_graphs] eV (no E0), forces [M, n_nodes, 3] eV/Å, stress [M, n_graphs, 3, 3]."""
        return committee_predict_jit(
            self.model, self.variables, graph, bool(compute_stress), self.level, mode=self.mode
        )

    def combine(self, network_energies, forces, stress, atomic_numbers) -> dict:
        """Members' network energies [M] (no E0), forces [M, n, 3], stress [M, 3, 3] or None
        → the committee's outputs (see `energy_forces_stress`), Σ E0 per member in float64;
        the spreads times `calibration`, the raw ones under ``*_raw``."""
        energies = np.asarray(network_energies, np.float64).reshape(-1) + self.reference_energies(
            atomic_numbers
        )
        forces = np.asarray(forces, np.float64)
        sigma_f = force_spread(forces)
        n = max(len(np.asarray(atomic_numbers)), 1)
        sigma_e = float(energies.std() / n)
        max_f = float(sigma_f.max()) if sigma_f.size else 0.0
        scale_f, scale_e = self.calibration
        out = {
            "energy": float(energies.mean()),
            "forces": forces.mean(axis=0),
            "energies": energies,
            "member_forces": forces,
            "energy_std_per_atom": sigma_e * scale_e,
            "forces_std": sigma_f * scale_f,
            "max_force_std": max_f * scale_f,
            "energy_std_per_atom_raw": sigma_e,
            "forces_std_raw": sigma_f,
            "max_force_std_raw": max_f,
        }
        if stress is not None:
            out["stress"] = np.asarray(stress, np.float64).mean(axis=0)
        return out


def _difference(a: Potential, b: Potential) -> str:
    """'' if `b` can join `a`'s committee, else what differs (for the one-line error)."""
    sa, sb = a.statistics, b.statistics
    if sa.species != sb.species:
        return f"has elements Z={list(sb.species)} other"
    if sa.levels != sb.levels:
        return f"has levels of theory {list(sb.levels)} other"
    if a.level != b.level:
        return f"predicts level {b.level_name!r}, another"
    if a.dtype != b.dtype:
        return f"computes in {b.dtype.name}, another dtype"
    if a.model != b.model:
        ca, cb = a.model.config, b.model.config
        diff = [
            f"{k}={getattr(cb, k)!r}"
            for k in getattr(ca, "__dataclass_fields__", {})
            if getattr(ca, k, None) != getattr(cb, k, None)
        ]
        return f"has another architecture ({', '.join(diff) or 'model differs'})"
    shapes_a = jax.tree.map(jnp.shape, a.variables)
    if shapes_a != jax.tree.map(jnp.shape, b.variables):
        return "has other parameter shapes"
    return ""
