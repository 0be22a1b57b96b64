"""The scored models of the decisive comparison as one-file models, checked against their rows.

    python -m experiments.pretraining.export_models      # from the repository root

Copies the best-by-validation model of each run that `decisive_ratios.csv` compares to
`models/chno_grown/<arm>/n<N>/seed<S>/model.orbjax` (~0.5 MB each; `orbjax.load_potential`
loads it): every seed of the decisive arm (`finetuned_efo`: GFN1 energy + forces + orbitals
pretraining, fine-tuned at 1× and the chosen learning rate), seed 0 of the other arms
(`finetuned_ef`; `scratch` at the budget the ratios use, and at every size where its budget
is shown converged; the pretraining-size arms of `decisive_size.csv`). Each file is re-scored on the
grown-CHNO test set: the force MAE must equal `results/decisive_runs.csv` to 0.1 meV/Å and
the energy MAE to 0.01 meV/atom or the float32 bound (see the learning curves' exporter).
Writes `models/check_chno_grown.csv`. A model already committed is checked, not copied again.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from experiments.common.tables import read_rows, write_csv
from experiments.learning_curves.export_models import reproduces

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
MODELS = HERE / "models"
DATASET = "chno_grown"
DECISIVE_ARM = "finetuned_efo"


def scored_runs() -> list[dict]:
    """The rows of `decisive_runs.csv` to export: the compared runs of each (arm, n) of
    `decisive_ratios.csv`, all seeds for the decisive arm, seed 0 for the others."""
    runs = read_rows(RESULTS / "decisive_runs.csv")
    choice = json.loads((RESULTS / "recipe_choice.json").read_text())["learning_rate"]
    chosen = []
    for r in read_rows(RESULTS / "decisive_ratios.csv"):
        if r["metric"] != "test_energy_mae":
            continue
        n = r["n_train"]
        for arm, budget in ((r["arm"], "1x"), ("scratch", r["scratch_budget"])):
            for row in runs:
                if (row["arm"], row["n_train"], row["budget"]) != (arm, n, budget):
                    continue
                if arm != "scratch" and float(row["learning_rate"]) != choice:
                    continue
                if arm == DECISIVE_ARM or row["seed"] == "0":
                    chosen.append(row)
    wanted = {(r["arm"], r["n_train"], "1x") for r in read_rows(RESULTS / "decisive_size.csv")}
    wanted |= {  # scratch wherever its budget is shown converged (beyond the ratios' sizes)
        ("scratch", r["n_train"], r["budget"])
        for r in read_rows(RESULTS / "decisive_budget.csv")
        if r["arm"] == "scratch" and r["converged_5pct"] == "True"
    }
    chosen += [
        row
        for row in runs
        if (row["arm"], row["n_train"], row["budget"]) in wanted
        and row["seed"] == "0"
        and (row["arm"] == "scratch" or float(row["learning_rate"]) == choice)
    ]
    unique = {row["name"]: row for row in chosen}
    return sorted(unique.values(), key=lambda r: (r["arm"], int(r["n_train"]), int(r["seed"])))


def main() -> int:
    from orbjax.evaluation import compute_metrics, predict_structures
    from orbjax.model.io import load_model_file
    from orbjax.training.data import split_structures

    rows, missing, test = [], [], None
    for r in scored_runs():
        folder = MODELS / DATASET / r["arm"] / f"n{r['n_train']}" / f"seed{r['seed']}"
        dest = folder / "model.orbjax"
        source = ROOT / "runs" / "pretraining" / r["name"] / "model.orbjax"
        if not dest.exists():
            if not source.exists():  # scored, but its run directory is gone
                missing.append(str(dest.relative_to(HERE)))
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
        trained = load_model_file(dest)
        if test is None:  # the fixed test split, the same for every run
            test = split_structures(trained.config.data, trained.config.seed).test
        metrics, _ = compute_metrics(predict_structures(trained, test))
        energy, forces = metrics["energy_mae"], metrics["forces_mae"]
        same = reproduces(energy, forces, r["test_energy_mae"], r["test_forces_mae"], test)
        rows.append(
            {
                "path": str(dest.relative_to(HERE)),
                "run": r["name"],
                "size_bytes": dest.stat().st_size,
                "test_energy_mae": f"{energy:.3f}",
                "csv_test_energy_mae": f"{float(r['test_energy_mae']):.3f}",
                "test_forces_mae": f"{forces:.1f}",
                "csv_test_forces_mae": f"{float(r['test_forces_mae']):.1f}",
                "same": same,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    write_csv(MODELS / f"check_{DATASET}.csv", rows)
    bad = sum(not r["same"] for r in rows)
    total = sum(r["size_bytes"] for r in rows) / 2**20
    print(
        f"{DATASET}: {len(rows)} models, {total:.1f} MiB, {bad} differ from the CSV; "
        f"{len(missing)} scored runs with no directory: {' '.join(missing)}"
    )
    return int(bad > 0 or not rows)


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()  # the settings orbjax's command lines run with (orbjax/runtime.py)
    sys.exit(main())
