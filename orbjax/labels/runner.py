"""Label many structures with xTB: one process per core, resumable, failures kept aside.

Files beside the output ``OUT``:

- ``OUT.parts/part-*.npz``: finished chunks, each written atomically by the parent process.
  A job killed at any moment (kill -9, wall-time limit) and started again with the same
  input labels only the structures that no part holds, so each structure is labelled
  exactly once. Parts are matched to the input by index *and* a fingerprint of the
  structure, so resuming with a different input fails loudly instead of mixing results.
- ``OUT.failures.jsonl``: one JSON line per structure that could not be labelled
  (``index``, ``name``, ``reason``), appended as the job goes and rewritten complete and
  sorted at the end; structures the reader already rejected (``unreadable``) come first,
  with ``"index": null``.

At the end the parts are merged with the input structures (their own labels, e.g. DFT
energy and forces, are kept beside the xtb_* labels) into ``OUT`` with `write_dataset`, and
the parts folder is removed. Only one job may work on one ``OUT`` at a time.
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
import time
import uuid
import warnings
import zipfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from orbjax.data.dataset import write_dataset
from orbjax.data.structures import Structure, StructureError
from orbjax.labels.xtb import METHODS, label_structure

# Set in every worker before tblite (and its OpenMP runtime) loads: one core, one thread.
_SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclasses.dataclass
class LabelReport:
    """What a labelling job did.

    Attributes:
      n_structures: structures in the input.
      n_labelled: structures written to the output with xtb labels.
      n_failed: structures that could not be labelled (see `failures_path`).
      n_computed: structures labelled by this call (the rest came from earlier parts).
      out_path, failures_path: the output dataset and the failure log.
      seconds: wall time of this call.
      n_unreadable: structures of the input file that could not even be read (also logged).
    """

    n_structures: int
    n_labelled: int
    n_failed: int
    n_computed: int
    out_path: Path
    failures_path: Path
    seconds: float
    n_unreadable: int = 0


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
    unreadable: Sequence[tuple[str, str]] = (),
) -> LabelReport:
    """Label `structures` with tblite in parallel and write the labelled dataset to `out_path`.

    Args:
      structures: input structures (their labels are kept).
      out_path: output dataset (HDF5, see `orbjax.data.dataset`).
      method: "GFN1-xTB" or "GFN2-xTB" (the latter needs ``orbitals=False``).
      n_workers: processes, default one per available core.
      orbitals: also extract orbital / shell populations (GFN1 only).
      chunk_size: structures per task and per part file; the most work a kill can lose
        per worker.
      progress: show a tqdm progress bar.
      unreadable: (name, reason) of input structures the reader rejected (see
        `orbjax.data.readers.read_structures_with_failures`); they go into the failure log
        with ``"index": null``, so every structure of the input file is accounted for.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if orbitals and method != "GFN1-xTB":
        raise ValueError(f"orbital populations are GFN1-xTB labels; use orbitals=False with {method}")
    start = time.perf_counter()
    out = Path(out_path)
    parts, failures = _parts_dir(out), out.with_name(out.name + ".failures.jsonl")
    fingerprints = [structure_fingerprint(s) for s in structures]
    if not parts.exists():
        failures.unlink(missing_ok=True)  # a fresh job: forget failures of an older one
        parts.mkdir(parents=True)
        _append_lines(failures, _unreadable_lines(unreadable))
    done = _load_parts(parts, fingerprints, method, orbitals)
    todo = [i for i in range(len(structures)) if i not in done]
    chunks = [todo[k : k + chunk_size] for k in range(0, len(todo), chunk_size)]
    for result in _run_chunks(structures, chunks, method, orbitals, n_workers, progress, len(done)):
        _write_part(parts, result, fingerprints, method, orbitals)
        _append_failures(failures, result)
        done.update(result)
    labelled = _merge(structures, done)
    _rewrite_failures(failures, done, unreadable)
    write_dataset(out, labelled, {
        "method": method, "orbitals": bool(orbitals), "n_failed": len(structures) - len(labelled),
        "failures_file": failures.name,
    })
    shutil.rmtree(parts)
    return LabelReport(
        n_structures=len(structures), n_labelled=len(labelled), n_failed=len(structures) - len(labelled),
        n_computed=len(todo), out_path=out, failures_path=failures, seconds=time.perf_counter() - start,
        n_unreadable=len(unreadable),
    )


def structure_fingerprint(s: Structure) -> str:
    """Short hash of what determines the xTB result (elements, geometry, charge, spin)."""
    h = hashlib.sha1()
    for array in (s.atomic_numbers.astype(np.int64), np.round(s.positions, 8), np.round(s.cell, 8), s.pbc):
        h.update(np.ascontiguousarray(array).tobytes())
    h.update(f"{s.charge:g} {s.multiplicity}".encode())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- workers
