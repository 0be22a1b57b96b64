"""Training targets: one record each, read by everyone who handles a target.

Graphs (`data/graphs.py`) fill a target's label and mask from a structure, the losses
(`training/losses.py`) find them by `level` and `mask`, statistics (`model/statistics.py`)
fit per-element offsets of the auxiliary targets, the model (`model/orbital_mlip.py`) builds one
readout per head of `readout` kind and `width`, metrics and evaluation report MAE/RMSE in
`unit` and plot with `plot`. Adding a target is adding one `Target` with `register` (and a
readout kind in `model/orbital_mlip.py` if it needs a new one).

Reference targets (DFT energy, forces, stress) select the model; auxiliary targets (charges,
populations) are atom-level, trained through a head the config names in `model.heads`, and
never used at inference.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from orbjax.orbitals import MAX_ORBITALS, MAX_SHELLS, pad_orbitals, shell_l_table

F32 = np.float32


@dataclasses.dataclass(frozen=True)
class Target:
    """One training target.

    Attributes:
      name: key of the label in the graph and of its loss weight (`loss.weights.<name>`).
      level: "structure" (graph globals, one per structure) or "atom" (graph nodes).
      mask: key of its boolean mask next to the label (False: unlabelled or padding).
      unit: unit of its MAE/RMSE in logs, CSVs and model files; `metric_factor` converts
        from the label's unit (eV, eV/Å, eV/Å³, e) to it.
      plot: (title, quantity, axis unit) of its parity plot (`evaluate`).
      reference: a reference-method (DFT) target: model selection uses these only.
      width: components per atom of an auxiliary target (1 = a scalar, stored as [n]).
      readout: auxiliary head kind: "scalar" (invariant MLP on the last layer's scalars) or
        "orbital" (the equivariant s/p/d block readout; `model.orbital_head="invariant"`
        turns it into "scalar").
      offset: per-element mean subtracted before scaling: "element", or "shell" (averaged
        over m within each shell, so the offset is rotation-invariant).
      node_label: structure → (values, mask) of an auxiliary target; values [n] or
        [n, width] float32 with 0 where the mask is False.
      quantity: "energy", "forces" or "stress" for the energy-derived targets (the loss
        compares energies per atom), "" for auxiliary targets.
      of_level: for the energy and forces of a model's *other* levels of theory
        (`energy_gfn1`, `forces_gfn1`: see `LEVEL_KEYS`), the level's name; "" otherwise
        ("energy"/"forces" are always the model's default level).
    """

    name: str
    level: str
    mask: str
    unit: str
    metric_factor: float
    plot: tuple[str, str, str]
    reference: bool = False
    width: int = 1
    readout: str = "scalar"
    offset: str = "element"
    node_label: Callable | None = None
    quantity: str = ""
    of_level: str = ""

    def __post_init__(self):
        if self.level not in ("structure", "atom"):
            raise ValueError(
                f"target {self.name!r}: level must be 'structure' or 'atom', not {self.level!r}"
            )
        if self.of_level:
            if self.quantity not in ("energy", "forces"):
                raise ValueError(f"target {self.name!r}: a level target is an energy or forces")
        elif not self.reference and (self.level != "atom" or self.node_label is None):
            raise ValueError(
                f"target {self.name!r}: an auxiliary target is atom-level and needs node_label"
            )
        if self.readout not in ("scalar", "orbital"):
            raise ValueError(
                f"target {self.name!r}: readout must be 'scalar' or 'orbital', not {self.readout!r}"
            )


def masked_label(value, shape, entry_ndim: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Label (or None) → (float32 values, mask); a non-finite entry becomes 0 with mask False.

    An entry is the trailing `entry_ndim` axes (e.g. a force vector): one NaN component
    masks the whole entry. The mask has shape `shape[:len(shape) - entry_ndim]`.
    """
    mask_shape = shape[: len(shape) - entry_ndim]
    if value is None:
        return np.zeros(shape, F32), np.zeros(mask_shape, bool)
    value = np.asarray(value, np.float64).reshape(shape)
    finite = np.isfinite(value)
    mask = finite.reshape(*mask_shape, -1).all(axis=-1) if entry_ndim else finite
    keep = mask.reshape(mask_shape + (1,) * entry_ndim)
    return np.where(keep, value, 0.0).astype(F32), mask


def per_atom(file_key: str) -> Callable:
    """node_label of a scalar per-atom label stored under `file_key`."""
    return lambda s: masked_label(s.labels.get(file_key), (s.n_atoms,))


_L_TABLE = shell_l_table()  # [max_z + 1, 3] l of each GFN1 shell, −1 = absent


def _has_l(z: np.ndarray) -> np.ndarray:
    """[n, 3] bool: element has at least one GFN1 shell of l = 0, 1, 2 (False beyond Rn)."""
    known = z < len(_L_TABLE)
    l_of_shell = _L_TABLE[np.where(known, z, 0)]  # [n, 3]; Z=0 row is all −1
    return (l_of_shell[:, :, None] == np.arange(3)).any(axis=1) & known[:, None]


def _spd_populations(s) -> tuple[np.ndarray, np.ndarray]:
    values, mask = masked_label(s.labels.get("xtb_spd_populations"), (s.n_atoms, MAX_SHELLS))
    mask &= _has_l(s.atomic_numbers)  # only the l the element has in GFN1
    return np.where(mask, values, 0.0).astype(F32), mask


def _orbital_populations(s) -> tuple[np.ndarray, np.ndarray]:
    """[n, 9] per-orbital populations in orbjax's slot order (`orbitals.pad_orbitals`)."""
    flat = s.labels.get("xtb_orbital_populations")
    if flat is None:
        return np.zeros((s.n_atoms, MAX_ORBITALS), F32), np.zeros((s.n_atoms, MAX_ORBITALS), bool)
    try:
        values, mask = pad_orbitals(s.atomic_numbers, np.asarray(flat, np.float64))
    except (ValueError, KeyError) as err:
        from orbjax.data.structures import StructureError

        raise StructureError(s.name, f"xtb_orbital_populations do not match the GFN1 basis: {err}")
    mask &= np.isfinite(values)
    return np.where(mask, values, 0.0).astype(F32), mask


TARGETS: dict[str, Target] = {}


def register(target: Target) -> Target:
    """Add (or replace) a target; every module reads `TARGETS` when it runs, not at import."""
    TARGETS[target.name] = target
    return target


for _target in (
    # Reference targets: filled by `data/graphs.py` from `data.energy_key` / `forces_key` /
    # "stress".
    Target(
        "energy",
        "structure",
        "energy_mask",
        "meV/atom",
        1e3,
        ("Energy", "(E − ΣE0) / atom", "eV/atom"),
        reference=True,
        quantity="energy",
    ),
    Target(
        "forces",
        "atom",
        "forces_mask",
        "meV/A",
        1e3,
        ("Forces (components)", "F", "eV/Å"),
        reference=True,
        quantity="forces",
    ),
    Target(
        "stress",
        "structure",
        "stress_mask",
        "meV/A^3",
        1e3,
        ("Stress (components)", "σ", "eV/Å³"),
        reference=True,
        quantity="stress",
    ),
    # Auxiliary targets (training only).
    Target(
        "atomic_charges",
        "atom",
        "atomic_charges_mask",
        "me",
        1e3,
        ("xTB atomic charges", "q", "e"),
        node_label=per_atom("xtb_charges"),
    ),
    Target(
        "dft_charges",
        "atom",
        "dft_charges_mask",
        "me",
        1e3,
        ("DFT charges", "q", "e"),
        node_label=per_atom("dft_charges"),
    ),
    Target(
        "spd_populations",
        "atom",
        "spd_mask",
        "me",
        1e3,
        ("xTB shell populations", "population", "e"),
        width=MAX_SHELLS,
        node_label=_spd_populations,
    ),
    Target(
        "orbital_populations",
        "atom",
        "orbital_mask",
        "me",
        1e3,
        ("xTB orbital populations", "population", "e"),
        width=MAX_ORBITALS,
        readout="orbital",
        offset="shell",
        node_label=_orbital_populations,
    ),
):
    register(_target)


# Levels of theory: the label keys (energy, forces) of each level in a dataset. A model has
# one energy readout per level it was trained on (`Statistics.levels`); its first level is
# the one `load_potential` predicts by default. The default level's labels are the targets
# "energy" and "forces"; every other level's are "energy_<level>" and "forces_<level>"
# (`level_targets`), trained with `data.levels` and weighted like any target
# (`loss.weights.energy_gfn1`). Model selection reads the default level only.
LEVEL_KEYS: dict[str, tuple[str, str]] = {
    "dft": ("energy", "forces"),
    "gfn1": ("xtb_energy", "xtb_forces"),
}


def level_of_key(energy_key: str) -> str:
    """The level whose energy label is `energy_key` ("energy" → "dft", "xtb_energy" →
    "gfn1"); a user's own key names a level of its own."""
    for level, (energy, _) in LEVEL_KEYS.items():
        if energy == energy_key:
            return level
    return energy_key


def level_targets(level: str) -> tuple[str, str]:
    """("energy_<level>", "forces_<level>"): the targets of a model's non-default level."""
    return f"energy_{level}", f"forces_{level}"


def level_energy_targets(levels) -> tuple[str, ...]:
    """The energy target of each of a run's levels, in order: "energy" for the default
    (first) level, "energy_<level>" for the others."""
    return ("energy", *(level_targets(level)[0] for level in levels[1:]))


def _register_level(level: str) -> None:
    energy, forces = level_targets(level)
    register(
        Target(
            energy,
            "structure",
            f"{energy}_mask",
            "meV/atom",
            1e3,
            (f"Energy ({level})", "(E − ΣE0) / atom", "eV/atom"),
            quantity="energy",
            of_level=level,
        )
    )
    register(
        Target(
            forces,
            "atom",
            f"{forces}_mask",
            "meV/A",
            1e3,
            (f"Forces ({level}, components)", "F", "eV/Å"),
            quantity="forces",
            of_level=level,
        )
    )


for _level in LEVEL_KEYS:
    _register_level(_level)


def reference_targets() -> tuple[str, ...]:
    return tuple(t.name for t in TARGETS.values() if t.reference)


def auxiliary_targets() -> tuple[str, ...]:
    """Names of the atom-level targets a model head can predict (charges, populations)."""
    return tuple(t.name for t in TARGETS.values() if not t.reference and not t.of_level)


def metric_units() -> dict[str, tuple[str, float]]:
    """Metric name → (unit, factor from label unit); energies also per structure."""
    units = {t.name: (t.unit, t.metric_factor) for t in TARGETS.values()}
    units["energy_per_structure"] = ("meV", 1e3)
    return units
