"""Read structure files into `Structure` records, with labels in orbjax units.

Formats (chosen by ``format=`` or the file extension):

- ``extxyz`` / ``xyz`` (ASE): parsed frame by frame so that an error names the frame and
  its line, and one bad frame does not lose the rest of the file. ASE ≥ 3.23 moves
  ``energy``, ``forces``, ``stress`` and ``dipole`` into a SinglePointCalculator; labels
  are looked up in ``atoms.calc.results``, then ``atoms.arrays``, then ``atoms.info``.
- ``db``: ASE database; labels from calculator results, ``row.data``, then key-value pairs.
- ``ani``: the ANI / COMP6 HDF5 layout, one group per molecule holding ``species``
  (bytes symbols or atomic numbers) and ``coordinates`` [n_conf, n_atoms, 3] Å, plus
  per-conformation labels. Every conformation is one `Structure`; ``mol_id`` is the group
  path. Per-atom charge arrays with one trailing extra entry (a COMP6 quirk) are trimmed.
- ``orbjax``: labelled dataset files written by `orbjax.data.dataset` (HDF5 with the
  ``orbjax_format`` attribute). ``.h5``/``.hdf5`` files are sniffed for that attribute.

Output labels use the canonical keys ``energy`` (eV), ``forces`` (eV/Å), ``stress``
(eV/Å³, ASE sign, [3, 3]), ``dipole`` (e·Å) and ``dft_charges`` (e). A `KeyMap` says which
file key holds each label and in which unit. A label whose values are all NaN counts as
missing (ANI files mark absent labels that way).

Errors are `StructureError`s (a `ValueError`) naming the file, the structure and the
problem; `ReadError` is the file-level kind (malformed or truncated file).
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ase.data
import ase.io
import numpy as np
from ase.stress import voigt_6_to_full_3x3_stress

from orbjax.data.structures import Structure, StructureError
from orbjax.units import DEBYE, HARTREE

log = logging.getLogger(__name__)

LABEL_KEYS = ("energy", "forces", "stress", "dipole", "dft_charges")
EXAMPLE_FILE = "chno_example.extxyz"

_Item = tuple[str, Callable[[], Structure]]  # (structure name, builder)


@dataclasses.dataclass(frozen=True)
class KeyMap:
    """Where each label lives in a file and in which unit.

    Attributes:
      energy, forces, stress, dipole, dft_charges: file key of each canonical label
        (None: do not read it). ``dft_charges`` might be e.g. "dft_mulliken_charges",
        "dft_lowdin_charges", "cm5" or "hirshfeld".
      charge, multiplicity: per-structure keys for total charge (default 0) and 2S+1 (1).
      mol_id, smiles: molecule identity; fallbacks mol_id → smiles → chemical formula.
      required: canonical labels that must be present in every structure.
      energy_unit, forces_unit, stress_unit, dipole_unit: multiply file values by these
        to get eV, eV/Å, eV/Å³ and e·Å (e.g. ``units.HARTREE``, ``units.DEBYE``).
      forces_are_gradient: the forces key holds dE/dx (COMP6 does): negate it.
    """

    energy: str | None = "energy"
    forces: str | None = "forces"
    stress: str | None = "stress"
    dipole: str | None = "dipole"
    dft_charges: str | None = "dft_charges"
    charge: str = "charge"
    multiplicity: str = "multiplicity"
    mol_id: str = "mol_id"
    smiles: str = "smiles"
    required: tuple[str, ...] = ()
    energy_unit: float = 1.0
    forces_unit: float = 1.0
    stress_unit: float = 1.0
    dipole_unit: float = 1.0
    forces_are_gradient: bool = False

    def __post_init__(self):
        for label in self.required:
            if label not in LABEL_KEYS:
                raise ValueError(f"KeyMap.required: unknown label {label!r} (known: {LABEL_KEYS})")
            if getattr(self, label) is None:
                raise ValueError(f"KeyMap.required lists {label!r} but its file key is None")

    def replace(self, **changes) -> "KeyMap":
        return dataclasses.replace(self, **changes)


DEFAULT_KEYS = KeyMap()
# shared/data chno set and the bundled example: Mulliken charges, dipoles in Debye.
CHNO_KEYS = KeyMap(dft_charges="dft_mulliken_charges", dipole_unit=DEBYE)
# COMP6 / ANI HDF5: Hartree energies; "forces" is really the gradient in Hartree/Å.
COMP6_KEYS = KeyMap(
    energy="energies",
    forces="forces",
    stress=None,
    dipole=None,
    dft_charges="hirshfeld",
    energy_unit=HARTREE,
    forces_unit=HARTREE,
    forces_are_gradient=True,
)

# Named key sets, selectable from the command line and from configs (`data.key_preset`).
KEY_PRESETS = {"default": DEFAULT_KEYS, "chno": CHNO_KEYS, "comp6": COMP6_KEYS}


class ReadError(StructureError):
    """A file, or part of one, that cannot be read; the message names file, place and problem."""

    def __init__(self, path, problem: str, structure: str | None = None, line: int | None = None):
        where = "".join(
            [f", structure {structure!r}" if structure else "", f", line {line}" if line else ""]
        )
        ValueError.__init__(self, f"{path}{where}: {problem}")
        self.name = structure or Path(path).name
        self.problem = problem
        self.path = str(path)


# ----------------------------------------------------------------------------- public API


def read_structures(
    path,
    format: str | None = None,
    keys: KeyMap | None = None,
    index: int | str | slice = ":",
    on_error: str = "raise",
) -> list[Structure]:
    """Read structures from `path` (see the module docstring for formats).

    Args:
      format: "extxyz", "xyz", "db", "ani", "orbjax" or "hdf5" (ani/orbjax by attribute);
        None: from the extension.
      keys: label keys and units; None: `COMP6_KEYS` for ANI files, `DEFAULT_KEYS` otherwise.
      index: which structures, ASE style (``":"``, ``"-1"``, ``"::2"``, int or slice),
        counted over all structures (conformations for ANI) in file order.
      on_error: "raise" at the first bad structure, or "skip" it and log a warning
        (use `read_structures_with_failures` to get the list of what was skipped).
    """
    good, bad = _read(path, format, keys, index, on_error)
    if bad:
        shown = "; ".join(reason for _, reason in bad[:3])
        log.warning(
            "%s: skipped %d bad structure(s): %s%s",
            path,
            len(bad),
            shown,
            " ..." if len(bad) > 3 else "",
        )
    return good


def read_structures_with_failures(
    path, format: str | None = None, keys: KeyMap | None = None, index: int | str | slice = ":"
) -> tuple[list[Structure], list[tuple[str, str]]]:
    """Like `read_structures(..., on_error="skip")`, also returning ``[(name, reason)]``."""
    return _read(path, format, keys, index, "skip")


@dataclasses.dataclass
class NumberedStructures:
    """The structures of a file with their positions in it (what a labelling job reports).

    Attributes:
      structures: the readable structures, in file order.
      positions: [len(structures)] each one's position in the file (0-based, counting
        unreadable frames too).
      unreadable: [(position, name, reason)] of the frames the reader rejected.
    """

    structures: list[Structure]
    positions: list[int]
    unreadable: list[tuple[int, str, str]]

    def first(self, n: int) -> "NumberedStructures":
        """Only the first `n` frames of the file (readable or not)."""
        keep = [k for k, p in enumerate(self.positions) if p < n]
        return NumberedStructures(
            [self.structures[k] for k in keep],
            [self.positions[k] for k in keep],
            [u for u in self.unreadable if u[0] < n],
        )


def read_structures_numbered(
    path, format: str | None = None, keys: KeyMap | None = None
) -> NumberedStructures:
    """Every structure of `path`, keeping each one's position in the file.

    Like `read_structures_with_failures`, but an unreadable frame keeps its place, so
    indices of failures point into the file. A file that cannot be read at all (it fails
    before its first frame) raises (`FileNotFoundError`, `ReadError`, `ValueError`).
    """
    numbered = NumberedStructures([], [], [])
    for position, name, result, file_failed in _outcomes(_items(path, format, keys, ":")):
        if not isinstance(result, StructureError):
            numbered.structures.append(result)
            numbered.positions.append(position)
        elif file_failed and position == 0:
            raise result
        else:
            numbered.unreadable.append((position, name, str(result)))
    return numbered


def example_path() -> Path:
    """The bundled example: 39 CHNO structures, ωB97X/6-31G(d); read with `CHNO_KEYS`."""
    return Path(__file__).resolve().parents[1] / "examples" / EXAMPLE_FILE


# ----------------------------------------------------------------------------- dispatch


def _read(path, format, keys, index, on_error):
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    return _collect(_items(path, format, keys, index), on_error)


def _items(path, format, keys, index) -> Iterator[_Item]:
    """(name, builder) per selected structure of the file, by format."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    fmt = _format_of(path, format)
    if keys is None:
        keys = COMP6_KEYS if fmt == "ani" else DEFAULT_KEYS
    readers = {"extxyz": _extxyz_items, "db": _db_items, "ani": _ani_items, "orbjax": _orbjax_items}
    return readers[fmt](path, keys, index)