def _run_chunks(structures, chunks, method, orbitals, n_workers, progress, n_done) -> Iterator[dict[int, _Done]]:
    """Yield the results of each chunk as it finishes (in completion order)."""
    from tqdm.auto import tqdm

    if not chunks:
        return
    n_workers = min(n_workers or _available_cores(), len(chunks))
    bar = tqdm(total=len(structures), initial=n_done, unit="structure", disable=not progress, desc=method)
    context = multiprocessing.get_context("spawn")  # fresh interpreters: env set before tblite loads
    with _environment(_SINGLE_THREAD_ENV), cf.ProcessPoolExecutor(
        n_workers, mp_context=context, initializer=_init_worker
    ) as pool:
        futures = [
            pool.submit(_label_chunk, chunk, [structures[i] for i in chunk], method, orbitals) for chunk in chunks
        ]
        try:
            for future in cf.as_completed(futures):
                result = future.result()
                yield result
                bar.update(len(result))
                bar.set_postfix(failed=sum(r.reason is not None for r in result.values()), refresh=False)
        finally:
            for future in futures:
                future.cancel()
            bar.close()


def _init_worker() -> None:
    os.environ.update(_SINGLE_THREAD_ENV)


def _label_chunk(indices: list[int], structures: list[Structure], method: str, orbitals: bool) -> dict[int, _Done]:
    out = {}
    for i, s in zip(indices, structures):
        try:
            out[i] = _Done(label_structure(s, method=method, orbitals=orbitals), s.name)
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


def _write_part(parts: Path, result: dict[int, _Done], fingerprints, method, orbitals) -> None:
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
        out[f"rows/{key}"] = np.array([_ABSENT if v is None else v.shape[0] if v.ndim else _SCALAR for v in values])
        out[f"data/{key}"] = np.concatenate([v if v.ndim else v[None] for v in values if v is not None])
    return out


def _unpack(z, n: int) -> list[dict[str, np.ndarray]]:
    """Inverse of `_pack` for `n` structures."""
    out: list[dict[str, np.ndarray]] = [{} for _ in range(n)]
    for name in z.files:
        if not name.startswith("rows/"):
            continue
        key = name[len("rows/"):]
        rows, data, start = z[name], z[f"data/{key}"], 0
        for d, r in zip(out, rows):
            if r == _ABSENT:
                continue
            stop = start + (1 if r == _SCALAR else int(r))
            d[key] = data[start] if r == _SCALAR else data[start:stop]
            start = stop
    return out


def _load_parts(parts: Path, fingerprints: list[str], method: str, orbitals: bool) -> dict[int, _Done]:
    """Results of earlier runs; raise if they belong to another input or other settings."""
    for tmp in parts.glob(".*.tmp"):
        tmp.unlink()  # a part that was being written when the job died
    done: dict[int, _Done] = {}
    for path in sorted(parts.glob("part-*.npz")):
        part = _read_part(path)
        if part is None:
            continue
        if part["method"] != method or part["orbitals"] != bool(orbitals):
            raise ValueError(
                f"{path} was made with method={part['method']}, orbitals={part['orbitals']}; "
                f"delete {parts} to start over with method={method}, orbitals={orbitals}"
            )
        for i, fp, done_i in zip(part["indices"], part["fingerprints"], part["results"]):
            if i >= len(fingerprints) or fingerprints[i] != fp:
                raise ValueError(f"{path}: structure {i} ({done_i.name}) is not the input's structure {i}; "
                                 f"the input changed since the interrupted run: delete {parts}")
            if i in done:
                raise ValueError(f"{path}: structure {i} ({done_i.name}) is labelled twice; were two jobs "
                                 f"writing to {parts}? Delete it to start over")
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
            return dict(indices=indices, fingerprints=[str(f) for f in z["fingerprints"]], results=results,
                        method=str(z["method"]), orbitals=bool(z["orbitals"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        warnings.warn(f"{path} is damaged ({err}); its structures will be labelled again")
        path.unlink()
        return None


# ----------------------------------------------------------------------------- output
def _merge(structures: list[Structure], done: dict[int, _Done]) -> list[Structure]:
    """Labelled structures in input order; ``info["source_index"]`` maps back to the input."""
    missing = [i for i in range(len(structures)) if i not in done]
    if missing:
        raise RuntimeError(f"structures {missing[:10]} were never labelled")
    return [
        s.replace(labels={**s.labels, **done[i].labels}, info={**s.info, "source_index": i})
        for i, s in enumerate(structures)
        if done[i].reason is None
    ]


def _failure_lines(result: dict[int, _Done]) -> list[str]:
    return [
        json.dumps({"index": i, "name": r.name, "reason": r.reason}, ensure_ascii=False) + "\n"
        for i, r in sorted(result.items())
        if r.reason is not None
    ]


def _unreadable_lines(unreadable) -> list[str]:
    return [json.dumps({"index": None, "name": str(name), "reason": reason}, ensure_ascii=False) + "\n"
            for name, reason in unreadable]


def _append_failures(path: Path, result: dict[int, _Done]) -> None:
    _append_lines(path, _failure_lines(result))


def _append_lines(path: Path, lines: list[str]) -> None:
    if lines:
        with open(path, "a", encoding="utf-8") as f:
            f.writelines(lines)


def _rewrite_failures(path: Path, done: dict[int, _Done], unreadable=()) -> None:
    """The complete, deduplicated failure log (or none when nothing failed)."""
    lines = _unreadable_lines(unreadable) + _failure_lines(done)
    if not lines:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    os.replace(tmp, path)
