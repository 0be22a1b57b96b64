"""Stage 2 scores: test errors of every finished metals run, per element and per system.

    python -m experiments.metals.score [--sweep runs/metals/decisive [runs/metals/shell ...]]

Each run's one-file model (`model.orbjax`, the best-by-validation EMA parameters) is scored
on `data/metals/test.h5` (whole trajectories held out, see select_subset.py) through the
ASE calculator, the path users run:
- energy: |E_pred − E_PBE| / n_atoms per structure (meV/atom), by the structure's system;
- forces: |F_pred − F_PBE| per component (meV/Å), by the element of the atom;
- stress: |σ_pred − σ_PBE| per component of the 3×3 tensor (meV/Å³), by system.
Writes results/scores_<sweeps>.csv (one row per run × group × quantity),
results/scores_<sweeps>_tables.md and results/scores_<sweeps>_summary.csv (mean and t-interval over
seeds per variant, and the ratio to energy-only paired by seed: geometric mean, as collect.py and
the learning curves report it). Resumable: runs already in results/scores_<sweeps>.csv are
read from it, not re-scored (--rescore scores every run again). The overall test energy and
force MAE equal the run's own `final_metrics.json` (checked, printed).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from experiments.common.tables import write_csv
from experiments.metals.seed_tables import finished_runs, paired_ratio, seed_interval

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "experiments" / "metals"


def system_of(structure) -> str:
    """Element for elemental cells, the formula's elements for alloys (e.g. 'MoTa', 'MoNi')."""
    from ase.data import chemical_symbols

    return "".join(sorted({chemical_symbols[int(z)] for z in structure.atomic_numbers}))


def score_run(model, structures) -> dict:
    """{(quantity, group): [absolute errors]} of `model` (a `Potential` or a model file)."""
    from ase import Atoms
    from ase.data import chemical_symbols
    from ase.stress import voigt_6_to_full_3x3_stress

    from orbjax.potential import OrbjaxCalculator, Potential

    calc = OrbjaxCalculator(model if isinstance(model, Potential) else str(model))
    errors = defaultdict(list)
    for s in structures:
        atoms = Atoms(numbers=s.atomic_numbers, positions=s.positions, cell=s.cell, pbc=s.pbc)
        atoms.calc = calc
        energy = atoms.get_potential_energy()
        forces = atoms.get_forces()
        system = system_of(s)
        e = 1e3 * abs(energy - float(s.labels["energy"])) / s.n_atoms
        errors[("energy_meV_per_atom", system)].append(e)
        errors[("energy_meV_per_atom", "all")].append(e)
        f = 1e3 * np.abs(forces - s.labels["forces"])  # [n, 3]
        for z, row in zip(s.atomic_numbers, f):
            errors[("forces_meV_per_A", chemical_symbols[int(z)])] += list(row)
        errors[("forces_meV_per_A", "all")] += list(f.ravel())
        if "stress" in s.labels:
            sigma = voigt_6_to_full_3x3_stress(atoms.get_stress())
            ds = 1e3 * np.abs(sigma - np.asarray(s.labels["stress"]).reshape(3, 3)).ravel()
            errors[("stress_meV_per_A3", system)] += list(ds)
            errors[("stress_meV_per_A3", "all")] += list(ds)
    return errors


def main() -> None:
    from orbjax.data.dataset import read_dataset

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sweep",
        type=Path,
        nargs="+",
        default=[ROOT / "runs" / "metals" / "decisive"],
        help="one or more sweep directories, scored together (ratios need energy-only runs)",
    )
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "metals")
    parser.add_argument(
        "--rescore", action="store_true", help="score runs already in the CSV again"
    )
    args = parser.parse_args()
    test = None  # read when a run needs scoring: the tables alone re-summarise the committed CSV
    name = "_".join(sweep.name for sweep in args.sweep)
    rows = [] if args.rescore else _scored_rows(HERE / "results" / f"scores_{name}.csv")
    done = {(r["variant"], r["seed"], r["n_train"]) for r in rows}
    for variant, seed, n_train, run in (r for sweep in args.sweep for r in finished_runs(sweep)):
        if (variant, seed, n_train) in done:
            continue
        test = test or read_dataset(args.data / "test.h5")[0]
        errors = score_run(run / "model.orbjax", test)
        final = json.loads((run / "final_metrics.json").read_text())
        print(
            f"{run.name}: energy {np.mean(errors[('energy_meV_per_atom', 'all')]):.2f} meV/atom "
            f"(run: {final.get('test_energy_mae', float('nan')):.2f}), forces "
            f"{np.mean(errors[('forces_meV_per_A', 'all')]):.1f} meV/Å (run: "
            f"{final.get('test_forces_mae', float('nan')):.1f})"
        )
        for (quantity, group), values in sorted(errors.items()):
            rows.append(
                {
                    "variant": variant,
                    "seed": seed,
                    "n_train": n_train,
                    "quantity": quantity,
                    "group": group,
                    "n": len(values),
                    "mae": float(np.mean(values)),
                }
            )
    summary = summarise(rows)
    write_csv(HERE / "results" / f"scores_{name}.csv", rows, digits=4)
    write_csv(HERE / "results" / f"scores_{name}_summary.csv", summary, digits=4)
    (HERE / "results" / f"scores_{name}_tables.md").write_text(tables(rows, summary))


