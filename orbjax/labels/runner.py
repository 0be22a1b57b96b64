"""Label many structures with xTB: one process per core, resumable, failures kept aside.

Files beside the output ``OUT``:

- ``OUT.parts/part-*.npz``: finished chunks, each written atomically by the parent process.
  A job killed at any moment (kill -9, wall-time limit) and started again with the same
  input labels only the structures that no part holds, so each structure is labelled
  exactly once. Parts are matched to the input by index *and* a fingerprint of the
  structure, so resuming with a different input fails loudly instead of mixing results.
- ``OUT.failures.jsonl``: one JSON line per structure that could not be labelled
  (``index``, ``name``, ``reason``), appended as the job goes and rewritten complete and
  sorted by index at the end. ``index`` is the structure's position in the input file
  (`source_indices`), counting the frames the reader rejected (``unreadable``), which are
  failures like any other (``"index": null`` when the caller did not say where they were).

At the end the parts are merged with the input structures (their own labels, e.g. DFT
energy and forces, are kept beside the xtb_* labels) into ``OUT`` with `write_dataset`, and
the parts folder is removed. ``OUT`` records a key of its input (fingerprints, positions,
unreadable frames, method, options): running the finished job again is a no-op. Only one
job may work on one ``OUT`` at a time.

Atoms closer than `CLOSE_FACTOR` × the sum of their covalent radii (two H at 0.15 Å pass
the 0.1 Å overlap check of `Structure` but give forces of ~10³ eV/Å) are warned about
(`CloseAtomsWarning`), or recorded as failures with ``close_atoms="refuse"``.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import json
import multiprocessing
import os
import shutil
import threading
import time
import uuid
import warnings
import zipfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from orbjax.data.dataset import write_dataset
from orbjax.data.neighbours import neighbour_list
from orbjax.data.structures import MIN_DISTANCE, Structure, StructureError
from orbjax.labels.xtb import METHODS, check_electronic_temperature, label_structure

# Set in every worker before tblite (and its OpenMP runtime) loads: one core, one thread.
_SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
OUTPUT_SUFFIXES = (".h5", ".hdf5")  # the output is always an orbjax HDF5 dataset
CLOSE_FACTOR = 0.5  # × (r_cov,i + r_cov,j): closer pairs are warned about or refused
CLOSE_ATOMS = ("warn", "refuse")
# metadata value for electronic_temperature=None
TBLITE_DEFAULT_TEMPERATURE = "tblite default (300 K)"
CELL_AS_GIVEN = "none (cells labelled as given)"  # metadata value for min_cell_length=None


class CloseAtomsWarning(UserWarning):
    """A structure has atoms closer than `CLOSE_FACTOR` × the sum of their covalent radii."""


@dataclasses.dataclass
class LabelReport:
    """What a labelling job did.

    Attributes:
      n_structures: structures in the input, the unreadable ones included.
      n_labelled: structures written to the output with xtb labels.
      n_failed: structures that could not be labelled or read (see `failures_path`).
      n_computed: structures labelled by this call (the rest came from earlier parts).
      out_path, failures_path: the output dataset and the failure log.
      seconds: wall time of this call.
      n_unreadable: structures of the input file that could not even be read (in n_failed).
      already_done: the output already held this job's result; nothing was done.
    """

    n_structures: int
    n_labelled: int
    n_failed: int
    n_computed: int
    out_path: Path
    failures_path: Path
    seconds: float
    n_unreadable: int = 0
    already_done: bool = False


@dataclasses.dataclass
class _Done:
    """Result for one structure: labels, or the reason it failed."""

    labels: dict[str, np.ndarray] | None
    name: str
    reason: str | None = None


def label_structures(
    structures: list[Structure],
    out_path: str | os.PathLike,
    method: str = "GFN1-xTB",
    n_workers: int | None = None,
    orbitals: bool = True,
    chunk_size: int = 8,
    progress: bool = True,
    unreadable: Sequence[tuple] = (),
    source_indices: Sequence[int] | None = None,
    close_atoms: str = "warn",
    electronic_temperature: float | None = None,
    min_cell_length: float | None = None,
) -> LabelReport:
    """Label `structures` with tblite in parallel and write the labelled dataset to `out_path`.

    Args:
      structures: input structures (their labels are kept).
      out_path: output dataset (orbjax HDF5, ``.h5``/``.hdf5``; see `orbjax.data.dataset`).
      method: "GFN1-xTB" or "GFN2-xTB" (the latter needs ``orbitals=False``).
      n_workers: processes, default one per available core.
      orbitals: also extract orbital / shell populations (GFN1 only).
      chunk_size: structures per task and per part file; the most work a kill can lose
        per worker.
      progress: show a tqdm progress bar.
      unreadable: input structures the reader rejected, as (index, name, reason) or
        (name, reason) (see `orbjax.data.readers.read_structures_numbered`); they are failures,
            logged with
        their index (or ``"index": null``), so every structure of the input is accounted for.
      source_indices: each structure's position in the input file (default 0, 1, ...):
        the ``index`` of its failure and its ``info["source_index"]``.
      close_atoms: "warn" about atoms closer than `CLOSE_FACTOR` × their covalent radii, or
        "refuse" them (recorded as failures).
      electronic_temperature: Fermi smearing of tblite's occupations in kelvin; None keeps
        tblite's default (300 K). Recorded in the output's metadata as
        ``electronic_temperature_K`` (``"tblite default (300 K)"`` when None) and part of
        the job key, so a finished job relabelled at another temperature is recomputed.
      min_cell_length: label each periodic cell as a supercell at least this many Å wide
        in every periodic direction and fold the labels back (see `label_structure`);
        None: cells as given. Recorded as ``min_cell_length_A`` and in the job key.
    """
    _check_arguments(out_path, method, orbitals, close_atoms)
    kelvin = check_electronic_temperature(electronic_temperature)
    if min_cell_length is not None:
        min_cell_length = float(min_cell_length)
        if not np.isfinite(min_cell_length) or min_cell_length <= 0:
            raise ValueError(
                f"min_cell_length must be a positive number of Å, not {min_cell_length!r}"
            )
    options = {
        k: v
        for k, v in (("electronic_temperature", kelvin), ("min_cell_length", min_cell_length))
        if v is not None
    }  # xtb options that differ from the defaults
    start = time.perf_counter()
    out = Path(out_path)
    parts, failures = _parts_dir(out), out.with_name(out.name + ".failures.jsonl")
    positions = _positions(structures, source_indices)
    unreadable = _numbered(unreadable)
    fingerprints = [structure_fingerprint(s) for s in structures]
    key = _job_key(fingerprints, positions, unreadable, method, orbitals, close_atoms, options)
    if not parts.exists() and _finished(out, key):
        return _already_done(
            out, failures, len(structures) + len(unreadable), len(unreadable), start
        )
    refused = _close_atom_failures(structures, positions, refuse=close_atoms == "refuse")
    if not parts.exists():
        failures.unlink(missing_ok=True)  # a fresh job: forget failures of an older one
        parts.mkdir(parents=True)
        _append_lines(failures, _unreadable_lines(unreadable) + _failure_lines(refused, positions))
    done = _load_parts(parts, fingerprints, method, orbitals, options)
    done.update({i: r for i, r in refused.items() if i not in done})
    todo = [i for i in range(len(structures)) if i not in done]
    chunks = [todo[k : k + chunk_size] for k in range(0, len(todo), chunk_size)]
    for result in _run_chunks(
        structures, chunks, method, orbitals, n_workers, progress, len(done), options
    ):
        _write_part(parts, result, fingerprints, method, orbitals, options)
        _append_failures(failures, result, positions)
        done.update(result)
    labelled = _merge(structures, done, positions)
    _rewrite_failures(failures, done, unreadable, positions)
    n_total, n_failed = (
        len(structures) + len(unreadable),
        len(structures) + len(unreadable) - len(labelled),
    )
    write_dataset(
        out,
        labelled,
        {
            "method": method,
            "orbitals": bool(orbitals),
            "n_failed": n_failed,
            "n_structures": n_total,
            "n_labelled": len(labelled),
            "failures_file": failures.name,
            "input_key": key,
            "electronic_temperature_K": TBLITE_DEFAULT_TEMPERATURE if kelvin is None else kelvin,
            "min_cell_length_A": CELL_AS_GIVEN if min_cell_length is None else min_cell_length,
        },
    )
    shutil.rmtree(parts)
    return LabelReport(
        n_structures=n_total,
        n_labelled=len(labelled),
        n_failed=n_failed,
        n_computed=len(todo),
        out_path=out,
        failures_path=failures,
        seconds=time.perf_counter() - start,
        n_unreadable=len(unreadable),
    )


def check_output_name(out_path) -> None:
    """Refuse an output name that says another format: the output is always HDF5."""
    if Path(out_path).suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(
            f"{out_path}: the labelled dataset is written as orbjax HDF5; name the output "
            f"*.h5 or *.hdf5 (other formats, e.g. extxyz, are not written)"
        )


def _check_arguments(out_path, method: str, orbitals: bool, close_atoms: str) -> None:
    check_output_name(out_path)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if orbitals and method != "GFN1-xTB":
        raise ValueError(
            f"orbital populations are GFN1-xTB labels; use orbitals=False with {method}"
        )
    if close_atoms not in CLOSE_ATOMS:
        raise ValueError(f"close_atoms must be one of {CLOSE_ATOMS}, not {close_atoms!r}")


def _positions(structures, source_indices) -> list[int]:
    if source_indices is None:
        return list(range(len(structures)))
    if len(source_indices) != len(structures):
        raise ValueError(f"{len(source_indices)} source_indices for {len(structures)} structures")
    return [int(i) for i in source_indices]


def _numbered(unreadable) -> list[tuple[int | None, str, str]]:
    """Unreadable entries as (index or None, name, reason)."""
    return [
        (None, *u) if len(u) == 2 else (None if u[0] is None else int(u[0]), u[1], u[2])
        for u in unreadable
    ]


def structure_fingerprint(s: Structure) -> str:
    """Short hash of what determines the xTB result (elements, geometry, charge, spin)."""
    h = hashlib.sha1()
    for array in (
        s.atomic_numbers.astype(np.int64),
        np.round(s.positions, 8),
        np.round(s.cell, 8),
        s.pbc,
    ):
        h.update(np.ascontiguousarray(array).tobytes())
    h.update(f"{s.charge:g} {s.multiplicity}".encode())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- workers
def _run_chunks(
    structures, chunks, method, orbitals, n_workers, progress, n_done, options=None
) -> Iterator[dict[int, _Done]]:
    """Yield the results of each chunk as it finishes (in completion order)."""
    from tqdm.auto import tqdm

    if not chunks:
        return
    n_workers = min(n_workers or _available_cores(), len(chunks))
    bar = tqdm(
        total=len(structures), initial=n_done, unit="structure", disable=not progress, desc=method
    )
    # fresh interpreters: env set before tblite loads
    context = multiprocessing.get_context("spawn")
    with (
        _environment(_SINGLE_THREAD_ENV),
        cf.ProcessPoolExecutor(n_workers, mp_context=context, initializer=_init_worker) as pool,
    ):
        futures = [
            pool.submit(
                _label_chunk, chunk, [structures[i] for i in chunk], method, orbitals, options
            )
            for chunk in chunks
        ]
        try:
            for future in cf.as_completed(futures):
                result = future.result()
                yield result
                bar.update(len(result))
                bar.set_postfix(
                    failed=sum(r.reason is not None for r in result.values()), refresh=False
                )
        finally:
            for future in futures:
                future.cancel()
            bar.close()


def _init_worker() -> None:
    os.environ.update(_SINGLE_THREAD_ENV)
    _exit_with_parent()


def _exit_with_parent(poll_s: float = 1.0) -> None:
    """End this worker process within ``poll_s`` seconds of the job that started it dying.

    A job stopped by SIGTERM or SIGKILL (``pkill``, a wall-time limit) never runs the pool's
    shutdown, and its workers would go on with their chunk, burning a core each, for nothing:
    only the parent writes parts. A dead parent's children are re-parented, so the watch
    compares the parent's pid with the one the worker started under.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _label_chunk(
    indices: list[int],
    structures: list[Structure],
    method: str,
    orbitals: bool,
    options: dict | None = None,
) -> dict[int, _Done]:
    out = {}
    for i, s in zip(indices, structures):
        try:
            out[i] = _Done(
                label_structure(s, method=method, orbitals=orbitals, **(options or {})), s.name
            )
        except StructureError as err:
            out[i] = _Done(None, s.name, err.problem)
        except Exception as err:  # noqa: BLE001 — record any failure and go on
            out[i] = _Done(None, s.name, f"{type(err).__name__}: {err}")
    return out


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """Temporarily set environment variables (spawned workers inherit them)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ----------------------------------------------------------------------------- parts
def _parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def _write_part(
    parts: Path, result: dict[int, _Done], fingerprints, method, orbitals, options=None
) -> None:
    """One chunk → ``part-<first index>-<random>.npz``, atomically (temp file + os.replace).

    No fsync: the page cache survives a killed process; a part damaged by a machine crash
    is unreadable and simply relabelled (see `_load_parts`).
    """
    indices = sorted(result)
    arrays = {
        "indices": np.array(indices, np.int64),
        "fingerprints": np.array([fingerprints[i] for i in indices]),
        "names": np.array([result[i].name for i in indices]),
        "reasons": np.array([result[i].reason or "" for i in indices]),
        "method": np.array(method),
        "orbitals": np.array(bool(orbitals)),
        **_pack([result[i].labels or {} for i in indices]),
    }
    if options:  # absent = all defaults, as in parts written before these options existed
        arrays["xtb_options"] = np.array(json.dumps(options, sort_keys=True))
    stem = f"part-{indices[0]:08d}-{uuid.uuid4().hex[:8]}"
    tmp = parts / f".{stem}.tmp"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, parts / f"{stem}.npz")


_ABSENT, _SCALAR = -2, -1  # row counts marking a label a structure lacks / a 0-d label


def _pack(labels: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-structure label dicts → one concatenated array and one row count per key."""
    out = {}
    for key in sorted({k for d in labels for k in d}):
        values = [np.asarray(d[key]) if key in d else None for d in labels]
        out[f"rows/{key}"] = np.array(
            [_ABSENT if v is None else v.shape[0] if v.ndim else _SCALAR for v in values]
        )
        out[f"data/{key}"] = np.concatenate(
            [v if v.ndim else v[None] for v in values if v is not None]
        )
    return out


