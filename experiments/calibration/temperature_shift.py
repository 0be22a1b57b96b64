"""A real temperature shift for the grown CHNO set: committees trained on 300 and 500 K
frames only, scored on the test molecules' 800 K frames.

    python -m experiments.calibration.temperature_shift prepare    # data/calibration/*.h5
    python -m orbjax.sweep --config configs/sweeps/calibration_shift.py --launcher local --workers 1
    python -m experiments.calibration.temperature_shift export     # models/ + check CSV
    python -m experiments.calibration.score && python -m experiments.calibration.analyse

The learning-curve committees saw all three MD temperatures, so their "shifted" CHNO set
(the hottest third of the test molecules) is no shift. Here the split is the learning
curves' own (`configs/sweeps/lc_chno_grown.py`, split_seed 0: the same validation and test
molecules), but training and validation keep only the frames sampled at ≤ 500 K
(`COOL_MAX_K`); the test file keeps every test frame, and the calibration study's `score`
splits it into `test` (300/500 K, in distribution) and `shifted` (800 K). Each grown CHNO
molecule was sampled at one temperature, so the 800 K test molecules are unseen molecules
at an unseen temperature (as every test molecule is unseen).

Files (git-ignored, rebuilt by `prepare` from the prepared learning-curve data):
`data/calibration/chno_grown_cool_train.h5`, `..._cool_val.h5`, `chno_grown_test.h5`.
Models: `experiments/calibration/models/chno_grown_cool/n<N>/seed<S>/model.orbjax`, checked
against their runs' test errors (`models/check_chno_grown_cool.csv`).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from experiments.common.paths import REPO

HERE = Path(__file__).resolve().parent
DATA = Path("data") / "calibration"
SOURCE = "experiments/learning_curves/models/chno_grown/energy_only/n200/seed0/model.orbjax"
COOL_MAX_K = 500.0  # K: the training and validation frames' highest MD temperature
FILES = {
    "train": "chno_grown_cool_train.h5",
    "val": "chno_grown_cool_val.h5",
    "test": "chno_grown_test.h5",
}
DATASET = "chno_grown_cool"
RUNS = Path("runs") / "calibration" / "chno_grown_cool"
MODELS = HERE / "models" / DATASET


def cool(structures) -> list:
    """The frames sampled at ≤ COOL_MAX_K (every grown CHNO frame records md_temperature)."""
    missing = [s.name for s in structures if "md_temperature" not in s.info]
    if missing:
        raise ValueError(f"{missing[0]}: no md_temperature in its info ({len(missing)} such)")
    return [s for s in structures if float(s.info["md_temperature"]) <= COOL_MAX_K]


def prepare(out: Path = DATA) -> dict[str, int]:
    """Write the three files from the learning curves' split; returns their sizes."""
    from orbjax.data.dataset import write_dataset
    from orbjax.model.io import load_model_file
    from orbjax.training.data import split_structures

    data = load_model_file(REPO / SOURCE).config.data
    data.n_train = 0  # the whole training split (the source model's n is 200)
    parts = split_structures(data, 0)
    chosen = {"train": cool(parts.train), "val": cool(parts.val), "test": parts.test}
    out.mkdir(parents=True, exist_ok=True)
    for part, structures in chosen.items():
        write_dataset(out / FILES[part], structures, {"method": "wB97X/6-31G(d)"})
    sizes = {part: len(s) for part, s in chosen.items()}
    print(f"{out}: {sizes} (of {len(parts.train)} / {len(parts.val)} / {len(parts.test)})")
    return sizes


def _count(path: Path) -> int:
    from orbjax.data.dataset import read_arrays

    return len(read_arrays(path)[0]["structures"]["mol_id"])


def export() -> int:
    """Copy each finished run's model to MODELS/n<N>/seed<S>/ and check it reproduces its
    run's test errors (`models/check_chno_grown_cool.csv`); 1 if one differs."""
    from experiments.common.runs import sweep_runs
    from experiments.common.tables import write_csv
    from experiments.learning_curves.export_models import reproduces
    from orbjax.evaluation import compute_metrics, predict_structures
    from orbjax.model.io import load_model_file
    from orbjax.training.data import split_structures

    rows, test = [], None
    if MODELS.exists():  # only this sweep's models: none left from an earlier one
        shutil.rmtree(MODELS)
    for run in sweep_runs(REPO / RUNS):
        o = run.overrides
        n = int(o["data.n_train"]) or _count(REPO / o["data.train_path"])  # 0: the whole file
        dest = MODELS / f"n{n}" / f"seed{int(o['seed'])}" / "model.orbjax"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run.workdir / "model.orbjax", dest)
        trained = load_model_file(dest)
        if test is None:
            test = split_structures(trained.config.data, trained.config.seed).test
        metrics, _ = compute_metrics(predict_structures(trained, test))
        final = run.final_metrics()
        same = reproduces(
            metrics["energy_mae"],
            metrics["forces_mae"],
            final["test_energy_mae"],
            final["test_forces_mae"],
            test,
        )
        rows.append(
            {
                "path": str(dest.relative_to(HERE)),
                "run": run.name,
                "test_energy_mae": f"{metrics['energy_mae']:.3f}",
                "run_test_energy_mae": f"{final['test_energy_mae']:.3f}",
                "test_forces_mae": f"{metrics['forces_mae']:.1f}",
                "run_test_forces_mae": f"{final['test_forces_mae']:.1f}",
                "same": same,
            }
        )
        print(rows[-1], flush=True)
    if not rows:
        print(f"{RUNS}: no finished runs", file=sys.stderr)
        return 1
    write_csv(HERE / "models" / f"check_{DATASET}.csv", rows)
    return int(not all(r["same"] for r in rows))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("stage", choices=("prepare", "export"))
    args = p.parse_args(argv)
    import os

    os.chdir(REPO)  # the data paths of the models and runs are relative to the repository
    if args.stage == "prepare":
        prepare()
        return 0
    return export()


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()
    sys.exit(main())