def _format_of(path: Path, format: str | None) -> str:
    fmt = (format or path.suffix.lstrip(".")).lower()
    fmt = {"xyz": "extxyz", "h5": "hdf5"}.get(fmt, fmt)
    if fmt == "hdf5":
        fmt = _sniff_hdf5(path)
    if fmt not in ("extxyz", "db", "ani", "orbjax"):
        raise ValueError(
            f"{path}: unknown format {fmt!r}; pass format= one of extxyz, xyz, db, ani, "
            "orbjax, hdf5"
        )
    return fmt


def _sniff_hdf5(path: Path) -> str:
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            return "orbjax" if "orbjax_format" in f.attrs else "ani"
    except OSError as e:
        raise ReadError(path, f"cannot open HDF5 file (corrupt or truncated?): {e}") from e


def _outcomes(items: Iterator[_Item]):
    """(position, name, Structure or the StructureError, file_failed) per item, in file order.

    `file_failed` marks a failure of the file itself (not of one item): it is the last outcome,
    nothing after it can be read.
    """
    position = 0
    while True:
        try:
            name, build = next(items)
        except StopIteration:
            return
        except StructureError as e:
            yield position, e.name, e, True
            return
        try:
            structure = build()
        except StructureError as e:
            yield position, name, e, False
        else:
            yield position, name, structure, False
        position += 1


