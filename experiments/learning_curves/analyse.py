"""Stage 3 of the learning curves: collect the sweeps into committed CSVs, then analyse them.

    # collect (if runs/ exists) + analyse
    python -m experiments.learning_curves.analyse
    python -m experiments.learning_curves.analyse --no-collect  # analyse the committed CSVs only

Collect (`collect.py`): `runs/learning_curves/<sweep>/` → `results/<sweep>.csv`,
`<sweep>_val_curves.csv`, `<sweep>_wall_time.csv`. Analyse (`statistics.py`):
`results/summary_<group>.csv` (mean, std and seeds per variant and size), `ratios_<group>.csv`
(paired ratio to energy-only per size: geometric mean over seeds, 95 % bootstrap and t
intervals), `contrasts_*.csv`, `pooled_*.csv`, `budget_*.csv`, `longer_budget.csv`,
`weights*.csv` and `efficiency.json` (power-law fits, data-efficiency factor). Render
(`render.py`): `results/tables.md` and the PNG plots. Every number RESULTS.md quotes comes
from these files.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from experiments.common.tables import write_csv
from experiments.learning_curves import render, statistics
from experiments.learning_curves.collect import (
    BASELINE,
    DATASETS,
    GROUPS,
    RESULTS,
    collect,
    load_runs,
    record_stage,
    table,
    val_curves,
)


def analyse() -> int:
    """Every statistic and table from the committed CSVs; returns the number of summary rows."""
    all_summary, all_ratios, all_effs, budgets, weights, all_contrasts, all_pooled = (
        [],
        [],
        [],
        {},
        [],
        [],
        [],
    )
    for group in GROUPS:
        rows = load_runs(group)
        if not rows:
            continue
        grid, curves = table(rows), val_curves(group)
        summary = statistics.summaries(group, grid)
        ratios = statistics.paired_ratios(group, grid)
        controls = statistics.shuffled_pairs(grid)
        contrasts = statistics.paired_ratios(group, grid, controls) if controls else []
        pooled = statistics.pooled_over_sizes(
            group,
            grid,
            [(v, BASELINE) for v in sorted({v for v, _ in grid} - {BASELINE})] + controls,
        )
        all_effs += statistics.efficiency(group, grid)
        budgets[group] = statistics.budget_check(curves)
        weights += statistics.weight_choice(group, rows, curves)
        for name, table_rows in (
            ("summary", summary),
            ("ratios", ratios),
            ("budget", budgets[group]),
            ("contrasts", contrasts),
            ("pooled", pooled),
        ):
            write_csv(os.path.join(RESULTS, f"{name}_{group}.csv"), table_rows)
        render.plot(group, summary)
        if group.endswith("_long"):
            render.plot_val_curves(group, rows, curves)
        all_summary += summary
        all_ratios += ratios
        all_contrasts += contrasts
        all_pooled += pooled
    longer = [r for d in DATASETS for r in statistics.longer_budget(d)]
    write_csv(os.path.join(RESULTS, "longer_budget.csv"), longer)
    write_csv(os.path.join(RESULTS, "weights.csv"), weights)
    write_csv(os.path.join(RESULTS, "weights_choice.csv"), statistics.choose_weights(weights))
    with open(os.path.join(RESULTS, "efficiency.json"), "w") as f:
        json.dump(all_effs, f, indent=1)
    with open(os.path.join(RESULTS, "tables.md"), "w") as f:
        f.write(
            render.markdown(
                all_summary, all_ratios, all_effs, budgets, weights, all_contrasts, all_pooled
            )
            + "\n".join(render.longer_budget_section(longer))
            + "\n"
        )
    return len(all_summary)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-collect", action="store_true", help="analyse the committed CSVs only")
    args = p.parse_args()
    started = (time.time(), time.process_time())
    os.makedirs(RESULTS, exist_ok=True)
    if not args.no_collect:
        for group in GROUPS.values():
            for sweep in group:
                collect(sweep)
    n_rows = analyse()
    record_stage(
        "analyse" if args.no_collect else "collect+analyse", started, f"{n_rows} summary rows"
    )
    print(os.path.join(RESULTS, "tables.md"))


if __name__ == "__main__":
    main()