def _unpack(z, n: int) -> list[dict[str, np.ndarray]]:
    """Inverse of `_pack` for `n` structures."""
    out: list[dict[str, np.ndarray]] = [{} for _ in range(n)]
    for name in z.files:
        if not name.startswith("rows/"):
            continue
        key = name[len("rows/") :]
        rows, data, start = z[name], z[f"data/{key}"], 0
        for d, r in zip(out, rows):
            if r == _ABSENT:
                continue
            stop = start + (1 if r == _SCALAR else int(r))
            d[key] = data[start] if r == _SCALAR else data[start:stop]
            start = stop
    return out


def _load_parts(
    parts: Path, fingerprints: list[str], method: str, orbitals: bool, options: dict | None = None
) -> dict[int, _Done]:
    """Results of earlier runs; raise if they belong to another input or other settings."""
    for tmp in parts.glob(".*.tmp"):
        tmp.unlink()  # a part that was being written when the job died
    done: dict[int, _Done] = {}
    for path in sorted(parts.glob("part-*.npz")):
        part = _read_part(path)
        if part is None:
            continue
        if (
            part["method"] != method
            or part["orbitals"] != bool(orbitals)
            or part["options"] != (options or {})
        ):
            raise ValueError(
                f"{path} was made with method={part['method']}, orbitals={part['orbitals']}, "
                f"options={part['options']}; delete {parts} to start over with "
                f"method={method}, orbitals={orbitals}, options={options or {}}"
            )
        for i, fp, done_i in zip(part["indices"], part["fingerprints"], part["results"]):
            if i >= len(fingerprints) or fingerprints[i] != fp:
                raise ValueError(
                    f"{path}: structure {i} ({done_i.name}) is not the input's structure {i}; "
                    f"the input changed since the interrupted run: delete {parts}"
                )
            if i in done:
                raise ValueError(
                    f"{path}: structure {i} ({done_i.name}) is labelled twice; were two jobs "
                    f"writing to {parts}? Delete it to start over"
                )
            done[i] = done_i
    return done