def _collect(items: Iterator[_Item], on_error: str):
    """Build every item; on "skip" record (name, reason) for each failure instead of raising."""
    good, bad = [], []
    for _, name, result, _ in _outcomes(items):
        if not isinstance(result, StructureError):
            good.append(result)
        elif on_error == "raise":
            raise result
        else:
            bad.append((name, str(result)))
    return good, bad


def _select(n: int, index) -> list[int]:
    """Indices into range(n) selected by an ASE-style index."""
    if isinstance(index, str):
        if ":" in index:
            parts = [int(p) if p.strip() else None for p in index.split(":")]
            index = slice(*parts)
        else:
            index = int(index)
    picked = range(n)[index]
    return [picked] if isinstance(picked, int) else list(picked)


# ----------------------------------------------------------------------------- labels


def _labels(lookup: Callable[[str], Any], keys: KeyMap, n: int, name: str) -> dict[str, np.ndarray]:
    """Canonical labels in orbjax units; raises if a required one is missing or misshaped."""
    labels = {}
    for label in LABEL_KEYS:
        file_key = getattr(keys, label)
        raw = None if file_key is None else lookup(file_key)
        if raw is not None:
            raw = _as_float(raw, name, file_key)
        if raw is None or (raw.size and np.isnan(raw).all()):
            if label in keys.required:
                raise StructureError(name, f"required key {file_key!r} ({label}) is missing")
            continue
        value = _convert(label, raw, keys, n, name, file_key)
        if not np.isfinite(value).all():
            raise StructureError(name, f"key {file_key!r} ({label}) contains NaN/inf")
        labels[label] = value
    return labels


