"""Stage 5: the scored energy-only and orbital metals models as one-file models, checked.

    python -m experiments.metals.export_models [--sweeps long] [--seeds 2]

Copies the best-by-validation model file (`model.orbjax`: EMA parameters, config,
statistics; no optimizer state) of every finished `energy_only` and `orbital` run of the
`decisive` and `sizes` sweeps (1,000–1,200 steps) and of the `long` sweep (6,000 steps) that
knows every element of the metals set (a small nested subsample can miss one: such runs are
listed, not exported) to `models/<variant>/n<N>/seed<S>/model.orbjax` (N: training
structures; the long runs under `models/long/`) and checks each copy:
it loads with `orbjax.load_potential` and its test energy and force MAE on `data/metals/test.h5`
equal the run's `final_metrics.json` (0.05 meV/atom, 0.05 meV/Å). Writes `models/check.csv` (rows of
models not exported this time, e.g. of other sweeps with `--sweeps`, are kept).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from experiments.common.tables import read_rows, write_csv

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "experiments" / "metals"
SWEEPS = {"decisive": "", "sizes": "", "long": "long"}  # sweep -> subdirectory of models/
VARIANTS = ("energy_only", "orbital")
ELEMENTS = {"Li", "Cu", "Ni", "Mo", "Nb", "Ta", "W", "Si", "Ge"}


def main() -> int:
    import argparse

    from ase.data import chemical_symbols

    import orbjax
    from experiments.metals.score import score_run
    from orbjax.data.dataset import read_dataset

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweeps", nargs="+", choices=list(SWEEPS), default=list(SWEEPS))
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="only these seeds (default: all)"
    )
    args = parser.parse_args()
    test = read_dataset(ROOT / "data" / "metals" / "test.h5")[0]
    rows = []
    for sweep, subdirectory in ((k, SWEEPS[k]) for k in args.sweeps):
        for run in sorted((ROOT / "runs" / "metals" / sweep).glob("*/final_metrics.json")):
            run = run.parent
            meta = json.loads((run / "run.json").read_text())
            variant = Path(meta["config_path"]).stem
            if variant not in VARIANTS or (
                args.seeds and int(meta["overrides"]["seed"]) not in args.seeds
            ):
                continue
            n_train = int(meta["overrides"].get("data.n_train", 0)) or _n_train(run)
            dest = (
                HERE
                / "models"
                / subdirectory
                / variant
                / f"n{n_train}"
                / f"seed{meta['overrides']['seed']}"
                / "model.orbjax"
            )
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run / "model.orbjax", dest)
            potential = orbjax.load_potential(str(dest))  # the copy is what is checked
            known = {chemical_symbols[z] for z in potential.statistics.species}
            if not known >= ELEMENTS:  # a small nested subsample can miss an element
                dest.unlink()
                rows.append(
                    {
                        "model": str(dest.relative_to(HERE)),
                        "agrees": False,
                        "note": f"not exported: trained without {sorted(ELEMENTS - known)}",
                    }
                )
                print(rows[-1], flush=True)
                continue
            errors = score_run(potential, test)
            final = json.loads((run / "final_metrics.json").read_text())
            energy, forces = (
                np.mean(errors[("energy_meV_per_atom", "all")]),
                np.mean(errors[("forces_meV_per_A", "all")]),
            )
            ok = (
                abs(energy - final["test_energy_mae"]) < 0.05
                and abs(forces - final["test_forces_mae"]) < 0.05
            )
            rows.append(
                {
                    "model": str(dest.relative_to(HERE)),
                    "bytes": dest.stat().st_size,
                    "test_energy_mae": energy,
                    "run_test_energy_mae": final["test_energy_mae"],
                    "test_forces_mae": forces,
                    "run_test_forces_mae": final["test_forces_mae"],
                    "agrees": ok,
                }
            )
            print(rows[-1], flush=True)
    write_csv(
        HERE / "models" / "check.csv",
        _kept_rows(HERE / "models" / "check.csv", rows) + rows,
        digits=6,
    )
    bad = [r for r in rows if not r["agrees"] and "note" not in r]
    print(
        f"{len(rows)} runs, {sum('note' in r for r in rows)} not exported (elements missing), "
        f"{len(bad)} differ"
    )
    return 1 if bad else 0


def _kept_rows(path: Path, rows: list[dict]) -> list[dict]:
    """The rows of an earlier check.csv for models not in `rows`."""
    new = {r["model"] for r in rows}
    return [r for r in read_rows(path) if r["model"] not in new]


def _n_train(run: Path) -> int:
    """Training structures of a run that used all of them (its log's first line says)."""
    for line in (run / "train.log").read_text().splitlines():
        if " train / " in line:  # "model: P parameters; N train / M val graphs; ..."
            return int(line.split(" train / ")[0].split()[-1])
    raise ValueError(f"{run}: no training-set size in train.log")


if __name__ == "__main__":
    raise SystemExit(main())