def _scored_rows(path: Path) -> list[dict]:
    """The rows of an earlier scoring (one per run × quantity × group), typed; [] if none."""
    import csv

    if not path.exists():
        return []
    with open(path) as f:
        return [
            {
                **r,
                "seed": int(r["seed"]),
                "n_train": int(r["n_train"]),
                "n": int(r["n"]),
                "mae": float(r["mae"]),
            }
            for r in csv.DictReader(f)
        ]


QUANTITIES = (
    ("energy_meV_per_atom", "energy (meV/atom), by system", "system", 1),
    ("forces_meV_per_A", "forces (meV/Å), by element", "element", 1),
    ("stress_meV_per_A3", "stress (meV/Å³), by system", "system", 2),
)


def tables(rows, summary) -> str:
    """Markdown tables of the summary (for RESULTS.md): one per quantity, groups × variants,
    each variant's mean MAE and its per-seed ratio to energy-only (seeds better)."""
    frames = {
        r["group"]: r["n"]
        for r in rows
        if r["quantity"] == "energy_meV_per_atom"
        and r["seed"] == rows[0]["seed"]
        and r["variant"] == rows[0]["variant"]
    }
    cells = defaultdict(dict)
    for r in summary:
        cells[(r["quantity"], r["n_train"], r["group"])][r["variant"]] = r
    found = {v for d in cells.values() for v in d}
    variants = [v for v in ("energy_only", "orbital", "orbital_shuffled", "shell") if v in found]
    variants += sorted(found - set(variants))  # e.g. orbital_w100
    out = []
    for n_train in sorted({r["n_train"] for r in summary}):
        for quantity, title, kind, digits in QUANTITIES:
            groups = sorted(
                g for q, n, g in cells if q == quantity and n == n_train and g != "all"
            ) + ["all"]
            out += [
                f"\n**Test {title}, n_train {n_train or 'all'}**: mean over seeds; ratio = "
                "geometric "
                "mean of the per-seed ratios to energy-only (seeds better)\n",
                f"| {kind} | test frames | "
                + " | ".join(f"{v} | ratio" if v != "energy_only" else v for v in variants)
                + " |",
                "|---|---|" + "---|" * (2 * len(variants) - 1),
            ]
            for g in groups:
                d = cells[(quantity, n_train, g)]
                line = [
                    f"**{g}**" if g == "all" else g,
                    str(frames.get(g, "")) if kind == "system" else "",
                ]
                for v in variants:
                    if v not in d:
                        line += ["", ""] if v != "energy_only" else [""]
                        continue
                    line.append(f"{float(d[v]['mae_mean']):.{digits}f}")
                    if v != "energy_only":
                        line.append(
                            f"{float(d[v]['ratio']):.2f} "
                            f"({d[v]['seeds_better']}/{d[v]['paired_seeds']})"
                            if "ratio" in d[v]
                            else ""
                        )
                out.append("| " + " | ".join(line) + " |")
    return "\n".join(out) + "\n"


def summarise(rows):
    cells = defaultdict(dict)
    for r in rows:
        cells[(r["variant"], r["n_train"], r["quantity"], r["group"])][r["seed"]] = r["mae"]
    out = []
    for (variant, n_train, quantity, group), by_seed in sorted(cells.items()):
        values = np.array([by_seed[s] for s in sorted(by_seed)])
        row = {
            "variant": variant,
            "n_train": n_train,
            "quantity": quantity,
            "group": group,
            "n_seeds": len(values),
            "mae_mean": values.mean(),
            **seed_interval(values),
        }
        if variant != "energy_only":
            row.update(
                paired_ratio(by_seed, cells.get(("energy_only", n_train, quantity, group), {}))
            )
        out.append(row)
    return out


if __name__ == "__main__":
    main()
