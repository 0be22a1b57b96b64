"""A trained model as one portable file (``.orbjax``): read and write.

Why a file of its own: a workdir holds orbax checkpoints with the optimiser state and two
or three copies of everything (~6 MB for the default model), and reading one needs the
training code's optimiser. A model file holds only what a potential needs, and it is data:
reading it parses JSON and copies numbers, it never unpickles or executes anything.

Layout (all integers little-endian)::

    offset  size  content
    0       8     magic b"ORBJAXM\\0"
    8       4     uint32 format version (FORMAT_VERSION)
    12      4     uint32 reserved, 0
    16      8     uint64 n_json: length of the JSON header in bytes
    24      8     uint64 n_data: length of the parameter bytes
    32      n_json  JSON header, UTF-8 (see below)
    ...     n_data  parameter arrays, raw little-endian, back to back, in header order
    end-32  32    SHA-256 of every byte before it

The JSON header has ``arrays`` (one entry per array: ``path`` (list of dict keys),
``dtype`` (numpy string, e.g. "<f4"), ``shape``, ``offset`` and ``nbytes`` into the
parameter bytes), ``config`` (the training config as JSON text), ``statistics``
(`Statistics.to_json()`), ``species``/``elements``, ``levels``, ``units``, ``step``,
``checkpoint``, ``orbjax_version`` and ``versions`` (jax, jaxlib, flax, e3nn-jax, numpy at
export).

Format 2 (written now) stores the model's variables: the parameters under paths
["params", ...] in their trained dtype and the dataset statistics the model reads under
["statistics", ...] in float64 (`Statistics.arrays`). Format 1 (read only) stored the
parameters alone; its statistics are rebuilt from the header's JSON, which holds the same
numbers. A file of an unknown format version, a truncated file, and a file whose bytes do
not match its checksum are refused with `ModelFileError` naming the file and the problem.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import struct
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"ORBJAXM\0"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
_FIXED = struct.Struct("<8sIIQQ")  # magic, version, reserved, n_json, n_data: 32 bytes
_DIGEST = 32  # bytes of SHA-256
# Parameter dtypes a file may hold: plain numbers only (an object dtype could unpickle).
_KINDS = "fiub"
UNITS = {
    "positions": "Å",
    "cell": "Å",
    "energy": "eV",
    "forces": "eV/Å",
    "stress": "eV/Å³",
    "charges": "e",
    "dipole": "e·Å",
}
_DEPENDENCIES = ("jax", "jaxlib", "flax", "e3nn-jax", "numpy")


class ModelFileError(ValueError):
    """A model file that cannot be used: its message names the file and the problem."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = str(path), problem


@dataclasses.dataclass(frozen=True)
class ModelFile:
    """What a model file holds.

    Attributes:
      params: nested dict of numpy arrays, the EMA parameters (Flax layout) and, in format
        2, the "statistics" collection: {"params": ..., "statistics": ...}.
      config: the training config (plain dict, as `ConfigDict.to_json()` wrote it).
      statistics: `Statistics.to_json()` text (species, E0s, scales).
      header: the whole JSON header (versions, units, step, elements, ...).
    """

    params: dict
    config: dict
    statistics: str
    header: dict

    @property
    def step(self) -> int:
        return int(self.header.get("step", -1))

    @property
    def version(self) -> int:
        return int(self.header.get("format_version", 1))


# ----------------------------------------------------------------------------- writing


