"""The labelled-dataset file: many `Structure`s with their labels in one HDF5 file.

Flat layout, so that a loader reads a handful of large arrays instead of one group per
structure:

    /structures/  n_atoms, n_shells, n_orbitals [S] int; cell [S,3,3] Å; pbc [S,3];
                  charge [S] e; multiplicity [S]; name, mol_id, info (JSON) [S] str;
                  has_mol_id [S] bool
    /atoms/       atomic_numbers [A]; positions [A,3] Å        (A = Σ n_atoms)
    /labels/<key> [S,...] | [A,...] | [Σ n_shells] | [Σ n_orbitals]
                  attrs: kind ("structure" | "atom" | "shell" | "orbital"), unit
    /present/<key> [S] bool: which structures carry the label

A label missing from some structures is stored as NaN there (−1 for integer labels) and
flagged in /present, so reading gives back exactly the labels each structure had.
File attributes: ``orbjax_format`` (int), ``method``, ``tblite_version``,
``orbital_order``, ``units``, plus whatever the writer passed.
"""

from __future__ import annotations

import functools
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np

from orbjax.data.structures import LABEL_SHAPES, Structure, StructureError
from orbjax.orbitals import ORBITAL_ORDER

FORMAT_VERSION = 1
UNITS = (
    "positions/cell: Å; energy: eV; forces: eV/Å; stress: eV/Å³; dipole: e·Å; "
    "charges/populations: e"
)
KINDS = ("structure", "atom", "shell", "orbital")
_KIND_OF_DIM = {"n": "atom", "s": "shell", "o": "orbital"}
_UNIT_OF_SUFFIX = {
    "energy": "eV",
    "forces": "eV/Å",
    "stress": "eV/Å³",
    "dipole": "e·Å",
    "charges": "e",
    "populations": "e",
}


class DatasetError(ValueError):
    """A dataset file that cannot be read: the message names the file and the problem.

    `index` is the structure at fault when only one structure is bad (None: the file).
    """

    def __init__(self, path, problem: str, index: int | None = None):
        super().__init__(f"dataset {str(path)!r}: {problem}")
        self.path = str(path)
        self.problem = problem
        self.index = index


# ----------------------------------------------------------------------------- writing
def write_dataset(
    path: str | os.PathLike,
    structures: list[Structure],
    attrs: dict[str, Any] | None = None,
    compact: bool = False,
) -> None:
    """Write `structures` to `path` atomically (temp file in the same folder + os.replace).

    `attrs` are stored as file attributes (str, numbers, bools or numpy arrays); ``method``,
    ``tblite_version``, ``orbital_order`` and ``units`` get defaults when absent.
    ``compact=True`` stores positions and per-atom, -shell and -orbital float labels as
    float32, gzip-compressed (large pretraining sets: ~4× smaller; float32 positions move
    an energy by < 10⁻⁶ eV); per-structure labels (total energies) stay float64. Readers
    give float32 labels back as float32.
    """
    path = Path(path)
    file_attrs = {
        "method": "",
        "tblite_version": _tblite_version(),
        "orbital_order": ORBITAL_ORDER,
        "units": UNITS,
    }
    file_attrs.update(attrs or {})
    file_attrs["orbjax_format"] = FORMAT_VERSION
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            for key, value in file_attrs.items():
                f.attrs[key] = value
            _write_structures(f, structures, compact)
            _write_labels(f, structures, compact)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _put(
    group: h5py.Group, name: str, data: np.ndarray, compact: bool, keep_float64: bool = False
) -> h5py.Dataset:
    """group[name] = data; compact: float64 → float32 (unless `keep_float64`) and gzip."""
    data = np.asarray(data)
    if not compact:
        return group.create_dataset(name, data=data)
    if data.dtype == np.float64 and not keep_float64:
        data = data.astype(np.float32)
    chunked = dict(compression="gzip", compression_opts=4, shuffle=True) if data.size else {}
    return group.create_dataset(name, data=data, **chunked)