def _as_float(raw, name: str, file_key: str) -> np.ndarray:
    try:
        return np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise StructureError(name, f"key {file_key!r} is not numeric: {e}") from e


def _convert(label, raw, keys: KeyMap, n, name, file_key) -> np.ndarray:
    if label == "stress" and raw.shape in ((6,), (9,)):
        raw = voigt_6_to_full_3x3_stress(raw) if raw.shape == (6,) else raw.reshape(3, 3)
    if label == "energy" and raw.shape == (1,):
        raw = raw.reshape(())
    expected = {
        "energy": (),
        "forces": (n, 3),
        "stress": (3, 3),
        "dipole": (3,),
        "dft_charges": (n,),
    }
    if raw.shape != expected[label]:
        raise StructureError(
            name, f"key {file_key!r} ({label}) has shape {raw.shape}, expected {expected[label]}"
        )
    scale = {
        "energy": keys.energy_unit,
        "forces": -keys.forces_unit if keys.forces_are_gradient else keys.forces_unit,
        "stress": keys.stress_unit,
        "dipole": keys.dipole_unit,
        "dft_charges": 1.0,
    }[label]
    return raw * scale


def _mol_id(lookup, keys: KeyMap, formula: Callable[[], str]) -> str:
    for key in (keys.mol_id, keys.smiles):
        value = lookup(key)
        if value is not None:
            return str(_plain(value))
    return formula()


