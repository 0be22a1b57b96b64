"""Statistics the model depends on, computed from the training graphs and saved with it.

Reference energies (E0s) and energy scale per level of theory, the average neighbour count
and per-element means of each auxiliary target are fitted on the *training* split only and
travel inside the checkpoint (and `statistics.json` in the workdir) and the model file;
they are never recomputed at load time. The model reads them as a float64 array collection
("statistics", `Statistics.arrays`) passed with the parameters, so that two models of one
architecture share one compiled function.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Sequence

import numpy as np

from orbjax.orbitals import MAX_ORBITALS, orbital_slot_table
from orbjax.targets import TARGETS, auxiliary_targets, level_targets


@dataclasses.dataclass(frozen=True)
class Statistics:
    """Hashable (tuples only); the model reads them as arrays (`arrays`), never as constants.

    Attributes:
      species: atomic numbers the model knows, in species-index order.
      atomic_energies: [n_levels][n_species] eV, per-element reference energies (E0) of
        each level of theory.
      energy_scale: [n_levels] eV, scale of each level's per-atom energy output (RMS of
        its force components).
      avg_num_neighbors: mean number of neighbours within the cutoff.
      aux_means: target → [n_species][width] per-element mean (orbital targets: shell means).
      aux_scales: target → RMS deviation from the per-element mean.
      e0_source: [n_levels] "least_squares", "isolated_atoms" or "none" (no energy labels:
        the level's energies are untrained).
      levels: names of the levels of theory (e.g. "dft", "gfn1"); the first is the default.
    """

    species: tuple[int, ...]
    atomic_energies: tuple[tuple[float, ...], ...]
    energy_scale: tuple[float, ...] = (1.0,)
    avg_num_neighbors: float = 1.0
    aux_means: tuple[tuple[str, tuple[tuple[float, ...], ...]], ...] = ()
    aux_scales: tuple[tuple[str, float], ...] = ()
    e0_source: tuple[str, ...] = ("least_squares",)
    levels: tuple[str, ...] = ("dft",)

    def __post_init__(self):
        # One level may be given flat: atomic_energies [n_species], energy_scale x, e0_source "…".
        if not self.atomic_energies or np.ndim(self.atomic_energies[0]) == 0:
            object.__setattr__(
                self, "atomic_energies", (tuple(float(x) for x in self.atomic_energies),)
            )
        else:
            object.__setattr__(
                self,
                "atomic_energies",
                tuple(tuple(float(x) for x in r) for r in self.atomic_energies),
            )
        if np.ndim(self.energy_scale) == 0:
            object.__setattr__(self, "energy_scale", (float(self.energy_scale),))
        if isinstance(self.e0_source, str):
            object.__setattr__(self, "e0_source", (self.e0_source,))
        object.__setattr__(self, "species", tuple(int(z) for z in self.species))
        object.__setattr__(self, "levels", tuple(self.levels))
        object.__setattr__(self, "energy_scale", tuple(float(x) for x in self.energy_scale))
        object.__setattr__(self, "e0_source", tuple(self.e0_source))
        n, s = len(self.levels), len(self.species)
        if not (len(self.atomic_energies) == len(self.energy_scale) == len(self.e0_source) == n):
            raise ValueError(
                f"statistics of {n} levels {self.levels} need {n} rows of atomic_energies, "
                f"energy_scale and e0_source"
            )
        if any(len(row) != s for row in self.atomic_energies):
            raise ValueError(f"atomic_energies rows must have one entry per species ({s})")

    @property
    def n_species(self) -> int:
        return len(self.species)

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    def level_index(self, level: str | None) -> int:
        """Index of `level` (None: the default, 0); ValueError naming the known levels."""
        if level is None:
            return 0
        if level not in self.levels:
            raise ValueError(
                f"level {level!r} is not one of this model's levels of theory {self.levels}"
            )
        return self.levels.index(level)

    def known_species(self, level: str | None = None) -> tuple[int, ...]:
        """The species with a reference energy at `level`: a fine-tuned model keeps its
        pretrained species but has no E0 (NaN) for those its fine-tuning data lacked."""
        e0 = self.atomic_energies[self.level_index(level)]
        return tuple(z for z, e in zip(self.species, e0) if np.isfinite(e))

    def z_to_species(self) -> np.ndarray:
        """[119] int: species index of each Z, −1 for elements the model has never seen."""
        table = -np.ones(119, np.int32)
        table[list(self.species)] = np.arange(self.n_species)
        return table

    def aux_mean(self, target: str) -> np.ndarray:
        return np.asarray(dict(self.aux_means)[target])  # [n_species, width]

    def aux_scale(self, target: str) -> float:
        return float(dict(self.aux_scales)[target])

    def reference_energy(self, atomic_numbers, level: str | None = None, xp=np):
        """Σ E0 of the atoms (eV): the constant part of the total energy. With numpy (the
        default) a float formed in float64 on the host, so totals of 10⁴–10⁵ eV keep their
        meV; with `xp=jnp` for traced atomic numbers, in JAX's default float. Callers check
        the elements first (an unknown one would count as the first species)."""
        e0 = xp.asarray(np.asarray(self.atomic_energies[self.level_index(level)], np.float64))
        species = xp.maximum(xp.asarray(self.z_to_species())[xp.asarray(atomic_numbers)], 0)
        total = xp.sum(e0[species])
        return float(total) if xp is np else total

    def arrays(self, heads: tuple[str, ...] = ()) -> dict:
        """The "statistics" collection the model reads (float64 numpy; `heads`: the
        auxiliary targets of the model, whose means and scales it needs)."""
        out = {
            # [n_levels, n_species] eV
            "atomic_energies": np.asarray(self.atomic_energies, np.float64),
            "energy_scale": np.asarray(self.energy_scale, np.float64),  # [n_levels] eV
            "avg_num_neighbors": np.asarray(self.avg_num_neighbors, np.float64),  # []
            "z_to_species": self.z_to_species(),  # [119] int32
        }
        for head in heads:
            out[f"{head}_mean"] = np.asarray(self.aux_mean(head), np.float64)  # [n_species, width]
            out[f"{head}_scale"] = np.asarray(self.aux_scale(head), np.float64)  # []
        return out

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Statistics":
        """Also reads the one-level layout written before levels of theory existed
        (flat atomic_energies, scalar energy_scale, and the auxiliary means/scales under their
        old names charge_means/charge_scales)."""
        d = json.loads(text)
        if "charge_means" in d:
            d["aux_means"], d["aux_scales"] = d.pop("charge_means"), d.pop("charge_scales")
        d["aux_means"] = tuple((k, tuple(tuple(r) for r in v)) for k, v in d["aux_means"])
        d["aux_scales"] = tuple((k, v) for k, v in d["aux_scales"])
        return cls(**d)


class UnknownElementError(ValueError):
    """Input holds elements the model was never trained on (it would treat them as its
    first species and return confident nonsense). The one error type of the one check,
    `check_elements`, used by evaluation, the potential, its ASE calculator, jax-md and MD."""


def check_elements(
    structures, species: Sequence[int], known_as: str = "this model, which was trained on"
) -> None:
    """Raise `UnknownElementError` naming every unknown element, the structures holding it
    and the elements the model knows: "element(s) unknown to {known_as} H (Z=1), … only:
    S (Z=16) in file.xyz:3, …".

    Args:
      structures: `Structure`s (anything with `.name` and `.atomic_numbers`) or
        (name, atomic_numbers) pairs.
      species: the atomic numbers the model was (or will be) trained on (`Statistics.species`).
      known_as: who knows `species` (the training data checks val/test structures against
        "the model, whose training split holds").
    """
    known = {int(z) for z in species}
    offenders: dict[int, list[str]] = {}
    for item in structures:
        name, numbers = (
            (item.name, item.atomic_numbers) if hasattr(item, "atomic_numbers") else item
        )
        for z in sorted({int(z) for z in np.unique(np.asarray(numbers, np.int64))} - known):
            offenders.setdefault(z, []).append(str(name))
    if not offenders:
        return
    # elements found in the same structures go together
    by_names: dict[tuple[str, ...], list[int]] = {}
    for z in sorted(offenders):
        by_names.setdefault(tuple(offenders[z]), []).append(z)
    where = []
    for names, zs in by_names.items():
        shown = ", ".join(names[:5]) + (f", … ({len(names)} structures)" if len(names) > 5 else "")
        where.append(f"{element_names(zs)} in {shown}")
    raise UnknownElementError(
        f"element(s) unknown to {known_as} {element_names(sorted(known))} only: " + "; ".join(where)
    )


def element_names(zs) -> str:
    """'H (Z=1), O (Z=8)'; '?' for a Z that is no element."""
    from ase.data import chemical_symbols

    return ", ".join(
        f"{chemical_symbols[z] if 0 < z < len(chemical_symbols) else '?'} (Z={z})"
        for z in map(int, zs)
    )


def compute_statistics(
    graphs,
    species=None,
    isolated_atom_energies: dict[int, float] | None = None,
    level: str = "dft",
    other_levels: Sequence[str] = (),
) -> Statistics:
    """Fit the statistics on single-structure numpy `jraph.GraphsTuple`s: of the default
    level `level` (labels "energy"/"forces") and of each of `other_levels` (labels
    "energy_<level>"/"forces_<level>", `targets.level_targets`), each from the structures
    that carry its labels. Isolated-atom energies serve the default level only."""
    all_z = np.concatenate([g.nodes["atomic_numbers"] for g in graphs])
    species = tuple(sorted(set(int(z) for z in all_z) | set(species or ())))
    index = {z: i for i, z in enumerate(species)}
    keys = [("energy", "forces")] + [level_targets(other) for other in other_levels]
    fits = [
        _fit_level(graphs, species, index, isolated_atom_energies if k == 0 else None, e, f)
        for k, (e, f) in enumerate(keys)
    ]
    n_edges = sum(int(g.n_edge.sum()) for g in graphs)
    means, scales = _aux_statistics(graphs, species, index)
    return Statistics(
        species=species,
        atomic_energies=tuple(tuple(float(x) for x in e0) for e0, _, _ in fits),
        energy_scale=tuple(scale for _, _, scale in fits),
        avg_num_neighbors=max(n_edges / max(len(all_z), 1), 1.0),
        aux_means=means,
        aux_scales=scales,
        e0_source=tuple(source for _, source, _ in fits),
        levels=(level, *other_levels),
    )


def _fit_level(graphs, species, index, isolated, energy_key: str, forces_key: str):
    """(E0 per species, its source, energy scale = RMS force) of one level of theory."""
    e0, source = _fit_atomic_energies(graphs, species, index, isolated, energy_key)
    forces = [g.nodes[forces_key][g.nodes[f"{forces_key}_mask"]] for g in graphs]
    forces = np.concatenate(forces) if forces else np.zeros((0, 3))
    scale = float(np.sqrt(np.mean(forces**2))) if forces.size else 1.0
    return e0, source, scale if scale > 1e-6 else 1.0


def _fit_atomic_energies(graphs, species, index, isolated, energy_key: str = "energy"):
    if isolated:
        missing = [z for z in species if z not in isolated]
        if not missing:
            return np.array([isolated[z] for z in species]), "isolated_atoms"
    counts, energies = [], []
    for g in graphs:
        if g.globals[f"{energy_key}_mask"][0]:
            row = np.zeros(len(species))
            np.add.at(row, [index[int(z)] for z in g.nodes["atomic_numbers"]], 1.0)
            counts.append(row)
            energies.append(float(g.globals[energy_key][0]))
    if not counts:
        return np.zeros(len(species)), "none"
    # Least squares with a tiny ridge: elements that always appear in fixed ratio (e.g. one
    # molecule) are not separately determined; the ridge picks the minimum-norm answer.
    a, b = np.asarray(counts), np.asarray(energies)
    e0 = np.linalg.solve(a.T @ a + 1e-8 * np.eye(len(species)), a.T @ b)
    # An element in no energy-labelled structure of this level (e.g. only in another level's
    # frames) has no reference energy: NaN, so that the level refuses it by name
    # (`Statistics.known_species`) instead of predicting with E0 = 0.
    e0[a.sum(axis=0) == 0] = np.nan
    return e0, "least_squares"


def _aux_statistics(graphs, species, index):
    means, scales = [], []
    for target in auxiliary_targets():
        mask_name, width = TARGETS[target].mask, TARGETS[target].width
        total = np.zeros((len(species), width))
        count = np.zeros((len(species), width))
        for g in graphs:
            if target not in g.nodes:
                continue
            values = g.nodes[target].reshape(len(g.nodes["atomic_numbers"]), width)
            mask = g.nodes[mask_name].reshape(values.shape)
            rows = np.array([index[int(z)] for z in g.nodes["atomic_numbers"]])
            np.add.at(total, rows, np.where(mask, values, 0.0))
            np.add.at(count, rows, mask)
        mean = total / np.maximum(count, 1)
        if TARGETS[target].offset == "shell":
            mean = _shell_average(mean, species)
        sq, n = 0.0, 0
        for g in graphs:
            if target not in g.nodes:
                continue
            values = g.nodes[target].reshape(len(g.nodes["atomic_numbers"]), width)
            mask = g.nodes[mask_name].reshape(values.shape)
            rows = np.array([index[int(z)] for z in g.nodes["atomic_numbers"]])
            sq += float((np.where(mask, values - mean[rows], 0.0) ** 2).sum())
            n += int(mask.sum())
        means.append((target, tuple(tuple(float(x) for x in r) for r in mean)))
        scales.append((target, float(np.sqrt(sq / n)) if n and sq > 0 else 1.0))
    return tuple(means), tuple(scales)


def _shell_average(mean: np.ndarray, species) -> np.ndarray:
    """Average the per-orbital means over m inside each shell, so the offset is
    rotation-invariant."""
    slot_shell, _ = orbital_slot_table()
    out = mean.copy()
    for i, z in enumerate(species):
        shells = slot_shell[z] if z < len(slot_shell) else -np.ones(MAX_ORBITALS, int)
        for k in set(shells[shells >= 0].tolist()):
            sel = shells == k
            out[i, sel] = mean[i, sel].mean()
    return out
