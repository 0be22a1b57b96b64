"""Run the GFN1-xTB sampler over many molecules: parallel, resumable, failures kept aside.

Files beside the output ``OUT``:

- ``OUT.parts/job.json``: what the job is (input fingerprint, seed, settings). A run with
  another input or settings refuses to mix its frames with these.
- ``OUT.parts/part-<chunk>.h5``: one finished chunk of molecules, a compact orbjax dataset
  (float32, gzip) written atomically by the parent; its ``failures`` attribute lists the
  molecules of the chunk that failed (embedding, SCF) and why. A killed run started again
  runs only the chunks no part holds; every molecule draws its own seed, so the output is
  what an uninterrupted run writes.
- ``OUT``: written when every chunk is done (or on demand with `collect`, marked
  ``complete=False``), all frames in input order; ``OUT.failures.jsonl`` beside it.

Chunks follow a fixed random order of the input (`order_seed`), so the parts that exist at
any moment are a random subset of the molecules.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from orbjax.data.dataset import read_dataset, write_dataset
from orbjax.data.structures import Structure, StructureError
from orbjax.labels.runner import (
    _SINGLE_THREAD_ENV,
    _available_cores,
    _environment,
    _init_worker,
    check_output_name,
)
from orbjax.labels.sampler import SampleSettings, embed_smiles, molecule_seed, sample_molecule

SMILES_SUFFIXES = (".txt", ".smi", ".smiles", ".tsv")


@dataclasses.dataclass(frozen=True)
class Molecule:
    """One input molecule: SMILES (embedded in the worker) or a ready structure."""

    index: int  # position in the input: its seed and its place in the output
    name: str
    mol_id: str
    smiles: str | None = None
    structure: Structure | None = None


@dataclasses.dataclass
class SampleReport:
    """What a sampling job did (counts of molecules and frames; wall seconds of this call)."""

    n_molecules: int
    n_done: int
    n_failed: int
    n_frames: int
    out_path: Path | None
    seconds: float


def read_molecules(
    path: str | os.PathLike, limit: int | None = None, key_preset: str = "default"
) -> list[Molecule]:
    """Molecules of a SMILES file (``mol_id<TAB>SMILES`` or one SMILES per line; ``#``
    comments) or of any structure file `orbjax.data.readers.read_structures` reads."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() in SMILES_SUFFIXES:
        molecules = _smiles_molecules(path)
    else:
        from orbjax.data.readers import KEY_PRESETS, read_structures

        structures = read_structures(path, keys=KEY_PRESETS[key_preset])
        molecules = [
            Molecule(
                i,
                s.name,
                str(s.mol_id if s.mol_id is not None else s.name),
                structure=s.replace(labels={}),
            )
            for i, s in enumerate(structures)
        ]
    molecules = molecules[:limit] if limit else molecules
    if not molecules:
        raise ValueError(f"{path}: no molecules")
    return molecules


def _smiles_molecules(path: Path) -> list[Molecule]:
    out = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        mol_id, smiles = (
            (fields[0], fields[1]) if len(fields) > 1 else (f"m{len(out):06d}", fields[0])
        )
        out.append(Molecule(len(out), f"{path.name}:{mol_id}", mol_id, smiles=smiles))
    return out


def sample_molecules(
    molecules: list[Molecule],
    out_path: str | os.PathLike,
    settings: SampleSettings = SampleSettings(),
    seed: int = 0,
    n_workers: int | None = None,
    chunk_size: int = 20,
    order_seed: int = 0,
    progress: bool = True,
    max_chunks: int | None = None,
) -> SampleReport:
    """Sample every molecule (see `orbjax.labels.sampler`) and write the frames to `out_path`.

    ``max_chunks``: stop after this many new chunks (a time-boxed session); the run resumes
    later. `out_path` is written only once every chunk is done.
    """
    check_output_name(out_path)
    start = time.perf_counter()
    out = Path(out_path)
    parts = _parts_dir(out)
    chunks = _chunks(len(molecules), chunk_size, order_seed)
    _claim(parts, _job_key(molecules, settings, seed, chunk_size, order_seed))
    todo = [k for k in range(len(chunks)) if not _part_path(parts, k).exists()]
    if max_chunks is not None:
        todo = todo[:max_chunks]
    n_before = sum(len(c) for k, c in enumerate(chunks) if _part_path(parts, k).exists())
    for k, frames, failures in _run(
        molecules, chunks, todo, settings, seed, n_workers, progress, n_before
    ):
        write_dataset(
            _part_path(parts, k),
            frames,
            {"failures": json.dumps(failures), "chunk": k},
            compact=True,
        )
    finished = all(_part_path(parts, k).exists() for k in range(len(chunks)))
    report = collect(out, complete=True) if finished else _report(parts, len(molecules))
    report.seconds = time.perf_counter() - start
    return report