def write_model_file(path, params, config_json: str, statistics_json: str, **extra: Any) -> Path:
    """Write a model file atomically (temp file + rename); returns its path.

    Args:
      params: the model's variables, {"params": ..., "statistics": ...} (Flax layout),
        nested dicts of arrays, each stored in its own dtype.
      config_json: the training config as JSON text (`ConfigDict.to_json()`).
      statistics_json: `Statistics.to_json()`.
      extra: further JSON-able header fields (e.g. step, checkpoint, source).
    """
    path = Path(path)
    arrays, blobs, offset = [], [], 0
    for keys, value in _flatten(params):
        a = np.asarray(value, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
        a = a.astype(a.dtype.newbyteorder("<"))  # little-endian on every machine
        arrays.append(
            {
                "path": keys,
                "dtype": a.dtype.str,
                "shape": list(a.shape),
                "offset": offset,
                "nbytes": a.nbytes,
            }
        )
        blobs.append(a.tobytes())
        offset += a.nbytes
    if "statistics" not in params:
        raise ValueError(
            "a model file holds the model's variables: {'params': ..., 'statistics': ...}"
        )
    stats = json.loads(statistics_json)
    species = stats["species"]
    header = {
        "format_version": FORMAT_VERSION,
        **_versions(),
        "config": config_json,
        "statistics": statistics_json,
        "species": species,
        "elements": _symbols(species),
        "levels": stats.get("levels", ["dft"]),
        "units": UNITS,
        "n_params": int(sum(int(np.prod(a["shape"])) for a in arrays if a["path"][0] == "params")),
        **extra,
        "arrays": arrays,
    }
    text = json.dumps(header, ensure_ascii=False).encode("utf-8")
    body = _FIXED.pack(MAGIC, FORMAT_VERSION, 0, len(text), offset) + text + b"".join(blobs)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(body + hashlib.sha256(body).digest())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _flatten(tree, prefix=()) -> list[tuple[list[str], Any]]:
    """[(key path, leaf)] of a tree of string-keyed mappings, in sorted key order."""
    if not isinstance(tree, Mapping):
        return [(list(prefix), tree)]
    out = []
    for key in sorted(tree):
        if not isinstance(key, str):
            raise TypeError(
                f"parameter tree keys must be strings, found {key!r} under {list(prefix)}"
            )
        out += _flatten(tree[key], prefix + (key,))
    return out


def _versions() -> dict:
    from orbjax._version import __version__

    found = {}
    for name in _DEPENDENCIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return {"orbjax_version": __version__, "versions": found}


def _symbols(species) -> list[str]:
    from ase.data import chemical_symbols

    return [chemical_symbols[z] for z in species]


# ----------------------------------------------------------------------------- reading


def read_model_file(path) -> ModelFile:
    """Read and check a model file; raise `ModelFileError` if it is not one this code reads."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ModelFileError(path, f"cannot read the file: {err.strerror or err}") from err
    n_json, n_data = _check_frame(path, raw)
    try:
        header = json.loads(raw[_FIXED.size : _FIXED.size + n_json].decode("utf-8"))
        params = _unflatten(
            path, header["arrays"], raw[_FIXED.size + n_json : _FIXED.size + n_json + n_data]
        )
        return ModelFile(params, json.loads(header["config"]), header["statistics"], header)
    except (ValueError, KeyError, TypeError) as err:  # checksum matched: written wrong, not damaged
        raise ModelFileError(path, f"malformed header: {type(err).__name__}: {err}") from err


def _check_frame(path: Path, raw: bytes) -> tuple[int, int]:
    """Magic, version, length and checksum; returns (n_json, n_data)."""
    if len(raw) < _FIXED.size:
        if not MAGIC.startswith(raw[: len(MAGIC)]):
            raise ModelFileError(path, "not an orbjax model file (wrong magic bytes)")
        raise ModelFileError(
            path, f"file is truncated: {len(raw)} bytes, shorter than the {_FIXED.size}-byte header"
        )
    magic, version, _, n_json, n_data = _FIXED.unpack_from(raw)
    if magic != MAGIC:
        raise ModelFileError(path, "not an orbjax model file (wrong magic bytes)")
    if version not in READABLE_VERSIONS:
        raise ModelFileError(
            path,
            f"model file format version {version}; this orbjax reads versions "
            f"{READABLE_VERSIONS} (export the model again with a matching orbjax)",
        )
    expected = _FIXED.size + n_json + n_data + _DIGEST
    if len(raw) < expected:
        raise ModelFileError(
            path, f"file is truncated: {len(raw)} bytes, the header announces {expected}"
        )
    if len(raw) > expected:
        raise ModelFileError(
            path, f"{len(raw) - expected} unexpected bytes after the end of the model"
        )
    if hashlib.sha256(raw[:-_DIGEST]).digest() != raw[-_DIGEST:]:
        raise ModelFileError(
            path, "checksum mismatch: the file is damaged or was modified (SHA-256 differs)"
        )
    return n_json, n_data


def _unflatten(path: Path, arrays: list[dict], data: bytes) -> dict:
    """Nested dict of numpy arrays from the header's array table and the parameter bytes."""
    tree: dict = {}
    for entry in arrays:
        dtype = np.dtype(entry["dtype"])
        if dtype.kind not in _KINDS:
            raise ModelFileError(
                path, f"parameter {entry['path']} has dtype {dtype}; only numbers are allowed"
            )
        start, nbytes = int(entry["offset"]), int(entry["nbytes"])
        if start < 0 or start + nbytes > len(data):
            raise ModelFileError(
                path, f"parameter {entry['path']} lies outside the parameter bytes"
            )
        value = np.frombuffer(data[start : start + nbytes], dtype).reshape(entry["shape"])
        node = tree
        for key in entry["path"][:-1]:
            node = node.setdefault(key, {})
        # native order, writable copy
        node[entry["path"][-1]] = value.astype(dtype.newbyteorder("="))
    return tree


def is_model_file(path) -> bool:
    """True if `path` is a file that starts with the model-file magic bytes."""
    path = Path(path)
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        return f.read(len(MAGIC)) == MAGIC
