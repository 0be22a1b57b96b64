"""Re-score every committed metals model file with the current loader, against its run.

    python -m experiments.metals.check_models     # after experiments.metals.prepare

For each row of `models/check.csv` (written when the models were exported, with the run's
own test MAEs) the committed file is loaded with `orbjax.load_potential` and scored on
`data/metals/test.h5` through the ASE calculator (`score.score_run`). Forces must agree to
0.05 meV/Å; energies to 0.05 meV/atom or the float32 bound of the run's own scoring (2 ulp of
each total over its atom count: the training loop summed float32 totals, the calculator now
adds Σ E0 in float64). Writes `models/check_loader.csv`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.common.tables import read_rows, write_csv
from experiments.metals.score import score_run

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "experiments" / "metals"


def main() -> int:
    import orbjax
    from orbjax.data.dataset import read_dataset
    from orbjax.runtime import tune_cpu

    tune_cpu()
    test = read_dataset(ROOT / "data" / "metals" / "test.h5")[0]
    bound = 1e3 * float(
        np.mean(
            [2 * np.spacing(np.float32(abs(float(s.labels["energy"])))) / s.n_atoms for s in test]
        )
    )
    rows = []
    for r in read_rows(HERE / "models" / "check.csv"):
        path = HERE / r["model"]
        if not path.exists() or not r.get("run_test_energy_mae"):
            continue
        errors = score_run(orbjax.load_potential(str(path)), test)
        energy = float(np.mean(errors[("energy_meV_per_atom", "all")]))
        forces = float(np.mean(errors[("forces_meV_per_A", "all")]))
        ok = (
            abs(energy - float(r["run_test_energy_mae"])) <= max(0.05, bound)
            and abs(forces - float(r["run_test_forces_mae"])) < 0.05
        )
        rows.append(
            {
                "model": r["model"],
                "test_energy_mae": energy,
                "run_test_energy_mae": r["run_test_energy_mae"],
                "test_forces_mae": forces,
                "run_test_forces_mae": r["run_test_forces_mae"],
                "energy_bound": max(0.05, bound),
                "agrees": ok,
            }
        )
        print(rows[-1], flush=True)
    write_csv(HERE / "models" / "check_loader.csv", rows, digits=6)
    bad = [r for r in rows if not r["agrees"]]
    print(f"{len(rows)} models re-scored, {len(bad)} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