def collect(
    out_path: str | os.PathLike,
    complete: bool = False,
    dest: str | os.PathLike | None = None,
    first: int | None = None,
) -> SampleReport:
    """Write `dest` (default `out_path`) and its failures file from the parts of the job
    writing `out_path` that exist now, in input order; with `first`, only the molecules of
    the job's first `first` molecules in its chunk order (rounded up to whole chunks): a
    fixed random subset of the input, the same whenever it is collected.

    ``complete`` is recorded in the file's attributes; a partial collection says False.
    """
    parts = _parts_dir(Path(out_path))
    out = Path(dest or out_path)
    if not (parts / "job.json").exists():
        raise FileNotFoundError(f"{parts}: no sampling job writes {out_path} (nothing to collect)")
    job = json.loads((parts / "job.json").read_text())
    frames, failures = _read_parts(parts)
    n_molecules = job["n_molecules"]
    if first is not None:
        if first < 1:
            raise ValueError(f"collect: first must be ≥ 1, not {first}")
        chunks = _chunks(job["n_molecules"], job["chunk_size"], job["order_seed"])
        keep = {i for chunk in chunks[: -(-first // job["chunk_size"])] for i in chunk}
        frames = [s for s in frames if s.info["input_index"] in keep]
        failures = [f for f in failures if f["index"] in keep]
        done = _n_done(frames, failures)
        if done < len(keep):
            raise ValueError(
                f"{out_path}: only {done} of the first {len(keep)} molecules (whole chunks) are "
                "sampled yet; resume the job first, or collect fewer"
            )
        n_molecules = len(keep)
    frames.sort(key=lambda s: (s.info["input_index"], s.info["frame"]))
    failures.sort(key=lambda f: f["index"])
    n_done = _n_done(frames, failures)
    write_dataset(
        out,
        frames,
        {
            "method": "GFN1-xTB",
            "orbitals": bool(job["settings"]["orbitals"]),
            "sampler": json.dumps(job),
            "complete": bool((complete or first is not None) and n_done == n_molecules),
            "n_molecules": n_molecules,
            "n_molecules_done": n_done,
            "n_failed": len(failures),
            "failures_file": out.name + ".failures.jsonl",
        },
        compact=True,
    )
    with open(out.with_name(out.name + ".failures.jsonl"), "w") as f:
        f.writelines(json.dumps(x) + "\n" for x in failures)
    return SampleReport(n_molecules, n_done, len(failures), len(frames), out, 0.0)


def _report(parts: Path, n_molecules: int) -> SampleReport:
    frames, failures = _read_parts(parts)
    return SampleReport(
        n_molecules, _n_done(frames, failures), len(failures), len(frames), None, 0.0
    )


def _n_done(frames: list[Structure], failures: list[dict]) -> int:
    """Molecules finished: those with frames and those that failed."""
    return len({s.info["input_index"] for s in frames}) + len(failures)


def _read_parts(parts: Path) -> tuple[list[Structure], list[dict]]:
    frames, failures = [], []
    for path in sorted(parts.glob("part-*.h5")):
        structures, attrs = read_dataset(path)
        frames.extend(structures)
        failures.extend(json.loads(attrs["failures"]))
    return frames, failures


# ----------------------------------------------------------------------------- job bookkeeping
def _parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def _part_path(parts: Path, chunk: int) -> Path:
    return parts / f"part-{chunk:06d}.h5"


def _chunks(n: int, chunk_size: int, order_seed: int) -> list[list[int]]:
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be ≥ 1, not {chunk_size}")
    order = np.random.default_rng(order_seed).permutation(n).tolist()
    return [sorted(order[k : k + chunk_size]) for k in range(0, n, chunk_size)]


def _job_key(molecules, settings, seed, chunk_size, order_seed) -> dict:
    h = hashlib.sha256()
    for m in molecules:
        h.update(f"{m.index}\t{m.mol_id}\t{m.smiles}\t".encode())
        if m.structure is not None:
            h.update(m.structure.atomic_numbers.tobytes() + m.structure.positions.tobytes())
    return {
        "input": h.hexdigest()[:16],
        "n_molecules": len(molecules),
        "seed": seed,
        "chunk_size": chunk_size,
        "order_seed": order_seed,
        "settings": dataclasses.asdict(settings),
    }


def _claim(parts: Path, key: dict) -> None:
    """Create the parts folder for this job, or check that an existing one is this job's."""
    parts.mkdir(parents=True, exist_ok=True)
    job = parts / "job.json"
    key = json.loads(json.dumps(key))  # tuples → lists, as read back
    if job.exists():
        old = json.loads(job.read_text())
        if old != key:
            diff = sorted(k for k in key if old.get(k) != key[k])
            raise ValueError(
                f"{parts} belongs to a sampling job with other {', '.join(diff)}; "
                f"delete it to start over, or rerun with the settings of {job}"
            )
    else:
        job.write_text(json.dumps(key, indent=1))
    for tmp in parts.glob(".*.tmp*"):
        tmp.unlink()  # a part that was being written when the job died


# ----------------------------------------------------------------------------- workers
def _run(molecules, chunks, todo, settings, seed, n_workers, progress, n_before) -> Iterator[tuple]:
    from tqdm.auto import tqdm

    if not todo:
        return
    n_workers = min(n_workers or _available_cores(), len(todo))
    bar = tqdm(
        total=len(molecules),
        initial=n_before,
        unit="molecule",
        disable=not progress,
        desc="GFN1 MD",
    )
    n_frames = n_failed = 0
    # fresh interpreters: env set before tblite loads
    context = multiprocessing.get_context("spawn")
    with (
        _environment(_SINGLE_THREAD_ENV),
        cf.ProcessPoolExecutor(n_workers, mp_context=context, initializer=_init_worker) as pool,
    ):
        futures = {
            pool.submit(_sample_chunk, [molecules[i] for i in chunks[k]], settings, seed): k
            for k in todo
        }
        try:
            for future in cf.as_completed(futures):
                frames, failures = future.result()
                yield futures[future], frames, failures
                n_frames, n_failed = n_frames + len(frames), n_failed + len(failures)
                bar.update(len(chunks[futures[future]]))
                bar.set_postfix(frames=n_frames, failed=n_failed, refresh=False)
        finally:
            for future in futures:
                future.cancel()
            bar.close()


def _sample_chunk(molecules: list[Molecule], settings: SampleSettings, seed: int):
    frames, failures = [], []
    for m in molecules:
        try:
            frames.extend(_sample_one(m, settings, seed))
        except StructureError as err:
            failures.append(
                {"index": m.index, "mol_id": m.mol_id, "name": m.name, "reason": err.problem}
            )
        except Exception as err:  # noqa: BLE001 — record any failure and go on
            failures.append(
                {
                    "index": m.index,
                    "mol_id": m.mol_id,
                    "name": m.name,
                    "reason": f"{type(err).__name__}: {err}",
                }
            )
    return frames, failures


def _sample_one(m: Molecule, settings: SampleSettings, seed: int) -> list[Structure]:
    s = molecule_seed(seed, m.index)
    start = m.structure if m.structure is not None else embed_smiles(m.smiles, s, m.name, m.mol_id)
    start = start.replace(mol_id=m.mol_id, info={**start.info, "input_index": m.index})
    return sample_molecule(start, s, settings)
