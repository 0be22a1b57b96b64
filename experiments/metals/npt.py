"""Stage 5b: the equilibrium lattice constant of bcc Mo from NPT MD with the trained models.

    python -m experiments.metals.npt [--sweep runs/metals/long] [--steps 3000] [--seeds 0 1 2]

Each energy-only, orbital and shuffled-orbital model of the sweep runs the jitted NPT of
`python -m orbjax.md` (`orbjax.potential.md_run.run_md`: Langevin BAOAB + isotropic stochastic
cell rescaling) on a 128-atom bcc Mo cell started at the PBE lattice constant (a = 3.16 Å),
300 K, 0 GPa, 1 fs steps, compressibility 1/260 GPa⁻¹ (Mo's bulk modulus), barostat time
200 fs. The lattice constant a = (2V/N)^(1/3) averaged over the second half of the run is
the model's 300 K equilibrium: a model that learnt PBE's equation of state lands near
3.16–3.17 Å (PBE at 0 K plus ~0.01 Å of thermal expansion).
Writes results/npt_Mo128.csv (one row per model) and figures/npt_Mo128.png (a against
time); each run's thermo.csv and trajectory stay in runs/metals/npt/ (resumable).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from experiments.common.tables import write_csv
from experiments.metals.seed_tables import finished_runs

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "experiments" / "metals"
A_PBE, BULK_MODULUS_GPA = 3.16, 260.0
VARIANTS = ("energy_only", "orbital", "orbital_shuffled")


def lattice_constants(thermo: Path, n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """(time fs, a Å) of a bcc run's thermo.csv (two atoms per conventional cell)."""
    with open(thermo) as f:
        rows = list(csv.DictReader(f))
    time = np.array([float(r["time_fs"]) for r in rows])
    volume = np.array([float(r["volume_A3"]) for r in rows])
    return time, np.cbrt(2.0 * volume / n_atoms)


def main() -> None:
    from ase.build import bulk

    import orbjax
    from orbjax.potential.md_run import run_md

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweep", type=Path, default=ROOT / "runs" / "metals" / "long")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    atoms = bulk("Mo", "bcc", a=A_PBE, cubic=True).repeat((4, 4, 4))  # 128 atoms
    rows, curves = [], {}
    for variant, seed, n_train, run in finished_runs(args.sweep):
        if variant not in VARIANTS or seed not in args.seeds:
            continue
        out = ROOT / "runs" / "metals" / "npt" / f"{args.sweep.name}_{variant}_seed{seed}"
        md = run_md(
            orbjax.load_potential(str(run / "model.orbjax")),
            atoms.copy(),
            out,
            args.steps,
            "npt",
            temperature=300.0,
            timestep=1.0,
            friction=0.01,
            interval=20,
            seed=seed,
            progress=False,
            model=str(run / "model.orbjax"),
            pressure_gpa=0.0,
            compressibility_per_gpa=1.0 / BULK_MODULUS_GPA,
            barostat_time=200.0,
        )
        time, a = lattice_constants(out / "thermo.csv", len(atoms))
        half = a[len(a) // 2 :]
        rows.append(
            {
                "sweep": args.sweep.name,
                "variant": variant,
                "seed": seed,
                "steps": args.steps,
                "a_mean_second_half_A": float(half.mean()),
                "a_std_second_half_A": float(half.std()),
                "a_minus_pbe_A": float(half.mean() - A_PBE),
                "list_reallocations": md.reallocations,
            }
        )
        curves[(variant, seed)] = (time, a)
        print(rows[-1], flush=True)
    write_csv(HERE / "results" / "npt_Mo128.csv", rows, digits=5)
    _plot(curves, HERE / "figures" / "npt_Mo128.png")


def _plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    colours = {"energy_only": "tab:blue", "orbital": "tab:red", "orbital_shuffled": "tab:grey"}
    for (variant, seed), (time, a) in sorted(curves.items()):
        ax.plot(
            time / 1000,
            a,
            color=colours[variant],
            alpha=0.8,
            lw=1,
            label=variant if seed == min(s for v, s in curves if v == variant) else None,
        )
    ax.axhline(A_PBE, color="k", ls="--", lw=1, label="PBE (0 K)")
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("bcc Mo lattice constant (Å)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
