"""The overall test errors of every finished metals run, from each run's own final metrics.

    python -m experiments.metals.collect runs/metals/long runs/metals/long_w100 ...

Cheap beside `score.py` (which re-scores every model per system and element): reads each
run's `final_metrics.json` (the best-by-validation checkpoint scored on the test split) and
writes results/runs_<sweeps>.csv (one row per run) and results/runs_<sweeps>_ratios.csv
(per variant and training size: mean over seeds and the ratio to energy-only paired by seed,
with the learning curves' t-interval and the number of seeds better).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from experiments.common.tables import write_csv
from experiments.metals.seed_tables import finished_runs, paired_ratio, seed_interval

HERE = Path(__file__).resolve().parent
METRICS = {
    "energy_meV_per_atom": "test_energy_mae",
    "forces_meV_per_A": "test_forces_mae",
    "stress_meV_per_A3": "test_stress_mae",
    "val_energy_meV_per_atom": "energy_mae",
}


def collect(sweeps: list[Path]) -> list[dict]:
    rows = []
    for sweep in sweeps:
        for variant, seed, n_train, run in finished_runs(sweep):
            final = json.loads((run / "final_metrics.json").read_text())
            steps = json.loads((run / "run.json").read_text())["overrides"].get("train.num_steps")
            rows.append(
                {
                    "sweep": sweep.name,
                    "variant": variant,
                    "seed": seed,
                    "n_train": n_train,
                    "num_steps": steps,
                    "selected_step": final.get("selected_step"),
                    **{name: final[key] for name, key in METRICS.items()},
                }
            )
    return rows


def paired_ratios(rows: list[dict]) -> list[dict]:
    by = defaultdict(dict)  # (variant, n_train, num_steps) -> seed -> row
    for r in rows:
        by[(r["variant"], r["n_train"], r["num_steps"])][r["seed"]] = r
    out = []
    for (variant, n_train, steps), seeds in sorted(
        by.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])
    ):
        base = by.get(("energy_only", n_train, steps), {})
        for metric in METRICS:
            values = np.array([seeds[s][metric] for s in sorted(seeds)])
            row = {
                "variant": variant,
                "n_train": n_train,
                "num_steps": steps,
                "metric": metric,
                "n_seeds": len(values),
                "mean": float(values.mean()),
                **seed_interval(values),
            }
            if variant != "energy_only":
                row.update(
                    paired_ratio(
                        {s: r[metric] for s, r in seeds.items()},
                        {s: r[metric] for s, r in base.items()},
                    )
                )
            out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sweeps", type=Path, nargs="+")
    args = parser.parse_args()
    rows = collect(args.sweeps)
    tag = "_".join(s.name for s in args.sweeps)
    write_csv(HERE / "results" / f"runs_{tag}.csv", rows, digits=4)
    ratios = paired_ratios(rows)
    write_csv(HERE / "results" / f"runs_{tag}_ratios.csv", ratios, digits=4)
    for r in ratios:
        if r["metric"] in ("energy_meV_per_atom", "forces_meV_per_A", "stress_meV_per_A3"):
            extra = (
                (
                    f" ratio {r['ratio']:.3f} ({r['ratio_ci_low']:.3f}–{r['ratio_ci_high']:.3f}) "
                    f"{r['seeds_better']}/{r['paired_seeds']} [{r['per_seed']}]"
                )
                if "ratio" in r
                else ""
            )
            print(
                f"{r['variant']:>16} n={r['n_train']:<4} steps={r['num_steps']} {r['metric']:<20} "
                f"{r['mean']:8.2f} ({r['n_seeds']} seeds){extra}"
            )


if __name__ == "__main__":
    main()