def _write_structures(f: h5py.File, structures: list[Structure], compact: bool = False) -> None:
    text = h5py.string_dtype()
    g = f.create_group("structures")
    g["n_atoms"] = np.array([s.n_atoms for s in structures], np.int64)
    g["n_shells"] = np.array([_segment_length(s, "shell") for s in structures], np.int64)
    g["n_orbitals"] = np.array([_segment_length(s, "orbital") for s in structures], np.int64)
    g["cell"] = np.array([s.cell for s in structures], np.float64).reshape(-1, 3, 3)
    g["pbc"] = np.array([s.pbc for s in structures], bool).reshape(-1, 3)
    g["charge"] = np.array([s.charge for s in structures], np.float64)
    g["multiplicity"] = np.array([s.multiplicity for s in structures], np.int64)
    g.create_dataset("name", data=[s.name for s in structures], dtype=text)
    g.create_dataset(
        "mol_id", data=["" if s.mol_id is None else str(s.mol_id) for s in structures], dtype=text
    )
    g["has_mol_id"] = np.array([s.mol_id is not None for s in structures], bool)
    g.create_dataset(
        "info", data=[json.dumps(s.info, default=_json_default) for s in structures], dtype=text
    )
    a = f.create_group("atoms")
    _put(
        a,
        "atomic_numbers",
        np.concatenate([s.atomic_numbers for s in structures] or [np.zeros(0, np.int64)]),
        compact,
    )
    _put(
        a,
        "positions",
        np.concatenate([s.positions for s in structures] or [np.zeros((0, 3))]),
        compact,
    )


def _write_labels(f: h5py.File, structures: list[Structure], compact: bool = False) -> None:
    labels, present = f.create_group("labels"), f.create_group("present")
    keys = sorted({k for s in structures for k in s.labels})
    for key in keys:
        kind = label_kind(key, structures)
        values = [s.labels.get(key) for s in structures]
        data = _concatenate(key, kind, values, structures)
        # totals: 10⁴ eV to the μeV
        ds = _put(labels, key, data, compact, keep_float64=kind == "structure")
        ds.attrs["kind"] = kind
        ds.attrs["unit"] = label_unit(key, data.dtype)
        present[key] = np.array([v is not None for v in values], bool)


def _concatenate(key: str, kind: str, values: list, structures: list[Structure]) -> np.ndarray:
    """Stack per-structure values of one label, filling absent ones with NaN / −1."""
    given = [np.asarray(v) for v in values if v is not None]
    if any(v.dtype.kind not in "fiub" for v in given):
        raise ValueError(
            f"label {key!r}: only numeric labels can be written, got dtype {given[0].dtype}"
        )
    is_float = any(v.dtype.kind == "f" for v in given)
    dtype, fill = (np.float64, np.nan) if is_float else (np.int64, -1)
    lead = 0 if kind == "structure" else 1
    trailing = {v.shape[lead:] for v in given}
    if len(trailing) > 1:
        raise ValueError(
            f"label {key!r} ({kind}) has inconsistent shapes across structures: {sorted(trailing)}"
        )
    tail = trailing.pop()
    blocks = []
    for s, v in zip(structures, values):
        rows = None if kind == "structure" else _segment_length(s, kind)
        if v is None:
            blocks.append(np.full((1 if rows is None else rows, *tail), fill, dtype))
        elif rows is not None and len(v) != rows:
            raise ValueError(
                f"structure {s.name!r}: label {key!r} has {len(v)} rows, expected {rows} ({kind})"
            )
        else:
            blocks.append(np.asarray(v, dtype).reshape(-1, *tail))
    return np.concatenate(blocks) if blocks else np.zeros((0, *tail), dtype)