def _plain(value):
    """numpy scalars / bytes → Python scalars / str (for info and ids)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _scalar(lookup, key, default, cast, name):
    value = lookup(key)
    if value is None:
        return default
    try:
        return cast(np.asarray(value).reshape(()))
    except (TypeError, ValueError) as e:
        raise StructureError(name, f"key {key!r} must be a single number, got {value!r}") from e


def _scalar_info(info: dict, used: set) -> dict:
    return {
        k: _plain(v)
        for k, v in info.items()
        if k not in used and isinstance(_plain(v), (str, int, float, bool))
    }


def _from_atoms(atoms, name: str, keys: KeyMap, sources: tuple, info: dict) -> Structure:
    """A Structure from ASE Atoms; labels looked up in `sources` (dicts) in order."""

    def lookup(key):
        for source in sources:
            if key in source:
                return source[key]
        return None

    n = len(atoms)
    used = {getattr(keys, f) for f in ("charge", "multiplicity", "mol_id", *LABEL_KEYS)}
    return Structure(
        atomic_numbers=atoms.numbers,
        positions=atoms.positions,
        cell=atoms.cell.array,
        pbc=atoms.pbc,
        name=name,
        mol_id=_mol_id(lookup, keys, atoms.get_chemical_formula),
        charge=_scalar(lookup, keys.charge, 0.0, float, name),
        multiplicity=_scalar(lookup, keys.multiplicity, 1, int, name),
        labels=_labels(lookup, keys, n, name),
        info=_scalar_info(info, used),
    )


# ----------------------------------------------------------------------------- extxyz


def _extxyz_items(path: Path, keys: KeyMap, index) -> Iterator[_Item]:
    frames = _split_xyz(path)  # [(first line (1-based), lines, problem or None)]
    for i in _select(len(frames), index):
        line, lines, problem = frames[i]
        name = f"{path.name}:{i}"
        yield (
            name,
            (
                lambda name=name, line=line, lines=lines, problem=problem: _xyz_frame(
                    path, name, line, lines, problem, keys
                )
            ),
        )


def _split_xyz(path: Path) -> list[tuple[int, list[str], str | None]]:
    """Cut the file into frames by their atom-count lines, without parsing them.

    A frame that cannot be delimited (bad count, file ends early) is kept with its problem
    and ends the split, since the next frame's start is unknown.
    """
    try:
        lines = path.read_text().splitlines(keepends=True)
    except (OSError, UnicodeDecodeError) as e:
        raise ReadError(path, f"cannot read text file: {e}") from e
    frames, i = [], 0
    while i < len(lines):
        if not lines[i].strip():  # blank lines between/after frames
            i += 1
            continue
        token = lines[i].split()[0]
        if not token.isdigit():
            frames.append(
                (i + 1, [], f"expected the number of atoms, found {lines[i].strip()[:60]!r}")
            )
            break
        n = int(token)
        if i + 2 + n > len(lines):
            frames.append(
                (
                    i + 1,
                    [],
                    f"file is truncated: frame of {n} atoms needs lines "
                    f"{i + 1}–{i + 2 + n}, file has {len(lines)} lines",
                )
            )
            break
        frames.append((i + 1, lines[i : i + 2 + n], None))
        i += 2 + n
    return frames


def _xyz_frame(path, name, line, lines, problem, keys) -> Structure:
    if problem:
        raise ReadError(path, problem, structure=name, line=line)
    try:
        atoms = ase.io.read(io.StringIO("".join(lines)), format="extxyz")
    except KeyError as e:  # ASE's symbol lookup
        raise ReadError(
            path, f"unknown element symbol {e.args[0]!r}", structure=name, line=line
        ) from e
    except Exception as e:  # noqa: BLE001 -- any parser failure is a malformed frame
        raise ReadError(
            path, f"malformed frame: {type(e).__name__}: {e}", structure=name, line=line
        ) from e
    results = atoms.calc.results if atoms.calc is not None else {}
    return _from_atoms(atoms, name, keys, (results, atoms.arrays, atoms.info), dict(atoms.info))


# ----------------------------------------------------------------------------- ASE db


def _db_items(path: Path, keys: KeyMap, index) -> Iterator[_Item]:
    import ase.db

    try:
        rows = list(
            ase.db.connect(str(path), type="db" if path.suffix != ".json" else "json").select()
        )
    except Exception as e:  # noqa: BLE001 -- sqlite/json errors of all kinds
        raise ReadError(path, f"cannot read ASE database: {type(e).__name__}: {e}") from e
    for i in _select(len(rows), index):
        name = f"{path.name}:{i}"
        yield name, (lambda row=rows[i], name=name: _db_row(path, row, name, keys))


def _db_row(path, row, name, keys) -> Structure:
    try:
        atoms = row.toatoms()
    except Exception as e:  # noqa: BLE001
        raise ReadError(
            path, f"cannot rebuild atoms: {type(e).__name__}: {e}", structure=name
        ) from e
    results = atoms.calc.results if atoms.calc is not None else {}
    kvp = dict(row.key_value_pairs)
    info = {**kvp, "db_id": row.id}
    return _from_atoms(atoms, name, keys, (results, dict(row.data), kvp), info)


# ----------------------------------------------------------------------------- ANI HDF5


def _h5py():
    import h5py

    return h5py


def _ani_items(path: Path, keys: KeyMap, index) -> Iterator[_Item]:
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ReadError(path, f"cannot open HDF5 file (corrupt or truncated?): {e}") from e
    with f:
        groups = _ani_groups(path, f)  # [(group path, n_conf)]
        flat = [(g, c) for g, n_conf in groups for c in range(n_conf)]
        cache: dict[str, dict] = {}
        for i in _select(len(flat), index):
            group, conf = flat[i]
            name = f"{path.name}:{group}:{conf}"
            yield (
                name,
                (
                    lambda g=group, c=conf, name=name: _ani_conformation(
                        path, f, g, c, name, keys, cache
                    )
                ),
            )


def _ani_groups(path, f) -> list[tuple[str, int]]:
    """Groups holding a `coordinates` dataset, in file order, with their conformation count."""
    found = []

    def visit(group_path, obj):
        if group_path.endswith("/coordinates") or group_path == "coordinates":
            found.append((group_path.rsplit("/", 1)[0] if "/" in group_path else "/", obj.shape))

    try:
        f.visititems(visit)
    except Exception as e:  # noqa: BLE001 -- corrupt HDF5 raises many kinds
        raise ReadError(path, f"cannot walk HDF5 groups (corrupt or truncated?): {e}") from e
    if not found:
        raise ReadError(path, "no ANI-layout group (a group with a 'coordinates' dataset) found")
    for group, shape in found:
        if len(shape) != 3 or shape[2] != 3:
            raise ReadError(
                path,
                f"'coordinates' has shape {shape}, expected [n_conf, n_atoms, 3]",
                structure=group,
            )
    return [(group, shape[0]) for group, shape in found]


def _ani_group_data(path, f, group, cache) -> dict[str, np.ndarray]:
    """All datasets of one group, loaded once (only the last group is kept)."""
    if group not in cache:
        cache.clear()
        try:
            g = f[group]
            cache[group] = {k: v[()] for k, v in g.items() if hasattr(v, "shape")}
        except Exception as e:  # noqa: BLE001
            raise ReadError(
                path, f"cannot read group (corrupt or truncated?): {e}", structure=group
            ) from e
    return cache[group]


def _ani_conformation(path, f, group, conf, name, keys: KeyMap, cache) -> Structure:
    data = _ani_group_data(path, f, group, cache)
    numbers = _ani_numbers(data, name)
    n, n_conf = len(numbers), data["coordinates"].shape[0]

    def lookup(key):
        if key not in data:
            return None
        arr = data[key]
        if arr.ndim == 0 or arr.shape[0] != n_conf:
            raise StructureError(
                name,
                f"key {key!r} has shape {arr.shape}, expected {n_conf} "
                "conformations along its first axis",
            )
        value = arr[conf]
        if key == keys.dft_charges and value.shape == (n + 1,):
            value = value[:n]  # ANI/COMP6 charge arrays carry one trailing extra entry
        return value

    lot = data.get("lot")
    info = {"group": group, "conformer": conf}
    if lot is not None and np.asarray(lot).size:
        info["level_of_theory"] = _plain(np.asarray(lot).reshape(-1)[0])
    return Structure(
        atomic_numbers=numbers,
        positions=np.asarray(data["coordinates"][conf], np.float64),
        name=name,
        mol_id=group,
        charge=_scalar(lookup, keys.charge, 0.0, float, name),
        multiplicity=_scalar(lookup, keys.multiplicity, 1, int, name),
        labels=_labels(lookup, keys, n, name),
        info=info,
    )


def _ani_numbers(data, name) -> np.ndarray:
    species = data.get("species", data.get("atomic_numbers"))
    if species is None:
        raise StructureError(name, "no 'species' or 'atomic_numbers' dataset in the group")
    species = np.asarray(species).reshape(-1)
    if species.dtype.kind in "iu":
        return species.astype(np.int64)
    numbers = []
    for i, s in enumerate(species):
        symbol = _plain(s).strip()
        if symbol not in ase.data.atomic_numbers:
            raise StructureError(name, f"unknown element symbol {symbol!r} at atom {i}")
        numbers.append(ase.data.atomic_numbers[symbol])
    return np.array(numbers, np.int64)


# ----------------------------------------------------------------------------- orbjax files


def _orbjax_items(path: Path, keys: KeyMap, index) -> Iterator[_Item]:
    from orbjax.data.dataset import read_dataset  # written alongside; imported on use

    try:
        structures, _ = read_dataset(path)
    except StructureError:
        raise
    except Exception as e:  # noqa: BLE001
        if getattr(e, "index", None) is None:  # the file itself is bad
            raise ReadError(path, f"cannot read orbjax dataset: {type(e).__name__}: {e}") from e
        yield from _orbjax_items_one_by_one(path, index)  # one structure is bad: keep the others
        return
    for i in _select(len(structures), index):
        s = structures[i]
        yield s.name, (lambda s=s: s)


def _orbjax_items_one_by_one(path: Path, index) -> Iterator[_Item]:
    from orbjax.data.dataset import dataset_items

    items, _ = dataset_items(path)
    for i in _select(len(items), index):
        name, build = items[i]
        yield name, (lambda name=name, build=build: _build_orbjax(path, name, build))


def _build_orbjax(path: Path, name: str, build) -> Structure:
    try:
        return build()
    except ValueError as e:  # DatasetError naming the structure, usually from a StructureError
        cause = e.__cause__
        problem = (
            cause.problem if isinstance(cause, StructureError) else getattr(e, "problem", str(e))
        )
        raise ReadError(path, problem, structure=name) from e
