"""MD stability of the scored seed-0 models on unseen test molecules: scratch against the
pretrained arms.

    python -m experiments.pretraining.md_stability        # from the repository root
    python -m experiments.pretraining.md_stability --runs 20 --ps 20 --temperature 500 \\
        --timestep 0.5 --interval 100 --arms scratch finetuned_efo --n 50 200

For every arm folder of `models/chno_grown/<arm>/n<N>/seed0/model.orbjax` (default: all of
them) and n: Langevin NVT runs (`experiments.common.md_stability.run_stability`, the
library's jitted MD) from one frame (the first) of each of the first `--runs` test molecules
of the grown-CHNO set's fixed split (`orbjax.training.data.split_structures`, split seed 0,
as the exporter scores them), in the order the split lists them. A run is unphysical from the
first frame (every `--interval` steps) where a bond of the start is longer than 1.6× its
starting length or two atoms are closer than 0.6 Å. Run directories go under
`runs/pretraining/md_stability/<arm>/n<N>/seed0/run<k>/` (resumed; finished runs are
read back, not redone). Writes `results/md_stability_runs.csv` (one row per run) and
`results/md_stability.csv` (per arm and n: runs, fraction physical with its 95 % Wilson
interval, median time to the first event among the runs with one, simulated ps, CPU-hours).

Cost, measured 2026-12-07 on this 2-core CPU machine while two other jobs ran (so upper
bounds; CPU seconds of this process, defaults --temperature 500 --timestep 0.5 --interval
100). The smoke run `--runs 2 --ps 0.05` (all 6 models, test molecules of 7 and 12 atoms)
took 10.5–16 CPU-s per run (two smoke runs), i.e. ~250 CPU-s per simulated ps per molecule,
but that is almost all the fixed cost of a run (compiling the MD for its molecule and model,
~11 CPU-s).
`--runs 2 --ps 2 --arms scratch --n 50` separates the two: 15.8 and 21.5 CPU-s per run, i.e.
~2.3 (7 atoms) and ~4.4 (12 atoms) CPU-s per simulated ps on top of the fixed ~11–13 CPU-s.
Planning figure: ~12 CPU-s + ~4–6 CPU-s per ps for a CHNO test molecule (5–20 atoms), so the
default study (6 models × 20 runs × 20 ps, every run simulated to the end) is
≈ 120 × (12 + 20 × 5) CPU-s ≈ 3.7 CPU-hours; `--arms scratch finetuned_efo` alone ≈ 2.5.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from experiments.common.stats import wilson_interval
from experiments.common.tables import write_csv

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
MODELS = HERE / "models" / "chno_grown"
SEED = 0


def parse_args(argv=None) -> argparse.Namespace:
    arms = sorted(p.parents[2].name for p in MODELS.glob(f"*/n*/seed{SEED}/model.orbjax"))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=20, help="test molecules (one run each)")
    p.add_argument("--ps", type=float, default=20.0, help="simulated time per run, ps")
    p.add_argument("--temperature", type=float, default=500.0, help="K")
    p.add_argument("--timestep", type=float, default=0.5, help="fs")
    p.add_argument("--interval", type=int, default=100, help="steps between checked frames")
    p.add_argument("--arms", nargs="+", default=sorted(set(arms)), help="arm folders")
    p.add_argument("--n", nargs="+", type=int, default=[50, 200], help="training-set sizes")
    p.add_argument("--out", default=str(ROOT / "runs" / "pretraining" / "md_stability"))
    p.add_argument("--results", default=str(HERE / "results"), help="folder of the CSVs")
    return p.parse_args(argv)


def model_path(arm: str, n: int) -> Path:
    path = MODELS / arm / f"n{n}" / f"seed{SEED}" / "model.orbjax"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such model (--arms {arm} --n {n})")
    return path


def starting_structures(paths: list[Path], runs: int) -> list:
    """The first frame of each of the first `runs` test molecules of the models' split, as
    ASE atoms (the split of `export_models`: the first model's data config and seed; every
    model must have been split the same way)."""
    from ase import Atoms

    from orbjax.model.io import load_model_file
    from orbjax.training.data import split_structures

    trained = load_model_file(paths[0])
    for path in paths[1:]:
        if _split_of(load_model_file(path).config) != _split_of(trained.config):
            raise ValueError(f"{path}: another data split than {paths[0]}")
    firsts = {}
    for s in split_structures(trained.config.data, trained.config.seed).test:
        firsts.setdefault(s.mol_id, s)
    if len(firsts) < runs:
        raise ValueError(f"--runs {runs}: the test split has only {len(firsts)} molecules")
    return [Atoms(s.atomic_numbers, s.positions) for s in list(firsts.values())[:runs]]


def _split_of(config) -> tuple:
    d = config.data
    seed = d.split_seed if d.get("split_seed", -1) >= 0 else config.seed
    return (d.train_path, seed, d.split_by, d.val_fraction, d.test_fraction, d.get("test_path"))


def summary(arm: str, n: int, rows: list[dict]) -> dict:
    """One (arm, n) line: fraction physical (Wilson 95 %), median time to the first event."""
    physical = sum(r["physical"] for r in rows)
    low, high = wilson_interval(physical, len(rows))
    events = [r["first_event_ps"] for r in rows if r["first_event_ps"] is not None]
    return {
        "arm": arm,
        "n_train": n,
        "runs": len(rows),
        "physical": physical,
        "fraction_physical": physical / len(rows),
        "wilson_low": low,
        "wilson_high": high,
        "median_first_event_ps": float(np.median(events)) if events else None,
        "simulated_ps": sum(r["simulated_ps"] for r in rows),
        "cpu_hours": sum(r["cpu_s"] for r in rows) / 3600,
    }


def main(argv=None) -> int:
    import orbjax
    from experiments.common.md_stability import run_stability

    args = parse_args(argv)
    steps = int(round(args.ps * 1000 / args.timestep))
    paths = {(arm, n): model_path(arm, n) for arm in args.arms for n in args.n}
    starts = starting_structures(list(paths.values()), args.runs)
    all_rows, summaries = [], []
    for (arm, n), path in paths.items():
        began = time.time()
        rows = run_stability(
            orbjax.load_potential(path),
            starts,
            temperature=args.temperature,
            timestep_fs=args.timestep,
            steps=steps,
            interval=args.interval,
            seed=SEED,
            out_dir=Path(args.out) / arm / f"n{n}" / f"seed{SEED}",
        )
        rows = [{"arm": arm, "n_train": n, "seed": SEED, **r} for r in rows]
        all_rows += rows
        summaries.append(summary(arm, n, rows))
        print(f"{arm} n={n}: {summaries[-1]} ({time.time() - began:.0f} s)", flush=True)
    write_csv(Path(args.results) / "md_stability_runs.csv", all_rows)
    write_csv(Path(args.results) / "md_stability.csv", summaries)
    return 0


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()  # the settings orbjax's command lines run with (orbjax/runtime.py)
    try:
        sys.exit(main())
    except (FileNotFoundError, ValueError) as err:  # bad options: one line, status 1
        sys.exit(f"md_stability: {err}")
