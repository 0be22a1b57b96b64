"""A geometry optimisation's energy log with float64 totals, against float32 totals.

    python -m benchmarks.bfgs_energy_log [--out benchmarks/bfgs_energy_log.csv]

ASE's BFGS (fmax 0.01 eV/Å) on the largest molecule of the bundled example, with a
committed DFT model (ωB97X totals of ~−10⁴ eV; default: the grown-CHNO energy-only model
trained on all 1,205 structures, seed 0) computing in float32 through `OrbjaxCalculator`. Per step
the CSV holds the energy the calculator reports (network part + Σ E0 added in float64) and the same
total formed in float32 (what orbjax reported before totals were exact): near the minimum the
float32 total moves in steps of one ulp (~1 meV at −10⁴ eV) and stalls or jitters, while the float64
total keeps decreasing. (ASE's BFGS has no line search: a rise of the energy at a step is the
optimiser's, in both columns.)
"""

from __future__ import annotations

import argparse
import csv
import os

import numpy as np

MODEL = os.path.join(
    os.path.dirname(__file__),
    "..",
    "experiments",
    "learning_curves",
    "models",
    "chno_grown",
    "energy_only",
    "n1205",
    "seed0",
    "model.orbjax",
)


def main(argv=None) -> None:
    from ase import Atoms
    from ase.optimize import BFGS

    import orbjax
    from orbjax.data.readers import CHNO_KEYS, example_path, read_structures
    from orbjax.runtime import tune_cpu

    tune_cpu()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "bfgs_energy_log.csv"))
    p.add_argument("--model", default=MODEL, help="model file")
    args = p.parse_args(argv)
    s = max(read_structures(example_path(), keys=CHNO_KEYS), key=lambda s: s.n_atoms)
    atoms = Atoms(numbers=s.atomic_numbers, positions=s.positions)
    potential = orbjax.load_potential(args.model)
    atoms.calc = orbjax.OrbjaxCalculator(potential)
    reference = potential.reference_energy(atoms.numbers)
    rows = []

    def record():
        e = atoms.get_potential_energy()
        fmax = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
        e32 = float(np.float32(np.float32(e - reference) + np.float32(reference)))
        rows.append(
            {"step": len(rows), "energy_eV": e, "energy_float32_total_eV": e32, "fmax_eV_A": fmax}
        )

    opt = BFGS(atoms, logfile=None)
    opt.attach(record)
    opt.run(fmax=0.01, steps=300)
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    e, e32 = (
        np.array([r["energy_eV"] for r in rows]),
        np.array([r["energy_float32_total_eV"] for r in rows]),
    )
    print(
        f"{s.name}: {len(atoms)} atoms, {len(rows)} steps, fmax {rows[-1]['fmax_eV_A']:.4f} eV/Å; "
        f"float64 totals: {int((np.diff(e) > 0).sum())} rises, last 10 steps "
        f"{len(set(np.round(e[-10:], 9)))} distinct values; float32 totals: "
        f"{int((np.diff(e32) > 0).sum())} rises, "
        f"last 10 steps {len(set(e32[-10:]))} distinct values; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