def label_kind(key: str, structures: list[Structure]) -> str:
    """structure / atom / shell / orbital: from `LABEL_SHAPES`, else atom if the leading
    dimension is n_atoms in every structure carrying the label."""
    spec = LABEL_SHAPES.get(key)
    if spec is not None:
        return _KIND_OF_DIM.get(spec[0], "structure") if spec else "structure"
    carriers = [s for s in structures if key in s.labels]
    if all(s.labels[key].ndim >= 1 and len(s.labels[key]) == s.n_atoms for s in carriers):
        return "atom"
    return "structure"


def label_unit(key: str, dtype: np.dtype) -> str:
    if np.dtype(dtype).kind in "iub":
        return "1"
    for suffix, unit in _UNIT_OF_SUFFIX.items():
        if key.endswith(suffix):
            return unit
    return "unknown"


def _segment_length(s: Structure, kind: str) -> int:
    """Rows this structure contributes to labels of `kind` (0 if it has none of them)."""
    if kind == "atom":
        return s.n_atoms
    lengths = {
        len(v)
        for k, v in s.labels.items()
        if _KIND_OF_DIM.get((LABEL_SHAPES.get(k) or ("",))[0]) == kind
    }
    if len(lengths) > 1:
        raise ValueError(
            f"structure {s.name!r}: {kind} labels disagree on the number of {kind}s: "
            f"{sorted(lengths)}"
        )
    return lengths.pop() if lengths else 0


# ----------------------------------------------------------------------------- reading
def read_dataset(path: str | os.PathLike) -> tuple[list[Structure], dict[str, Any]]:
    """Read a file written by `write_dataset`: (structures with their labels, file attrs).

    Raises:
      DatasetError: not HDF5, truncated, not an orbjax dataset, newer format, missing
        arrays, array lengths that do not add up, or a structure that fails validation
        (the message names file and problem; ``index`` names the structure).
    """
    items, attrs = dataset_items(path)
    return [build() for _, build in items], attrs


def dataset_items(
    path: str | os.PathLike,
) -> tuple[list[tuple[str, Callable[[], Structure]]], dict[str, Any]]:
    """([(structure name, builder)], file attrs): the file's arrays are read and checked
    now, each `Structure` is built (and validated) by its builder, so that a reader can
    skip one bad structure and keep the rest. Builders raise `DatasetError` with ``index``."""
    arrays, attrs = read_arrays(path)
    st = arrays["structures"]
    offsets = {kind: _offsets(st[f"n_{kind}s"]) for kind in ("atom", "shell", "orbital")}
    items = [
        (str(st["name"][i]), functools.partial(_build_structure, path, arrays, offsets, i))
        for i in range(len(st["n_atoms"]))
    ]
    return items, attrs


def _build_structure(path, arrays: dict, offsets: dict, i: int) -> Structure:
    st, at = arrays["structures"], arrays["atoms"]
    labels = {}
    for key, (data, kind) in arrays["labels"].items():
        if arrays["present"][key][i]:
            if kind == "structure":
                labels[key] = data[i]
            else:
                labels[key] = data[offsets[kind][i] : offsets[kind][i + 1]]
    a, b = offsets["atom"][i], offsets["atom"][i + 1]
    try:
        return Structure(
            atomic_numbers=at["atomic_numbers"][a:b],
            positions=at["positions"][a:b],
            cell=st["cell"][i],
            pbc=st["pbc"][i],
            name=st["name"][i],
            mol_id=st["mol_id"][i] if st["has_mol_id"][i] else None,
            charge=float(st["charge"][i]),
            multiplicity=int(st["multiplicity"][i]),
            labels=labels,
            info=json.loads(st["info"][i]),
        )
    except (StructureError, json.JSONDecodeError) as err:
        raise DatasetError(path, f"structure {i}: {err}", index=i) from err