def _read_part(path: Path) -> dict | None:
    """A part file's contents, or None (file removed) if it is damaged."""
    try:
        with np.load(path, allow_pickle=False) as z:
            indices = [int(i) for i in z["indices"]]
            labels = _unpack(z, len(indices))
            results = [
                _Done(None if reason else lab, str(name), str(reason) or None)
                for lab, name, reason in zip(labels, z["names"], z["reasons"])
            ]
            options = json.loads(str(z["xtb_options"])) if "xtb_options" in z.files else {}
            return dict(
                indices=indices,
                fingerprints=[str(f) for f in z["fingerprints"]],
                results=results,
                method=str(z["method"]),
                orbitals=bool(z["orbitals"]),
                options=options,
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        warnings.warn(f"{path} is damaged ({err}); its structures will be labelled again")
        path.unlink()
        return None


# ----------------------------------------------------------------------------- close atoms
def close_pairs(s: Structure, factor: float = CLOSE_FACTOR) -> list[tuple[int, int, float, float]]:
    """[(i, j, distance Å, limit Å)] of atom pairs (periodic images included) closer than
    `factor` × the sum of their covalent radii, closest first.

    Structures the labeller will refuse anyway (bad elements, non-finite positions, bad
    cell) give no pairs here; their failure is reported with its own reason.
    """
    from ase.data import covalent_radii

    z = np.asarray(s.atomic_numbers)
    if (
        len(z) < 2
        or (z < 1).any()
        or (z >= len(covalent_radii)).any()
        or not np.isfinite(s.positions).all()
    ):
        return []
    radii = covalent_radii[z]  # [n] Å
    try:
        senders, receivers, shifts = neighbour_list(
            s.positions, s.cell, s.pbc, 2 * factor * radii.max()
        )
    except (ValueError, np.linalg.LinAlgError):  # a degenerate cell; the labeller names it
        return []
    distance = np.linalg.norm(s.positions[senders] - s.positions[receivers] + shifts, axis=1)
    limit = factor * (radii[senders] + radii[receivers])
    hit = (distance < limit) & (receivers <= senders)  # each pair once (self-images: i == j)
    order = np.argsort(distance[hit])
    return [
        (
            int(receivers[hit][k]),
            int(senders[hit][k]),
            float(distance[hit][k]),
            float(limit[hit][k]),
        )
        for k in order
    ]


def _close_atom_failures(structures, positions, refuse: bool) -> dict[int, _Done]:
    """Warn about (or, if `refuse`, return as failures) every structure with close atoms."""
    failures = {}
    for i, s in enumerate(structures):
        pairs = close_pairs(s)
        if not pairs or pairs[0][2] < MIN_DISTANCE:  # none, or overlapping: the labeller refuses it
            continue
        reason = _close_reason(s, pairs)
        if refuse:
            failures[i] = _Done(None, s.name, reason)
        else:
            warnings.warn(
                f"structure {s.name!r} (input index {positions[i]}): {reason}; labelled anyway "
                f"(close_atoms='refuse' / --refuse-close-atoms records it as a failure)",
                CloseAtomsWarning,
                stacklevel=3,
            )
    return failures


def _close_reason(s: Structure, pairs) -> str:
    from ase.data import chemical_symbols

    i, j, distance, limit = pairs[0]
    zi, zj = chemical_symbols[s.atomic_numbers[i]], chemical_symbols[s.atomic_numbers[j]]
    more = f" ({len(pairs) - 1} more such pairs)" if len(pairs) > 1 else ""
    return (
        f"atoms {i} ({zi}) and {j} ({zj}) are {distance:.3g} Å apart, closer than "
        f"{CLOSE_FACTOR:g} × the "
        f"sum of their covalent radii ({limit:.3g} Å){more}"
    )


# ----------------------------------------------------------------------------- finished jobs
def _job_key(
    fingerprints, positions, unreadable, method, orbitals, close_atoms, options=None
) -> str:
    """Hash of everything that decides a job's output: equal keys, equal results.

    xtb options (electronic temperature, minimum cell length) enter only when set, so
    outputs finished before the options existed keep their key and are not relabelled.
    """
    h = hashlib.sha256()
    fields = [fingerprints, positions, unreadable, method, bool(orbitals), close_atoms]
    if options:
        fields.append(["xtb_options", {k: float(v) for k, v in sorted(options.items())}])
    h.update(json.dumps(fields).encode())
    return h.hexdigest()


def _finished(out: Path, key: str) -> bool:
    """Whether `out` is the finished result of the job with this key."""
    if not out.is_file():
        return False
    import h5py

    try:
        with h5py.File(out, "r") as f:
            return f.attrs.get("input_key") == key
    except OSError:  # not HDF5, or damaged: label again
        return False


def _already_done(
    out: Path, failures: Path, n_structures: int, n_unreadable: int, start: float
) -> LabelReport:
    import h5py

    with h5py.File(out, "r") as f:
        n_labelled = int(f.attrs["n_labelled"])
    return LabelReport(
        n_structures=n_structures,
        n_labelled=n_labelled,
        n_failed=n_structures - n_labelled,
        n_computed=0,
        out_path=out,
        failures_path=failures,
        seconds=time.perf_counter() - start,
        n_unreadable=n_unreadable,
        already_done=True,
    )


# ----------------------------------------------------------------------------- output
def _merge(
    structures: list[Structure], done: dict[int, _Done], positions: list[int]
) -> list[Structure]:
    """Labelled structures in input order; ``info["source_index"]`` is the input position."""
    missing = [i for i in range(len(structures)) if i not in done]
    if missing:
        raise RuntimeError(f"structures {missing[:10]} were never labelled")
    return [
        s.replace(
            labels={**s.labels, **done[i].labels}, info={**s.info, "source_index": positions[i]}
        )
        for i, s in enumerate(structures)
        if done[i].reason is None
    ]


def _failure_records(result: dict[int, _Done], positions: list[int]) -> list[dict]:
    return [
        {"index": positions[i], "name": r.name, "reason": r.reason}
        for i, r in sorted(result.items())
        if r.reason is not None
    ]


def _unreadable_records(unreadable) -> list[dict]:
    return [
        {"index": index, "name": str(name), "reason": reason} for index, name, reason in unreadable
    ]


def _lines(records: list[dict]) -> list[str]:
    return [json.dumps(r, ensure_ascii=False) + "\n" for r in records]


def _failure_lines(result: dict[int, _Done], positions: list[int]) -> list[str]:
    return _lines(_failure_records(result, positions))


def _unreadable_lines(unreadable) -> list[str]:
    return _lines(_unreadable_records(unreadable))


def _append_failures(path: Path, result: dict[int, _Done], positions: list[int]) -> None:
    _append_lines(path, _failure_lines(result, positions))


def _append_lines(path: Path, lines: list[str]) -> None:
    if lines:
        with open(path, "a", encoding="utf-8") as f:
            f.writelines(lines)


def _rewrite_failures(path: Path, done: dict[int, _Done], unreadable, positions: list[int]) -> None:
    """The complete, deduplicated failure log in input order (or none when nothing failed);
    entries without an index (unreadable, position not given) come first."""
    records = _unreadable_records(unreadable) + _failure_records(done, positions)
    records.sort(key=lambda r: -1 if r["index"] is None else r["index"])
    if not records:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(_lines(records)), encoding="utf-8")
    os.replace(tmp, path)
