"""Stage 4: 1,000 steps of NVT molecular dynamics (ASE Langevin) with a trained metals model.

    python -m experiments.metals.md [--model
        runs/metals/decisive/seed=0,config=orbital,.../model.orbjax]

A 128-atom bcc Mo cell (4×4×4 conventional cells, a = 3.16 Å, the PBE lattice constant)
at 300 K, 1 fs steps, friction 0.01 fs⁻¹, run with `orbjax.OrbjaxCalculator` on the orbital
model (default: seed 0 of the decisive sweep). Writes results/md_nvt_Mo128.csv (step,
time, potential, kinetic and total energy per atom, temperature, max force, |stress|) and
figures/md_nvt_Mo128.png (temperature and energies against time). Also records the
wall time per step.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "experiments" / "metals"


def default_model() -> Path:
    runs = sorted(
        (ROOT / "runs" / "metals" / "decisive").glob("seed=0,config=orbital,*/model.orbjax")
    )
    if not runs:
        raise SystemExit("no finished orbital run of the decisive sweep; pass --model")
    return runs[0]


def main() -> None:
    from ase import units
    from ase.build import bulk
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    from orbjax.potential import OrbjaxCalculator

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--temperature", type=float, default=300.0)
    args = parser.parse_args()
    model = args.model or default_model()
    atoms = bulk("Mo", "bcc", a=3.16, cubic=True).repeat((4, 4, 4))  # 128 atoms
    atoms.calc = OrbjaxCalculator(str(model))
    MaxwellBoltzmannDistribution(
        atoms, temperature_K=args.temperature, rng=np.random.default_rng(0)
    )
    Stationary(atoms)
    dyn = Langevin(
        atoms,
        1.0 * units.fs,
        temperature_K=args.temperature,
        friction=0.01 / units.fs,
        rng=np.random.default_rng(1),
    )
    rows, n = [], len(atoms)

    def record():
        epot, ekin = atoms.get_potential_energy() / n, atoms.get_kinetic_energy() / n
        rows.append(
            {
                "step": dyn.nsteps,
                "time_fs": dyn.nsteps * 1.0,
                "epot_eV_per_atom": epot,
                "ekin_eV_per_atom": ekin,
                "etot_eV_per_atom": epot + ekin,
                "temperature_K": atoms.get_temperature(),
                "max_force_eV_per_A": float(np.abs(atoms.get_forces()).max()),
                "stress_norm_eV_per_A3": float(np.linalg.norm(atoms.get_stress())),
            }
        )

    dyn.attach(record, interval=10)
    start = time.perf_counter()
    dyn.run(args.steps)
    seconds = time.perf_counter() - start
    out = HERE / "results" / "md_nvt_Mo128.csv"
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    temps = np.array([r["temperature_K"] for r in rows[len(rows) // 2 :]])
    summary = {
        "model": str(model.relative_to(ROOT)) if model.is_relative_to(ROOT) else str(model),
        "atoms": n,
        "steps": args.steps,
        "wall_s": round(seconds, 1),
        "ms_per_step": round(1e3 * seconds / args.steps, 2),
        "mean_T_second_half_K": round(float(temps.mean()), 1),
        "std_T_second_half_K": round(float(temps.std()), 1),
        "max_force_eV_per_A": round(max(r["max_force_eV_per_A"] for r in rows), 3),
    }
    import json

    (HERE / "results" / "md_nvt_Mo128.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(summary)
    plot(rows, HERE / "figures" / "md_nvt_Mo128.png")


def plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [r["time_fs"] for r in rows]
    fig, (a, b) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    a.plot(t, [r["temperature_K"] for r in rows])
    a.set_ylabel("temperature (K)")
    b.plot(t, [r["epot_eV_per_atom"] for r in rows], label="potential")
    b.plot(t, [r["etot_eV_per_atom"] for r in rows], label="total")
    b.set_ylabel("energy (eV/atom)")
    b.set_xlabel("time (fs)")
    b.legend()
    a.set_title("bcc Mo, 128 atoms, Langevin NVT 300 K, orbital model")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
