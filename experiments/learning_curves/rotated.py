"""Per-orbital populations on randomly rotated test molecules: equivariant vs invariant head.

    python -m experiments.learning_curves.rotated      # after the sweeps; from the repository root

Per-orbital (m-resolved) populations change when a molecule rotates (each shell block goes to
D·B·Dᵀ); an invariant head can only predict each shell's rotational average. The test sets
(acac's 50 test frames, CHNO's 63 test-split structures) are rotated by one random rotation
each (seeded), relabelled with GFN1-xTB through tblite, and every finished `orbital` and
`orbital_invariant` run at n = 50 and 200 (the controls' sizes) is scored on the original and on the
rotated set with `orbjax.evaluate` (best-by-validation checkpoint). Writes `results/rotated.csv`
(one row per run, with its orbital loss weight: compare heads at the same weight, size and seed).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from experiments.common.paths import REPO
from experiments.common.runs import sweep_runs
from experiments.common.tables import write_csv
from experiments.learning_curves.collect import RESULTS, SWEEPS

ROOT = str(REPO)
DATA = os.path.join(ROOT, "data", "learning_curves")
HEADS = ("orbital", "orbital_invariant")
SIZES = (50, 200)  # the sizes of the controls, where both heads were trained


def random_rotation(rng) -> np.ndarray:
    """[3, 3] uniformly random proper rotation (QR of a Gaussian matrix, sign-fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_structures(dataset: str):
    """The test structures every run of the dataset's curve was scored on (its run config)."""
    from orbjax.sweep import build_config, expand, load_sweep
    from orbjax.training.data import split_structures

    sweep_file = os.path.join(ROOT, "configs", "sweeps", f"lc_{dataset}.py")
    config = build_config(expand(load_sweep(sweep_file), sweep_file)[0])
    return split_structures(config.data, config.seed).test  # data paths: from the repository root


def rotated_set(dataset: str) -> tuple[str, str]:
    """(original, rotated) labelled files of the dataset's test set; built once."""
    from orbjax.data.structures import Structure
    from orbjax.labels.runner import label_structures

    original = os.path.join(DATA, f"{dataset}_test_for_rotation.h5")
    rotated = os.path.join(DATA, f"{dataset}_test_rotated.h5")
    if os.path.exists(original) and os.path.exists(rotated):
        return original, rotated
    structures = test_structures(dataset)
    rng = np.random.default_rng(2026)
    turned = []
    for s in structures:
        rot = random_rotation(rng)
        labels = {"energy": s.labels["energy"], "forces": s.labels["forces"] @ rot.T}
        turned.append(
            Structure(
                s.atomic_numbers,
                s.positions @ rot.T,
                name=f"{s.name}:rotated",
                mol_id=s.mol_id,
                labels=labels,
            )
        )
    plain = [
        Structure(
            s.atomic_numbers,
            s.positions,
            name=s.name,
            mol_id=s.mol_id,
            labels={"energy": s.labels["energy"], "forces": s.labels["forces"]},
        )
        for s in structures
    ]
    label_structures(plain, original, n_workers=1, progress=False)
    label_structures(turned, rotated, n_workers=1, progress=False)
    return original, rotated


def main() -> None:
    from orbjax.evaluation import evaluate_workdir

    rows = []
    for dataset in ("acac", "chno"):
        original, rotated = rotated_set(dataset)
        sweeps = sorted(
            d
            for d in os.listdir(SWEEPS)
            if d == dataset
            or d.startswith(f"{dataset}_")
            and "noforces" not in d
            and "head_input" not in d
        )
        for sweep in sweeps:
            for run in sweep_runs(os.path.join(SWEEPS, sweep)):
                if run.config not in HEADS or run.overrides["data.n_train"] not in SIZES:
                    continue
                row = dict(
                    dataset=dataset,
                    sweep=sweep,
                    name=run.name,
                    config=run.config,
                    seed=run.overrides["seed"],
                    n_train=run.overrides["data.n_train"],
                    weight=run.overrides.get("loss.weights.orbital_populations", 100.0),
                )
                for tag, path in (("original", original), ("rotated", rotated)):
                    report = evaluate_workdir(
                        str(run.workdir),
                        path,
                        out_dir=str(run.workdir / f"eval_{tag}"),
                        plots=False,
                    )
                    row[f"{tag}_orbital_mae"] = report["metrics"]["orbital_populations_mae"]
                    row[f"{tag}_energy_mae"] = report["metrics"]["energy_mae"]
                rows.append(row)
                print(json.dumps(row), flush=True)
    write_csv(os.path.join(RESULTS, "rotated.csv"), rows, digits=None)


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()  # the settings orbjax's command lines run with (orbjax/runtime.py)
    sys.exit(main())
