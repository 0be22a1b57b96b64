"""A resumable MD run in a directory: what `python -m orbjax.md` does, as a library function.

The directory holds
  run.json          the settings (a resumed run must use the same ones, `steps` excepted)
  thermo.csv        step, time_fs, potential/kinetic/total energy (eV), temperature (K),
                    (NPT: volume Å³ and instantaneous pressure GPa), neighbour-list builds
                    and capacities, every `interval` steps; a committee adds max_force_std_eV_A
                    (max over atoms of the force spread σ_F,i, eV/Å, at that step)
  trajectory.extxyz frames every `interval` steps: positions (Å), cell (Å), momenta (ASE
                    units), energy (eV), forces (eV/Å), info step and time_fs
  uncertain.extxyz  (committee with a threshold) the frames whose max force spread crossed it
  stopped.json      (--on-uncertain stop) the step and spread at which the run stopped
  state.npz         the last written state: step, positions (Å), velocities (Å/fs), cell (Å),
                    and the sizes the two text files had right after it was written

A chunk's frame and thermo line are appended first and `state.npz` replaced atomically
after them; a resumed run truncates the text files to the sizes in `state.npz`, so a run
killed at any moment resumes from its last state without duplicate or missing lines (and,
since the Langevin noise of step k depends only on the seed and k, along the same trajectory).
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from orbjax.potential.barostat import COMPRESSIBILITY_PER_GPA, GPA, TIME_CONSTANT_FS
from orbjax.potential.dynamics import MDState, MolecularDynamics

THERMO_FIELDS = (
    "step",
    "time_fs",
    "potential_energy_eV",
    "kinetic_energy_eV",
    "total_energy_eV",
    "temperature_K",
    "neighbour_builds",
    "capacity",
    "candidate_capacity",
)
NPT_THERMO_FIELDS = THERMO_FIELDS[:6] + ("volume_A3", "pressure_GPa") + THERMO_FIELDS[6:]
ON_UNCERTAIN = ("stop", "write")


def run_md(
    potential,
    atoms: Atoms,
    out_dir,
    steps: int,
    ensemble: str = "nvt",
    temperature: float = 300.0,
    timestep: float = 0.5,
    friction: float = 0.01,
    interval: int = 10,
    seed: int = 0,
    skin: float = 0.5,
    progress: bool = True,
    model: str = "",
    pressure_gpa: float = 0.0,
    compressibility_per_gpa: float = COMPRESSIBILITY_PER_GPA,
    barostat_time: float = TIME_CONSTANT_FS,
    uncertainty_threshold: float | None = None,
    on_uncertain: str = "stop",
    stop_when=None,
) -> MolecularDynamics:
    """Run (or resume) MD of `atoms` in `out_dir` up to `steps` steps in total.

    Velocities: those of `atoms` if it has any, else Maxwell-Boltzmann at `temperature` K
    (seeded, zero total momentum). Units: timestep fs, temperature K, friction 1/fs; NPT:
    pressure GPa, compressibility 1/GPa, barostat time fs (`orbjax.potential.barostat`).
    Returns the `MolecularDynamics` (its `reallocations` counts recovered overflows).

    With a committee (`orbjax.load_committee`) and `uncertainty_threshold` (eV/Å), every
    written step whose max force spread exceeds it is appended to ``uncertain.extxyz``;
    ``on_uncertain="stop"`` also ends the run there (``stopped.json``; `md.stopped_at`
    the step), "write" carries on. The spread is checked every `interval` steps.

    `stop_when(thermo, positions)` (optional; `md.thermo`'s dict and [n, 3] Å positions)
    is called at every written step after the first: a reason (str) it returns ends the run
    there (``stopped.json``: step and reason; `md.stopped_at`), e.g. a blown-up trajectory.
    A stopped run stays stopped: calling again returns at once (delete ``stopped.json`` to
    continue from the stop).
    """
    out = Path(out_dir)
    committee = getattr(potential, "n_members", 0) > 0
    if uncertainty_threshold is not None and not committee:
        raise ValueError(
            "--uncertainty-threshold needs a committee: give --model several model files "
            "(orbjax.load_committee)"
        )
    if on_uncertain not in ON_UNCERTAIN:
        raise ValueError(f"on_uncertain must be one of {ON_UNCERTAIN}, not {on_uncertain!r}")
    settings = {
        "ensemble": ensemble,
        "timestep": float(timestep),
        "temperature": float(temperature),
        "friction": float(friction),
        "seed": int(seed),
        "interval": int(interval),
        "skin": float(skin),
    }
    if potential.level != 0:  # a run of another level of theory resumes only at that level
        settings["level"] = potential.statistics.levels[potential.level]
    if ensemble == "npt":
        settings.update(
            pressure_GPa=float(pressure_gpa),
            compressibility_per_GPa=float(compressibility_per_gpa),
            barostat_time=float(barostat_time),
        )
    md = MolecularDynamics.create(
        potential,
        atoms,
        ensemble,
        timestep,
        temperature,
        friction,
        seed,
        skin,
        pressure=pressure_gpa * GPA,
        compressibility=compressibility_per_gpa / GPA,
        barostat_time=barostat_time,
    )
    # after the checks of `create` (elements, cell): none left empty
    out.mkdir(parents=True, exist_ok=True)
    _check_settings(out, settings, model, len(atoms))
    if (out / "stopped.json").exists():  # a stopped run is finished: a rerun changes nothing
        md.stopped_at = int(json.loads((out / "stopped.json").read_text())["step"])
        return md
    fields = NPT_THERMO_FIELDS if ensemble == "npt" else THERMO_FIELDS
    if committee:
        fields = fields[:-3] + ("max_force_std_eV_A",) + fields[-3:]
    if (out / "state.npz").exists():
        saved = np.load(out / "state.npz")
        _truncate(out / "trajectory.extxyz", int(saved["trajectory_bytes"]))
        _truncate(out / "thermo.csv", int(saved["thermo_bytes"]))
        state, nbrs = md.initial_state(
            saved["positions"], saved["velocities"], saved["cell"] if "cell" in saved else None
        )
        state = state.replace(step=state.step + int(saved["step"]))
    else:
        velocities = (
            atoms.get_velocities() * units.fs
            if np.any(atoms.get_momenta())
            else md.maxwell_boltzmann(temperature, seed)
        )  # Å/fs
        state, nbrs = md.initial_state(atoms.positions, velocities)
        with open(out / "thermo.csv", "w", newline="") as f:
            csv.writer(f).writerow(fields)
        open(out / "trajectory.extxyz", "w").close()
        _write(out, md, atoms, state, nbrs, fields)
        if _uncertain(out, md, atoms, state, uncertainty_threshold, on_uncertain):
            return md
    bar = _progress(progress, steps, int(state.step))
    for state, nbrs in md.run(state, nbrs, steps, interval):
        _write(out, md, atoms, state, nbrs, fields)
        if _uncertain(out, md, atoms, state, uncertainty_threshold, on_uncertain):
            break
        if _stop(out, md, state, stop_when):
            break
        if bar is not None:
            bar.update(int(state.step) - bar.n)
            bar.set_postfix(T=f"{md.thermo(state)['temperature_K']:.0f} K", refresh=False)
    if bar is not None:
        bar.close()
    return md


def _uncertain(
    out: Path, md: MolecularDynamics, atoms: Atoms, state: MDState, threshold, on_uncertain
) -> bool:
    """Whether the run stops here: the step's max force spread crossed `threshold` (eV/Å)
    and `on_uncertain` is "stop". A crossing frame is appended to uncertain.extxyz."""
    if threshold is None or not float(state.force_std) > threshold:
        return False
    with open(out / "uncertain.extxyz", "a") as f:
        f.write(_frame_text(md, atoms, state))
    if on_uncertain != "stop":
        return False
    md.stopped_at = int(state.step)
    record = {
        "step": md.stopped_at,
        "max_force_std_eV_A": float(state.force_std),
        "threshold_eV_A": threshold,
    }
    (out / "stopped.json").write_text(json.dumps(record) + "\n")
    return True


def _stop(out: Path, md: MolecularDynamics, state: MDState, stop_when) -> bool:
    """Whether `stop_when` ends the run at this step (its reason goes to stopped.json)."""
    if stop_when is None:
        return False
    reason = stop_when(md.thermo(state), np.asarray(state.positions, np.float64))
    if not reason:
        return False
    md.stopped_at = int(state.step)
    (out / "stopped.json").write_text(json.dumps({"step": md.stopped_at, "reason": reason}) + "\n")
    return True


def _frame_text(md: MolecularDynamics, atoms: Atoms, state: MDState) -> str:
    """`state` as one extxyz frame (energy eV, forces eV/Å; a committee's spread in info)."""
    thermo = md.thermo(state)
    frame = atoms.copy()
    frame.positions = np.asarray(state.positions, np.float64)
    if atoms.pbc.any():
        frame.cell = np.asarray(state.cell, np.float64)
    frame.set_velocities(np.asarray(state.velocities, np.float64) / units.fs)  # Å/fs → ASE units
    frame.info = {"step": thermo["step"], "time_fs": thermo["time_fs"]}
    if "max_force_std_eV_A" in thermo:
        frame.info["max_force_std_eV_A"] = thermo["max_force_std_eV_A"]
    frame.calc = SinglePointCalculator(
        frame, energy=thermo["potential_energy_eV"], forces=np.asarray(state.forces, np.float64)
    )
    buffer = io.StringIO()
    write(buffer, frame, format="extxyz")
    return buffer.getvalue()


def _write(out: Path, md: MolecularDynamics, atoms: Atoms, state: MDState, nbrs, fields) -> None:
    thermo = md.thermo(state)
    with open(out / "trajectory.extxyz", "a") as f:
        f.write(_frame_text(md, atoms, state))
    with open(out / "thermo.csv", "a", newline="") as f:
        row = {
            **thermo,
            "neighbour_builds": int(nbrs.n_builds),
            "capacity": nbrs.capacity,
            "candidate_capacity": nbrs.candidate_capacity,
        }
        csv.writer(f).writerow([row[k] for k in fields])
    tmp = out / "state.tmp.npz"
    np.savez(
        tmp,
        step=thermo["step"],
        positions=np.asarray(state.positions, np.float64),
        velocities=np.asarray(state.velocities, np.float64),
        cell=np.asarray(state.cell, np.float64),
        trajectory_bytes=(out / "trajectory.extxyz").stat().st_size,
        thermo_bytes=(out / "thermo.csv").stat().st_size,
    )
    os.replace(tmp, out / "state.npz")


def _check_settings(out: Path, settings: dict, model: str, n_atoms: int) -> None:
    path = out / "run.json"
    record = {**settings, "n_atoms": n_atoms}
    if path.exists():
        saved = json.loads(path.read_text())
        keys = (set(record) | set(saved)) - {"model"}  # a setting only the saved run has counts
        differ = {
            k: (saved.get(k), record.get(k)) for k in sorted(keys) if saved.get(k) != record.get(k)
        }
        if differ:
            raise ValueError(
                f"{out} holds a run with other settings (saved, now): {differ}; "
                "use another --out directory"
            )
        return
    path.write_text(json.dumps({**record, "model": str(model)}, indent=1) + "\n")


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)


def _progress(enabled: bool, total: int, initial: int):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True)
