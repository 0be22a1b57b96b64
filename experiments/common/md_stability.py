"""MD stability: does a potential keep a molecule's bonds intact under hot NVT dynamics?

A run is unphysical from the first written frame where a pair bonded at the start (closer
than 1.2 × the sum of ASE's covalent radii) is longer than 1.6 × its starting length, or any
two atoms are closer than 0.6 Å. Events are checked on the written frames only (every
`interval` steps), so an event is dated to the first written frame that shows it.

The MD is the library's own (`orbjax.potential.md_run.run_md`, what `python -m orbjax.md`
runs): Langevin NVT, resumable, one directory per start. Its `stop_when` hook ends a run at
the first written frame with an event (an unstable model costs only the time to its first
event); the written trajectory is then checked again as a whole. A run whose MD raises after
its first written frame with a numerical error (a blown-up state: non-finite values, overflow)
is kept as unphysical and finished: at its event if the frames show one, else as an
"md_error" event dated at its last frame (the error is printed and kept in the run's
stability.json). Any other error, or one before the first frame, raises and the run is
retried on the next call.

Units: positions Å, time fs (ps in the results), temperature K, friction 1/fs.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import covalent_radii

RECORD = "stability.json"  # per run directory: steps asked for, CPU seconds, done
STRETCH, MIN_DISTANCE = 1.6, 0.6  # × starting bond length; Å


def bonded_pairs(numbers: np.ndarray, positions: np.ndarray, scale: float = 1.2) -> np.ndarray:
    """[P, 2] index pairs (i < j) bonded at the start: distance < scale · (r_cov,i + r_cov,j)
    (ase covalent radii)."""
    radii = covalent_radii[np.asarray(numbers)]  # [n] Å
    i, j = np.triu_indices(len(radii), k=1)
    d = np.linalg.norm(positions[i] - positions[j], axis=-1)
    bonded = d < scale * (radii[i] + radii[j])
    return np.stack([i[bonded], j[bonded]], axis=1).astype(np.int64).reshape(-1, 2)


def _event_masks(frames, bonds, stretch, min_distance):
    """([T] some bond stretched, [T] some pair too close). A non-finite frame (a blown-up
    run) counts as stretched: its bond lengths are not ≤ anything."""
    frames = np.asarray(frames, np.float64)  # [T, N, 3] Å
    bonds = np.asarray(bonds, np.int64).reshape(-1, 2)
    lengths = np.linalg.norm(frames[:, bonds[:, 0]] - frames[:, bonds[:, 1]], axis=-1)  # [T, P]
    stretched = ~(lengths <= stretch * lengths[:1]).all(axis=1)
    i, j = np.triu_indices(frames.shape[1], k=1)
    distances = np.linalg.norm(frames[:, i] - frames[:, j], axis=-1)  # [T, pairs]
    close = (distances < min_distance).any(axis=1)
    return stretched | ~np.isfinite(frames).all(axis=(1, 2)), close


def first_event(
    frames: np.ndarray,
    numbers: np.ndarray,
    bonds: np.ndarray,
    stretch: float = 1.6,
    min_distance: float = 0.6,
) -> int | None:
    """frames [T, N, 3] Å (frame 0 = start). Index of the first frame where a bonded pair is
    longer than stretch × its frame-0 length or any pair (bonded or not) is closer than
    min_distance Å; None if none."""
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.shape[1:] != (len(numbers), 3):
        raise ValueError(f"frames must be [T, {len(numbers)}, 3], not {list(frames.shape)}")
    stretched, close = _event_masks(frames, bonds, stretch, min_distance)
    hits = np.flatnonzero(stretched | close)
    return int(hits[0]) if len(hits) else None


def summarise_run(frames, steps, numbers, timestep_fs: float) -> dict:
    """The stability fields of one run from its written frames [T, N, 3] Å at `steps` [T]:
    bonds from frame 0; an event at a frame that is both stretched and close is "stretched"."""
    bonds = bonded_pairs(numbers, frames[0])
    index = first_event(frames, numbers, bonds, STRETCH, MIN_DISTANCE)
    event = None
    if index is not None:
        stretched, _ = _event_masks(frames, bonds, STRETCH, MIN_DISTANCE)
        event = "stretched" if stretched[index] else "close"
    return {
        "n_atoms": len(numbers),
        "steps": int(steps[-1]),
        "simulated_ps": float(steps[-1]) * timestep_fs / 1000.0,
        "physical": index is None,
        "first_event_ps": None if index is None else float(steps[index]) * timestep_fs / 1000.0,
        "event": event,
    }


def run_stability(
    potential,
    starts: list[Atoms],
    *,
    temperature: float,
    timestep_fs: float,
    steps: int,
    interval: int,
    seed: int,
    out_dir: str | Path,
    friction: float | None = None,
) -> list[dict]:
    """NVT (Langevin) MD of `potential` (an orbjax Potential or Committee, anything
    orbjax.potential.md_run.run_md accepts) from each start (velocities drawn at
    `temperature` from seed + run index), one resumable run directory per start under
    out_dir/run<k>/, frames every `interval` steps; returns one dict per start: {"run": k,
    "n_atoms", "steps", "simulated_ps", "physical": bool, "first_event_ps": float | None,
    "event": "stretched"|"close"|"md_error"|None, "cpu_s"}. Re-running skips finished runs
    (reads their trajectory back).

    Each run stops at its first event or at `steps` (see the module docstring); "steps"
    and "simulated_ps" are what was simulated, "cpu_s" this process's CPU time over all
    sessions of the run (`friction` None: run_md's default)."""
    if steps < 1 or interval < 1:
        raise ValueError(f"need steps ≥ 1 and interval ≥ 1 (got {steps}, {interval})")
    out = Path(out_dir)
    settings = dict(
        temperature=temperature,
        timestep_fs=timestep_fs,
        steps=steps,
        interval=interval,
        friction=friction,
    )
    return [
        {"run": k, **_one_run(potential, atoms, out / f"run{k}", seed + k, **settings)}
        for k, atoms in enumerate(starts)
    ]


def _one_run(
    potential, start, run_dir: Path, seed, *, temperature, timestep_fs, steps, interval, friction
) -> dict:
    """Simulate (or resume, or skip when finished) one start and summarise its trajectory."""
    from orbjax.potential.md_run import run_md

    record_path, trajectory = run_dir / RECORD, run_dir / "trajectory.extxyz"
    record = json.loads(record_path.read_text()) if record_path.exists() else {"cpu_s": 0.0}
    asked = {  # a rerun with other settings would silently report the old runs
        "temperature": float(temperature),
        "timestep_fs": float(timestep_fs),
        "interval": int(interval),
        "friction": friction,
        "seed": int(seed),
        "start": np.round(np.asarray(start.positions, np.float64), 6).tolist(),
    }
    if record.get("settings", asked) != asked:
        raise ValueError(
            f"{run_dir} was run with other settings (temperature, timestep, interval, "
            "friction, seed or start): use another out_dir"
        )
    # stopped at an event, or failed numerically: nothing more to run, for any `steps`
    stopped = (run_dir / "stopped.json").exists() or "error" in record
    if not stopped and not (record.get("done") and record.get("steps", 0) >= steps):
        atoms = Atoms(start.numbers, start.positions, cell=start.cell, pbc=start.pbc)  # no v
        extra = {} if friction is None else {"friction": friction}
        bonds = bonded_pairs(start.numbers, start.positions)

        def stop_when(thermo, positions):  # the first written frame with an event ends it
            frames = np.stack([np.asarray(start.positions, np.float64), positions])
            hit = first_event(frames, start.numbers, bonds, STRETCH, MIN_DISTANCE)
            return None if hit is None else "unphysical"

        size = trajectory.stat().st_size if trajectory.exists() else 0
        began = time.process_time()
        try:
            run_md(
                potential,
                atoms,
                run_dir,
                steps,
                "nvt",
                temperature,
                timestep_fs,
                interval=interval,
                seed=seed,
                progress=False,
                stop_when=stop_when,
                **extra,
            )
            error = None
        except Exception as err:  # kept only if numerical and the MD wrote frames
            if not _numerical(err) or not trajectory.exists() or trajectory.stat().st_size <= size:
                raise  # not recorded as done: a rerun retries it
            error = f"{type(err).__name__}: {err}"
        record = {
            "steps": steps,
            "cpu_s": record["cpu_s"] + time.process_time() - began,
            "done": True,
            "settings": asked,
        }
        if error is not None:
            record["error"] = error
    numbers, frames, frame_steps = _read_frames(trajectory)
    keep = frame_steps <= steps  # a longer earlier run is read up to the steps asked for
    result = summarise_run(frames[keep], frame_steps[keep], numbers, timestep_fs)
    if "error" in record and result["physical"]:  # failed between written frames
        print(f"{run_dir}: the MD failed after its last frame: {record['error']}", file=sys.stderr)
        last = result["simulated_ps"]  # the failure's time is a lower bound: the last frame's
        result = {**result, "physical": False, "first_event_ps": last, "event": "md_error"}
    record.setdefault("settings", asked)
    record_path.write_text(json.dumps(record) + "\n")
    return {**result, "cpu_s": record["cpu_s"]}


def _numerical(err: Exception) -> bool:
    """Whether an MD error is the dynamics blowing up (kept as unphysical), not a failure of
    the machine or the code (out of memory, disk, a bug: raised, the run retried)."""
    if isinstance(err, (FloatingPointError, OverflowError, ZeroDivisionError)):
        return True
    return re.search(r"\bnan\b|non-?finite|not finite|\binf\b|overflow", str(err), re.I) is not None


def _read_frames(trajectory: Path):
    """(numbers [N], positions [T, N, 3] Å, steps [T]) of a run's trajectory.extxyz."""
    from ase.io import read

    frames = read(trajectory, index=":")
    positions = np.stack([f.positions for f in frames])
    return frames[0].numbers, positions, np.array([int(f.info["step"]) for f in frames])
