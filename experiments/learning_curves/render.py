"""Stage 3c of the learning curves: `results/tables.md` and the plots, from the statistics.

Every table is a function of the rows `statistics.py` returns, so a number in tables.md is
the CSV's number printed to fixed digits; RESULTS.md's tables are drawn from the same CSVs
(`python -m experiments.learning_curves.results_tables`).
"""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np

from experiments.common.tables import md_table, read_rows
from experiments.learning_curves.collect import (
    FULL_SIZE,
    GROUPS,
    METRICS,
    RESULTS,
    TEST_SETS,
    base_dataset,
    run_seconds,
)
from experiments.learning_curves.statistics import MIN_SLOPE


def plot(dataset: str, summary: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tests = TEST_SETS[base_dataset(dataset)]
    fig, axes = plt.subplots(len(tests), 2, figsize=(10, 4 * len(tests)), squeeze=False)
    for row, test in enumerate(tests):
        for col, (metric, label, unit) in enumerate(METRICS):
            ax = axes[row][col]
            for variant in sorted({s["variant"] for s in summary}):
                pts = sorted(
                    (s["n_train"], s["mean"], s["min"], s["max"])
                    for s in summary
                    if s["variant"] == variant and s["test_set"] == test and s["metric"] == metric
                )
                if not pts:
                    continue
                n, mean, lo, hi = map(np.array, zip(*pts))
                ax.errorbar(
                    n, mean, yerr=[mean - lo, hi - mean], marker="o", capsize=3, label=variant
                )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("training structures")
            ax.set_ylabel(f"{test} {label} ({unit})")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle(f"{dataset}: mean over seeds, bars = seed min–max")
    fig.tight_layout()
    fig.savefig(os.path.join(RESULTS, f"learning_curves_{dataset}.png"), dpi=110)
    plt.close(fig)


def cpu_table() -> list[str]:
    """Per sweep: the training processes' CPU seconds where the runs logged them (`cpu`), else
    the wall time of a pinned run (`wall`; `collect.run_seconds`)."""
    lines = [
        "## CPU time per sweep (one core per run; 2-core machine, two runs at a time)",
        "",
        "| sweep | finished runs | core-hours | median minutes per run | measured as |",
        "|---|---|---|---|---|",
    ]
    every: list[float] = []
    for group in GROUPS.values():
        for sweep in group:
            timed = run_seconds(sweep)
            if timed:
                seconds, kinds = [t for t, _ in timed], {k for _, k in timed}
                lines.append(
                    f"| {sweep} | {len(seconds)} | {sum(seconds) / 3600:.2f} | "
                    f"{np.median(seconds) / 60:.1f} | {' + '.join(sorted(kinds))} |"
                )
                every += seconds
    lines.append(
        f"| **all** | {len(every)} | {sum(every) / 3600:.2f} | {np.median(every) / 60:.1f} | |"
    )
    return lines + [""]


def rotated_table() -> list[str]:
    """Equivariant vs invariant orbital head on the original and the rotated test molecules
    (results/rotated.csv, written by rotated.py), mean over seeds per weight and size."""
    rotated = read_rows(os.path.join(RESULTS, "rotated.csv"))
    if not rotated:
        return []
    # the same run may sit in two sweeps (weights scan, curve_wW): once per seed
    by_seed: dict = defaultdict(dict)
    for r in rotated:
        key = (
            r["dataset"],
            float(r["weight"]),
            int(r["n_train"]) or FULL_SIZE.get(r["dataset"], 0),
            r["config"],
        )
        by_seed[key][r["seed"]] = r
    groups = {k: list(v.values()) for k, v in by_seed.items()}
    lines = [
        "## Orbital heads on original and randomly rotated test molecules (me; mean ± std "
        "over seeds)",
        "",
        "| dataset | orbital weight | n_train | head | seeds | original | rotated |",
        "|---|---|---|---|---|---|---|",
    ]
    for (dataset, weight, n, config), rows in sorted(groups.items()):
        cells = []
        for tag in ("original", "rotated"):
            v = np.array([float(r[f"{tag}_orbital_mae"]) for r in rows])
            cells.append(
                f"{v.mean():.2f} ± {v.std(ddof=1):.2f}" if len(v) > 1 else f"{v.mean():.2f}"
            )
        lines.append(
            f"| {dataset} | {weight:g} | {n} | {config} | {len(rows)} | {cells[0]} | {cells[1]} |"
        )
    return lines + [""]


def errors_section(dataset: str, summary: list[dict]) -> list[str]:
    rows = [
        s
        for s in summary
        if s["dataset"] == dataset and s["metric"] in ("energy_mae", "forces_mae")
    ]
    lines = [
        f"## {dataset}: test errors (mean ± std over seeds)",
        "",
        "| variant | n_train | test set | seeds | energy MAE meV/atom | force MAE meV/Å |",
        "|---|---|---|---|---|---|",
    ]
    by_key = {(s["variant"], s["n_train"], s["test_set"], s["metric"]): s for s in rows}
    for v, n, t in sorted({k[:3] for k in by_key}, key=lambda k: (k[2], k[1], k[0])):
        e, f = by_key[(v, n, t, "energy_mae")], by_key[(v, n, t, "forces_mae")]
        lines.append(
            f"| {v} | {n} | {t} | {e['n_seeds']} | {e['mean']:.3f} ± {e['std']:.3f} | "
            f"{f['mean']:.1f} ± {f['std']:.1f} |"
        )
    return lines


def ratios_section(
    dataset: str,
    ratios: list[dict],
    title: str = "paired ratio to energy-only (geometric mean over seeds)",
) -> list[str]:
    rows = [r for r in ratios if r["dataset"] == dataset]
    # a contrast between two variants (`contrasts_*.csv`)
    against = bool(rows) and "baseline" in rows[0]
    return md_table(
        f"{dataset}: {title}",
        [
            "variant",
            *(["baseline"] if against else []),
            "n_train",
            "test set",
            "metric",
            "seeds",
            "ratio",
            "95 % bootstrap CI",
            "95 % t CI",
            "seeds better",
            "per seed",
        ],
        [
            f"| {r['variant']} |"
            + (f" {r['baseline']} |" if against else "")
            + f" {r['n_train']} | {r['test_set']} | {r['metric']} | {r['n_seeds']} | "
            f"{r['ratio']:.3f} | {r['ci_low']:.3f}–{r['ci_high']:.3f} | "
            f"{r['t_ci_low']:.3f}–{r['t_ci_high']:.3f} | {r['n_better']}/{r['n_seeds']} | "
            f"{r['per_seed']} |"
            for r in rows
        ],
    )


def efficiency_section(dataset: str, effs: list[dict]) -> list[str]:
    def row(e):
        flat = abs(e["baseline_fit"]["slope"]) < MIN_SLOPE  # no learning curve to invert
        factor = "— (energy-only curve flat)" if flat else f"{e['factor']:.2f} (n={e['at_n']})"
        ci = "—" if flat else f"{e['ci_low']:.2f}–{e['ci_high']:.2f}"
        return (
            f"| {e['variant']} | {e['test_set']} | {e['metric']} | {e['sizes']} | "
            f"{e['n_seeds']} | {factor} | "
            f"{ci} | {e['baseline_fit']['slope']:.3f} | {e['variant_fit']['slope']:.3f} |"
        )

    return md_table(
        f"{dataset}: data-efficiency factor n_EO(err_variant(n)) / n (power-law fits; "
        "bootstrap over seeds)",
        [
            "variant",
            "test set",
            "metric",
            "sizes",
            "seeds",
            "factor at largest n",
            "95 % CI",
            "EO slope",
            "variant slope",
        ],
        [row(e) for e in effs if e["dataset"] == dataset],
    )


def budget_section(dataset: str, budget: list[dict]) -> list[str]:
    if not budget:
        return []
    gains = np.array([x["gain_last_quarter"] for x in budget])
    return [
        "",
        f"## {dataset}: was the step budget enough?",
        "",
        "Validation energy MAE improvement over the last quarter of the budget, over "
        f"{len(budget)} runs: "
        f"median {np.median(gains) * 100:.1f} %, max {gains.max() * 100:.1f} % "
        f"(per run in `budget_{dataset}.csv`; the cosine schedule ends at 2 % of the peak rate).",
    ]


def weights_section(dataset: str, weights: list[dict]) -> list[str]:
    return md_table(
        f"{dataset}: auxiliary weight (seed 0; chosen by validation energy MAE)",
        [
            "n_train",
            "orbital weight",
            "val energy MAE meV/atom",
            "val force MAE meV/Å",
            "test energy MAE",
            "test force MAE",
        ],
        [
            f"| {x['n_train']} | {x['weight']:g} | {x['val_energy_mae']:.3f} | "
            f"{x['val_forces_mae']:.1f} | "
            f"{x['test_energy_mae']:.3f} | {x['test_forces_mae']:.1f} |"
            for x in weights
            if x["group"] == dataset
        ],
    )


def heads_section(dataset: str, summary: list[dict]) -> list[str]:
    heads = [
        s for s in summary if s["dataset"] == dataset and s["metric"] == "orbital_populations_mae"
    ]
    return md_table(
        f"{dataset}: per-orbital population error on test (me; mean ± std over seeds)",
        ["variant", "n_train", "test set", "seeds", "orbital MAE me"],
        [
            f"| {h['variant']} | {h['n_train']} | {h['test_set']} | {h['n_seeds']} | "
            f"{h['mean']:.2f} ± {h['std']:.2f} |"
            for h in sorted(heads, key=lambda h: (h["test_set"], h["n_train"], h["variant"]))
        ],
    )


def pooled_section(dataset: str, pooled: list[dict]) -> list[str]:
    return md_table(
        f"{dataset}: pooled over sizes, the seed as the unit (per seed: mean log ratio over "
        "its sizes)",
        [
            "variant",
            "baseline",
            "test set",
            "metric",
            "seeds",
            "seed-size pairs",
            "ratio",
            "95 % t CI over seeds",
            "seeds better",
            "pairs better",
            "per seed",
        ],
        [
            f"| {r['variant']} | {r['baseline']} | {r['test_set']} | {r['metric']} | "
            f"{r['n_seeds']} | "
            f"{r['n_pairs']} | {r['ratio']:.3f} | {r['t_ci_low']:.3f}–{r['t_ci_high']:.3f} | "
            f"{r['seeds_better']}/{r['n_seeds']} | {r['pairs_better']}/{r['n_pairs']} | "
            f"{r['per_seed']} |"
            for r in pooled
            if r["dataset"] == dataset
        ],
    )


def markdown(summary, ratios, effs, budgets, weights, contrasts=(), pooled=()) -> str:
    lines = [
        "# Learning-curve tables (written by analyse.py; do not edit)",
        "",
        *cpu_table(),
        *rotated_table(),
    ]
    for dataset in GROUPS:
        if not any(s["dataset"] == dataset for s in summary):
            continue
        lines += [
            *errors_section(dataset, summary),
            *ratios_section(dataset, ratios),
            *ratios_section(
                dataset,
                contrasts,
                "real vs shuffled per-orbital target (paired ratio real / shuffled)",
            ),
            *pooled_section(dataset, pooled),
            *efficiency_section(dataset, effs),
            *budget_section(dataset, budgets.get(dataset, [])),
            *weights_section(dataset, weights),
            *heads_section(dataset, summary),
            "",
        ]
    return "\n".join(lines)


def longer_budget_section(rows: list[dict]) -> list[str]:
    def ratio(r, b):
        if f"ratio_{b}" not in r:
            return "—"
        return (
            f"{r[f'ratio_{b}']:.3f} ({r[f't_ci_low_{b}']:.3f}–{r[f't_ci_high_{b}']:.3f}; "
            f"{r[f'better_{b}']}/{r['n_seeds']})"
        )

    return md_table(
        "Longer budgets: 4× the steps against the curve's budget (same seeds)",
        [
            "dataset",
            "variant",
            "n_train",
            "test set",
            "metric",
            "seeds",
            "steps 1× → 4×",
            "mean 1×",
            "mean 4×",
            "4×/1×",
            "ratio to EO 1× (t CI; better)",
            "ratio to EO 4× (t CI; better)",
        ],
        [
            f"| {r['dataset']} | {r['variant']} | {r['n_train']} | {r['test_set']} | "
            f"{r['metric']} | "
            f"{r['n_seeds']} | {r['steps_1x']} → {r['steps_4x']} | {r['mean_1x']:.3f} | "
            f"{r['mean_4x']:.3f} | "
            f"{r['gain_4x']:.3f} | {ratio(r, '1x')} | {ratio(r, '4x')} |"
            for r in rows
        ],
    )


def plot_val_curves(group: str, rows: list[dict], curves: dict) -> None:
    """Validation MAE against step for every run of a group (one line per run, colour per
    variant), a panel per size and metric: where the curves flatten, and where each budget ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    info = {(r["sweep"], r["name"]): r for r in rows}
    sizes = sorted({r["n"] for r in rows})
    variants = sorted({r["variant"] for r in rows})
    fig, axes = plt.subplots(len(sizes), 2, figsize=(10, 3.6 * len(sizes)), squeeze=False)
    for (sweep, name), metrics in sorted(curves.items()):
        r = info.get((sweep, name))
        if r is None:
            continue
        for col, (metric, label, unit) in enumerate(METRICS):
            steps, values = zip(*sorted(metrics[metric]))
            ax = axes[sizes.index(r["n"])][col]
            ax.plot(
                steps,
                values,
                color=f"C{variants.index(r['variant'])}",
                alpha=0.8,
                lw=1,
                label=f"{r['variant']} seed {r['seed']}",
            )
            ax.set_title(f"n_train = {r['n']}", fontsize=9)
            ax.set_yscale("log")
            ax.set_xlabel("step")
            ax.set_ylabel(f"validation {label} ({unit})")
            ax.axvline(int(r["train.num_steps"]) / 4, color="grey", ls="--", lw=0.8)
            ax.grid(True, which="both", alpha=0.3)
    for ax in axes.flat:
        handles = dict(zip(*reversed(ax.get_legend_handles_labels())))
        ax.legend(handles.values(), handles.keys(), fontsize=6)
    fig.suptitle(
        f"{group}: validation curves (dashed: the learning curve's budget, 1/4 of these runs')",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(os.path.join(RESULTS, f"val_curves_{group}.png"), dpi=100)
    plt.close(fig)
