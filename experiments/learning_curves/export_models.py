"""Stage 5: the scored models of every energy-only and orbital run as one-file models, checked.

    python -m experiments.learning_curves.export_models      # from the repository root

Copies (or exports) the best-by-validation model of every finished `energy_only` and
`orbital` run of the acac, CHNO and grown-CHNO curves (weight 100: variant `orbital`; the
chosen-weight curves `<dataset>_w<W>`: variant `orbital_w<W>`) to
`models/<dataset>/<variant>/n<N>/seed<S>/model.orbjax` (EMA parameters, config, statistics; ~0.5 MB
each; `orbjax.load_potential(path)` loads it) and re-scores each file on its test set:
the force MAE must equal `results/<dataset>.csv` to the printed digit (0.1 meV/Å) and the
energy MAE to 0.01 meV/atom or the float32 bound (round-off of ~1e4 eV totals in the training loop's
scoring). Writes `models/check_<dataset>.csv`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

from experiments.common.tables import read_rows, write_csv
from experiments.learning_curves.collect import DATASETS, FULL_SIZE, RESULTS, SWEEPS, record_stage

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "models")
VARIANTS = ("energy_only", "orbital")
ENERGY_TOLERANCE = 0.01  # meV/atom, see below


def main() -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", choices=DATASETS, action="append", help="default: all")
    datasets = p.parse_args().dataset or list(DATASETS)
    for dataset in datasets:
        if check_dataset(dataset):
            return 1
    return 0


def _runs(dataset: str):
    """(sweep, run name, CSV row, variant) of every finished run to export: energy-only and
    orbital of the weight-100 curve, and the chosen-weight curves (`<dataset>_w<W>.csv`)."""
    import glob
    import re

    sources = [(dataset, None)]
    for path in sorted(glob.glob(os.path.join(RESULTS, f"{dataset}_w*.csv"))):
        match = re.fullmatch(rf"{dataset}_w([0-9.e+]+)\.csv", os.path.basename(path))
        if match:
            sources.append((f"{dataset}_w{match.group(1)}", f"orbital_w{match.group(1)}"))
    for sweep, variant in sources:
        results = {r["name"]: r for r in read_rows(os.path.join(RESULTS, f"{sweep}.csv"))}
        for name, r in sorted(results.items()):
            if r["status"] == "finished" and r["config"] in VARIANTS:
                yield sweep, name, r, variant or r["config"]


def float32_bound(structures) -> float:
    """meV/atom: the most float32 rounding of a total and its label moves an energy MAE
    (2 ulp of each |E| over its atom count, averaged over the structures)."""
    import numpy as np

    return 1e3 * float(
        np.mean(
            [
                2 * np.spacing(np.float32(abs(float(s.labels["energy"])))) / s.n_atoms
                for s in structures
                if "energy" in s.labels
            ]
        )
    )


def reproduces(energy_mae, forces_mae, logged_energy_mae, logged_forces_mae, structures) -> bool:
    """Whether a model file's re-scored test errors (meV/atom, meV/Å) are its run's logged
    ones: forces to the logged 0.1 meV/Å, energy to ENERGY_TOLERANCE or the float32 bound.

    The training loop scored float32 totals against float32-cast labels (~1e4 eV: one ulp is
    ~1 meV per structure); re-scoring uses exact totals (network + Σ E0 in float64, model file
    format 2 or 1). Their MAEs may differ by the two roundings: ≤ 2 ulp / n_atoms."""
    return (
        abs(energy_mae - float(logged_energy_mae))
        <= max(ENERGY_TOLERANCE, float32_bound(structures))
        and f"{forces_mae:.1f}" == f"{float(logged_forces_mae):.1f}"
    )


def check_dataset(dataset: str) -> int:
    """Export and re-score the models of one dataset; writes models/check_<dataset>.csv; returns
    the number of models whose errors differ from the CSV."""
    import time

    import orbjax
    from orbjax.evaluation import compute_metrics, predict_structures
    from orbjax.model.io import export_model, load_model_file
    from orbjax.training.data import split_structures

    started = (time.time(), time.process_time())
    rows, bad, missing = [], 0, []
    cache = {}
    for sweep, name, r, variant in _runs(dataset):
        workdir = os.path.join(SWEEPS, sweep, name)
        n = int(r["data.n_train"]) or FULL_SIZE[dataset]
        dest = os.path.join(MODELS, dataset, variant, f"n{n}", f"seed{r['seed']}", "model.orbjax")
        # trained where its run directory is gone
        if not os.path.exists(dest) and not os.path.isdir(workdir):
            missing.append(os.path.relpath(dest, HERE))
            continue
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if not os.path.exists(dest):
            source = os.path.join(workdir, "model.orbjax")
            if os.path.exists(source):
                shutil.copyfile(source, dest)
            else:
                export_model(workdir, dest)
        trained = load_model_file(dest)
        config = trained.config
        key = (config.data.train_path, config.data.get("test_path"), config.data.split_seed)
        if key not in cache:  # the fixed test set (the same for every run of the dataset)
            cache[key] = split_structures(config.data, config.seed).test
        metrics, _ = compute_metrics(predict_structures(trained, cache[key]))
        energy, forces = metrics["energy_mae"], metrics["forces_mae"]
        same = reproduces(energy, forces, r["test_energy_mae"], r["test_forces_mae"], cache[key])
        bad += not same
        rows.append(
            dict(
                path=os.path.relpath(dest, HERE),
                size_bytes=os.path.getsize(dest),
                test_energy_mae=f"{energy:.3f}",
                csv_test_energy_mae=f"{float(r['test_energy_mae']):.3f}",
                test_forces_mae=f"{forces:.1f}",
                csv_test_forces_mae=f"{float(r['test_forces_mae']):.1f}",
                same=same,
            )
        )
        print(json.dumps(rows[-1]), flush=True)
    write_csv(os.path.join(MODELS, f"check_{dataset}.csv"), rows)
    total = sum(r["size_bytes"] for r in rows)
    record_stage(f"export {dataset}", started, f"{len(rows)} models re-scored, {bad} differ")
    print(
        f"{dataset}: {len(rows)} models, {total / 2**20:.1f} MiB, {bad} differ from the CSV; "
        f"{len(missing)} scored runs neither committed nor in {SWEEPS}: {' '.join(missing)}"
    )
    # One model through the public loader (jit-able pure function) on one test structure.
    potential = orbjax.load_potential(os.path.join(HERE, rows[-1]["path"]))
    s = cache[next(iter(cache))][0]
    out = potential.energy_forces_stress(s.positions, s.atomic_numbers, s.cell, s.pbc)
    print(
        "load_potential energy of",
        s.name,
        float(out[0] if isinstance(out, tuple) else out["energy"]),
        "eV",
    )
    return bad


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()  # the settings orbjax's command lines run with (orbjax/runtime.py)
    sys.exit(main())
