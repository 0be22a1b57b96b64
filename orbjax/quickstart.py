"""The quick-start job: label → train → parity plots → molecular dynamics, about a minute.

    python -m orbjax.quickstart [--workdir runs/quickstart] [--steps N] [--md-steps N]

1. Labels `orbjax/examples/chno_example.extxyz` (13 CHNO molecules × 3 conformers with
   ωB97X/6-31G(d) energies and forces) with GFN1-xTB orbital populations (tblite), and
   splits it into `train.h5` and `validation.h5` (held-out conformers, `configs/quickstart.py`
   says why not held-out molecules).
2. Trains a small model on DFT energies + forces + GFN1 per-orbital populations and prints
   the validation errors of the untrained and the trained model: the energy error should
   fall to at most half (`LEARNED_RATIO`).
3. Scores the trained model (the one-file `train/model.orbjax`) on `validation.h5` and
   writes parity plots.
4. Runs a short NVE molecular dynamics with that file through `orbjax.load_potential` and
   the library's jitted MD (`python -m orbjax.md`'s), and prints the total-energy drift and
   the temperature.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LEARNED_RATIO = 0.5  # trained / untrained validation energy MAE the quick start should reach


def command(argv=None) -> int:
    """`python -m orbjax.quickstart`: `main`, with a user's error (e.g. a --workdir that is a
    file) as one line and exit status 1; returns the exit status."""
    from orbjax import cli

    argv = list(sys.argv[1:] if argv is None else argv)

    def body() -> int:
        main(argv)
        return 0

    return cli.run(body, argv)


def main(argv=None) -> dict:
    """The whole job; returns the summary it writes to WORKDIR/summary.json."""
    from orbjax.cli import ArgumentParser

    parser = ArgumentParser(prog="python -m orbjax.quickstart", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/quickstart", help="where everything is written")
    parser.add_argument(
        "--steps", type=int, default=None, help="training steps (default: configs/quickstart.py's)"
    )
    parser.add_argument("--md-steps", type=int, default=200, help="velocity Verlet steps of 0.5 fs")
    args = parser.parse_args(argv)
    wall_start, cpu_start = time.perf_counter(), time.process_time()

    from orbjax.config import load_config_module

    if os.path.exists(args.workdir) and not os.path.isdir(args.workdir):
        raise NotADirectoryError(f"--workdir {args.workdir}: exists and is not a directory")
    os.makedirs(args.workdir, exist_ok=True)
    config = load_config_module(str(REPO / "configs" / "quickstart.py")).get_config()
    if args.steps:
        config.train.num_steps = args.steps
        config.train.eval_every = config.train.checkpoint_every = min(
            config.train.eval_every, args.steps
        )
    train_dir = os.path.join(args.workdir, "train")

    print("[1/4] GFN1-xTB labels for the bundled example, split into training and validation")
    labelled = label_example(args.workdir)
    config.data.train_path, config.data.val_path = split_example(labelled, config, args.workdir)
    print(f"[2/4] training ({config.train.num_steps} steps) → {train_dir}")
    learning = train(config, train_dir)
    print(f"[3/4] the trained model on {config.data.val_path}")
    evaluation = evaluate(train_dir, config.data.val_path)
    model_file = os.path.join(train_dir, "model.orbjax")
    print(f"[4/4] {args.md_steps} steps of NVE molecular dynamics (0.5 fs) with {model_file}")
    md = run_md(model_file, config.data.val_path, os.path.join(args.workdir, "md"), args.md_steps)
    summary = {
        "learning": learning,
        "validation_metrics": evaluation["metrics"],
        "plots": evaluation["plots"],
        "model_file": model_file,
        "model_file_bytes": os.path.getsize(model_file),
        "md": md,
        # the whole job after the imports of this module: labels, training (with its XLA
        # compilations), evaluation and MD; CPU seconds of every thread of the process
        "time": {
            "wall_s": time.perf_counter() - wall_start,
            "process_cpu_s": time.process_time() - cpu_start,
            "cpu_count": os.cpu_count(),
        },
    }
    with open(os.path.join(args.workdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary


def label_example(workdir: str) -> str:
    """GFN1-xTB labels for the bundled example in WORKDIR/example_gfn1.h5 (a no-op if done)."""
    from orbjax.data.readers import CHNO_KEYS, example_path, read_structures
    from orbjax.labels.runner import label_structures

    labelled = os.path.join(workdir, "example_gfn1.h5")
    report = label_structures(read_structures(example_path(), keys=CHNO_KEYS), labelled)
    print(
        f"      {example_path().name}: {report.n_labelled} labelled, {report.n_failed} failed, "
        f"{report.seconds:.1f} s → {labelled}"
    )
    return labelled


def split_example(labelled: str, config, workdir: str) -> tuple[str, str]:
    """WORKDIR/train.h5 and WORKDIR/validation.h5, split as `config.data` says.

    Written as files so that the validation structures can be scored and plotted after
    training, and so that a newcomer sees what the model was and was not trained on.
    """
    from orbjax.data.dataset import read_dataset, write_dataset
    from orbjax.data.splits import split_indices

    structures, attrs = read_dataset(labelled)
    fraction = config.data.val_fraction
    train_idx, val_idx, _ = split_indices(
        structures,
        fractions=(1.0 - fraction, fraction, 0.0),
        seed=config.data.split_seed,
        by=config.data.split_by,
    )
    paths = os.path.join(workdir, "train.h5"), os.path.join(workdir, "validation.h5")
    for path, idx in zip(paths, (train_idx, val_idx)):
        write_dataset(path, [structures[i] for i in idx], attrs)
    held_out = {structures[i].mol_id for i in val_idx}
    print(
        f"      {len(train_idx)} training structures; {len(val_idx)} validation structures "
        f"(conformers of {len(held_out)} molecules, split by {config.data.split_by})"
    )
    return paths


def train(config, train_dir: str) -> dict:
    """Train; the validation errors of the untrained (step 0) and the final model, printed."""
    from orbjax.training.loop import train_and_evaluate
    from orbjax.training.metrics_log import read_metrics

    train_and_evaluate(config, train_dir)
    curve = read_metrics(train_dir, "val")
    before, after = curve[min(curve)], curve[max(curve)]
    ratio = after["energy_mae"] / before["energy_mae"]
    print(
        f"      validation energy MAE: untrained {before['energy_mae']:.1f} → trained "
        f"{after['energy_mae']:.1f} meV/atom (ratio {ratio:.2f}); forces MAE "
        f"{before['forces_mae']:.0f} → {after['forces_mae']:.0f} meV/Å"
    )
    if ratio > LEARNED_RATIO:
        print(
            f"      the energy error did not halve (ratio {ratio:.2f} > {LEARNED_RATIO}): "
            "too few steps? (--steps)"
        )
    return {
        "untrained": {k: before[k] for k in ("energy_mae", "forces_mae")},
        "trained": {k: after[k] for k in ("energy_mae", "forces_mae")},
        "steps": max(curve),
        "energy_mae_ratio": ratio,
    }


def evaluate(train_dir: str, data_path: str) -> dict:
    """Metrics and parity plots of the best checkpoint (= model.orbjax) on `data_path`."""
    from orbjax.evaluation import evaluate_workdir

    report = evaluate_workdir(train_dir, data_path)
    m = report["metrics"]
    print(
        f"      step {report['step']}: energy MAE {m['energy_mae']:.1f} meV/atom, forces MAE "
        f"{m['forces_mae']:.0f} meV/Å, orbital populations MAE "
        f"{m['orbital_populations_mae']:.1f} me"
    )
    print("      parity plots (prediction against label):")
    for path in report["plots"]:
        print(f"        {path}")
    return report


def run_md(
    model_file: str,
    structures_path: str,
    out_dir: str,
    steps: int = 200,
    temperature_K: float = 300.0,
) -> dict:
    """NVE velocity Verlet (0.5 fs) of the first validation molecule from `temperature_K`.

    Uses exactly what a user would: the one-file model, `load_potential` and the library's
    jitted MD (`orbjax.potential.md_run.run_md`, what `python -m orbjax.md` runs), started
    afresh in `out_dir` (trajectory.extxyz and thermo.csv every 10 steps). Prints and returns
    the total-energy drift (a conservative potential keeps it small) and the temperature.
    """
    import shutil

    from ase import Atoms
    from ase.md.velocitydistribution import Stationary, ZeroRotation

    import orbjax
    from orbjax.data.dataset import read_dataset
    from orbjax.potential.md_run import run_md as library_run_md

    s = read_dataset(structures_path)[0][0]
    atoms = Atoms(numbers=s.atomic_numbers, positions=s.positions)
    _thermalize(atoms, temperature_K)  # run_md starts from the velocities of `atoms`
    Stationary(atoms)
    ZeroRotation(atoms)
    shutil.rmtree(out_dir, ignore_errors=True)  # run_md would resume a run found there
    library_run_md(
        orbjax.load_potential(model_file),
        atoms,
        out_dir,
        steps,
        ensemble="nve",
        temperature=temperature_K,
        timestep=0.5,
        interval=10,
        progress=False,
        model=model_file,
    )
    thermo = _read_thermo(os.path.join(out_dir, "thermo.csv"))
    total, temperature = thermo["total_energy_eV"], thermo["temperature_K"]
    trajectory = os.path.join(out_dir, "trajectory.extxyz")
    drift = total[-1] - total[0]
    formula = atoms.get_chemical_formula()
    print(
        f"      {formula}: total energy {total[0]:.4f} → {total[-1]:.4f} eV "
        f"(drift {1000 * drift / len(atoms):+.2f} meV/atom); temperature {temperature[0]:.0f} → "
        f"{temperature[-1]:.0f} K (max {max(temperature):.0f} K); trajectory {trajectory}"
    )
    return {
        "formula": formula,
        "steps": steps,
        "total_energy_start": total[0],
        "total_energy_end": total[-1],
        "drift_meV_per_atom": 1000 * drift / len(atoms),
        "temperature_start": temperature[0],
        "temperature_end": temperature[-1],
        "trajectory": trajectory,
    }


def _read_thermo(path: str) -> dict[str, list[float]]:
    """The columns of an MD run's thermo.csv, as floats."""
    import csv

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: [float(row[key]) for row in rows] for key in rows[0]}


def _thermalize(atoms, temperature_K: float) -> None:
    """Maxwell–Boltzmann velocities, reproducibly (ase ≥ 3.25 renamed the function)."""
    try:
        from ase.md.velocitydistribution import thermalize_momenta
    except ImportError:  # ase < 3.25
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta
    thermalize_momenta(atoms, temperature_K=temperature_K, rng=np.random.default_rng(0))


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()  # before JAX starts its backend (orbjax/runtime.py)
    sys.exit(command())