def read_arrays(path: str | os.PathLike) -> tuple[dict[str, dict], dict[str, Any]]:
    """The flat arrays of a dataset file, checked for consistency, without building Structures.

    Returns ({"structures": {...}, "atoms": {...}, "labels": {key: (array, kind)},
    "present": {key: bool [S]}}, file attrs). Use for fast loaders of large files.
    """
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: _py(v) for k, v in f.attrs.items()}
            _check_format(path, attrs)
            arrays = {
                "structures": {k: _read(ds) for k, ds in _group(path, f, "structures").items()},
                "atoms": {k: _read(ds) for k, ds in _group(path, f, "atoms").items()},
                "labels": {
                    k: (ds[()], str(ds.attrs.get("kind", "")))
                    for k, ds in _group(path, f, "labels").items()
                },
                "present": {k: ds[()] for k, ds in _group(path, f, "present").items()},
            }
    except OSError as err:
        raise DatasetError(
            path, f"cannot read as HDF5 ({err}); the file may be truncated or not a dataset"
        ) from err
    _check_lengths(path, arrays)
    return arrays, attrs


def _check_format(path, attrs: dict) -> None:
    version = attrs.get("orbjax_format")
    if version is None:
        raise DatasetError(path, "not an orbjax dataset (no 'orbjax_format' attribute)")
    if int(version) > FORMAT_VERSION:
        raise DatasetError(
            path, f"format version {version} is newer than this orbjax reads ({FORMAT_VERSION})"
        )


def _group(path, f: h5py.File, name: str) -> h5py.Group:
    if name not in f:
        raise DatasetError(path, f"missing group '/{name}'")
    return f[name]


def _read(ds: h5py.Dataset) -> np.ndarray:
    return ds.asstr()[()] if h5py.check_string_dtype(ds.dtype) else ds[()]


_STRUCTURE_KEYS = (
    "n_atoms",
    "n_shells",
    "n_orbitals",
    "cell",
    "pbc",
    "charge",
    "multiplicity",
    "name",
    "mol_id",
    "has_mol_id",
    "info",
)


def _check_lengths(path, arrays: dict) -> None:
    st, at = arrays["structures"], arrays["atoms"]
    for key in _STRUCTURE_KEYS:
        if key not in st:
            raise DatasetError(path, f"missing array '/structures/{key}'")
    for key in ("atomic_numbers", "positions"):
        if key not in at:
            raise DatasetError(path, f"missing array '/atoms/{key}'")
    n = len(st["n_atoms"])
    expected = {"structure": n}
    for kind, counts in [("atom", "n_atoms"), ("shell", "n_shells"), ("orbital", "n_orbitals")]:
        if (st[counts] < 0).any():
            raise DatasetError(path, f"negative entries in '/structures/{counts}'")
        expected[kind] = int(st[counts].sum())
    for key in _STRUCTURE_KEYS:
        if len(st[key]) != n:
            raise DatasetError(
                path, f"'/structures/{key}' has {len(st[key])} entries, expected {n} structures"
            )
    for key, value in at.items():
        if len(value) != expected["atom"]:
            raise DatasetError(
                path,
                f"'/atoms/{key}' has {len(value)} rows, but n_atoms sums to {expected['atom']}",
            )
    for key, (data, kind) in arrays["labels"].items():
        if kind not in KINDS:
            raise DatasetError(path, f"label '{key}' has unknown kind {kind!r}")
        if len(data) != expected[kind]:
            raise DatasetError(
                path, f"label '{key}' ({kind}) has {len(data)} rows, expected {expected[kind]}"
            )
        if key not in arrays["present"] or len(arrays["present"][key]) != n:
            raise DatasetError(path, f"'/present/{key}' missing or not of length {n}")


def _offsets(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)])


def _py(value):
    if isinstance(value, bytes):
        return value.decode()
    return value.item() if isinstance(value, np.generic) else value


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _tblite_version() -> str:
    try:
        return metadata.version("tblite")
    except metadata.PackageNotFoundError:
        return ""
