"""Stage 3b of the learning curves: the numbers RESULTS.md quotes, from the collected runs.

Every function takes the grid {(variant, n): {seed: row}} of one analysis group
(`collect.table`) and returns rows for a CSV: summaries over seeds, paired ratios to
energy-only (per size, pooled over sizes), the data-efficiency factor, the step-budget
checks and the weight scan. The statistics themselves are `experiments.common.stats`'.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from experiments.common.stats import (
    bootstrap_ci,
    cell_rng,
    efficiency_factor,
    log_ratio_summary,
    paired_log_ratios,
    power_law,
)
from experiments.learning_curves.collect import (
    BASELINE,
    METRICS,
    TEST_SETS,
    WEIGHT,
    base_dataset,
    load_runs,
    table,
)

# |log-log slope| of energy-only below which a data-efficiency factor is not defined
MIN_SLOPE = 0.1


def _paired(other: dict, base: dict, col: str):
    """(seeds, log ratios) of one metric column over the seeds both {seed: row} dicts have."""
    seeds = set(other) & set(base)
    return paired_log_ratios(
        {s: float(other[s][col]) for s in seeds}, {s: float(base[s][col]) for s in seeds}
    )


def summaries(dataset: str, grid: dict) -> list[dict]:
    """Mean, std, min and max over seeds per variant, size, test set and metric."""
    out = []
    for (variant, n), by_seed in sorted(grid.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        for test in TEST_SETS[base_dataset(dataset)]:
            for metric, _, unit in METRICS + [("orbital_populations_mae", "orbital MAE", "me")]:
                col = f"{test}_{metric}"
                values = np.array(
                    [float(r[col]) for r in by_seed.values() if r.get(col) not in (None, "")]
                )
                if not len(values):
                    continue
                out.append(
                    dict(
                        dataset=dataset,
                        variant=variant,
                        n_train=n,
                        test_set=test,
                        metric=metric,
                        unit=unit,
                        n_seeds=len(values),
                        mean=values.mean(),
                        std=values.std(ddof=1) if len(values) > 1 else float("nan"),
                        min=values.min(),
                        max=values.max(),
                    )
                )
    return out


def paired_ratios(dataset: str, grid: dict, pairs=None) -> list[dict]:
    """Per size and (variant, baseline) pair: err(variant)/err(baseline) over seeds run for both,
    with a bootstrap interval beside the t interval. Default pairs: every variant against
    energy-only."""
    out = []
    sizes = sorted({n for _, n in grid})
    pairs = pairs or [(v, BASELINE) for v in sorted({v for v, _ in grid} - {BASELINE})]
    for variant, baseline in pairs:
        for n in sizes:
            base, other = grid.get((baseline, n), {}), grid.get((variant, n), {})
            if not set(base) & set(other):
                continue
            for test in TEST_SETS[base_dataset(dataset)]:
                for metric, _, _ in METRICS:
                    col = f"{test}_{metric}"
                    seeds, log_ratio = _paired(other, base, col)
                    key = (
                        (dataset, variant, n, test, metric)
                        if baseline == BASELINE
                        else (dataset, variant, baseline, n, test, metric)
                    )
                    lo, hi = bootstrap_ci(log_ratio, np.mean, cell_rng(*key))
                    summary = log_ratio_summary(log_ratio)
                    out.append(
                        dict(
                            dataset=dataset,
                            variant=variant,
                            n_train=n,
                            test_set=test,
                            metric=metric,
                            n_seeds=len(seeds),
                            ratio=summary.pop("ratio"),
                            ci_low=float(np.exp(lo)),
                            ci_high=float(np.exp(hi)),
                            **summary,
                        )
                    )
                    if baseline != BASELINE:
                        out[-1]["baseline"] = baseline
    return out


def shuffled_pairs(grid: dict) -> list[tuple[str, str]]:
    """(real, shuffled) per-orbital variants of the same weight: the control's direct contrast."""
    variants = {v for v, _ in grid}
    return [
        (v.replace("orbital_shuffled", "orbital", 1), v)
        for v in sorted(variants)
        if v.startswith("orbital_shuffled")
        and v.replace("orbital_shuffled", "orbital", 1) in variants
    ]


def pooled_over_sizes(dataset: str, grid: dict, pairs) -> list[dict]:
    """One number per (variant, baseline, test set, metric) over all sizes, with the seed as the
    unit: each seed's mean log ratio over the sizes where it has both runs (its nested subsamples
    are not independent draws, so sizes are not counted as separate samples), then a Student-t
    interval over those per-seed means."""
    out = []
    sizes = sorted({n for _, n in grid})
    for variant, baseline in pairs:
        for test in TEST_SETS[base_dataset(dataset)]:
            for metric, _, _ in METRICS:
                col = f"{test}_{metric}"
                per_seed = defaultdict(list)
                for n in sizes:
                    base, other = grid.get((baseline, n), {}), grid.get((variant, n), {})
                    seeds, log_ratio = _paired(other, base, col)
                    for s, x in zip(seeds, log_ratio):
                        per_seed[s].append(x)
                if not per_seed:
                    continue
                seeds = sorted(per_seed)
                means = np.array([np.mean(per_seed[s]) for s in seeds])
                pairs_all = np.concatenate([per_seed[s] for s in seeds])
                summary = log_ratio_summary(means, better="seeds_better")
                per_seed_ratios = summary.pop("per_seed")
                out.append(
                    dict(
                        dataset=dataset,
                        variant=variant,
                        baseline=baseline,
                        test_set=test,
                        metric=metric,
                        n_seeds=len(seeds),
                        n_pairs=len(pairs_all),
                        **summary,
                        pairs_better=int((pairs_all < 0).sum()),
                        per_seed=per_seed_ratios,
                    )
                )
    return out


def efficiency(dataset: str, grid: dict) -> list[dict]:
    """Power-law fits per variant and the data-efficiency factor at the largest common size, with
    a bootstrap CI over seeds (a resample draws seeds with replacement, the same seeds for both)."""
    out = []
    for variant in sorted({v for v, _ in grid} - {BASELINE}):
        sizes = sorted(n for (v, n) in grid if v == variant and (BASELINE, n) in grid)
        if len(sizes) < 3:
            continue
        seeds = sorted(
            set.intersection(*[set(grid[(variant, n)]) & set(grid[(BASELINE, n)]) for n in sizes])
        )
        if not seeds:
            continue
        for test in TEST_SETS[base_dataset(dataset)]:
            for metric, _, _ in METRICS:
                col = f"{test}_{metric}"
                base = np.array(
                    [[float(grid[(BASELINE, n)][s][col]) for n in sizes] for s in seeds]
                )  # [seeds, sizes]
                other = np.array(
                    [[float(grid[(variant, n)][s][col]) for n in sizes] for s in seeds]
                )
                at = sizes[-1]

                def factor(rows):
                    return efficiency_factor(
                        sizes, list(base[rows].mean(0)), list(other[rows].mean(0)), at
                    )

                all_rows = np.arange(len(seeds))
                lo, hi = bootstrap_ci(
                    all_rows,
                    factor,
                    cell_rng(dataset, variant, "efficiency", test, metric),
                    n_boot=2000,
                )
                fit_base = power_law(np.array(sizes, float), base.mean(0))
                fit_other = power_law(np.array(sizes, float), other.mean(0))
                out.append(
                    dict(
                        dataset=dataset,
                        variant=variant,
                        test_set=test,
                        metric=metric,
                        sizes=sizes,
                        n_seeds=len(seeds),
                        at_n=at,
                        factor=factor(all_rows),
                        ci_low=lo,
                        ci_high=hi,
                        baseline_fit=dict(a=fit_base[0], slope=fit_base[1]),
                        variant_fit=dict(a=fit_other[0], slope=fit_other[1]),
                        factors_by_size={
                            int(n): efficiency_factor(
                                sizes, list(base.mean(0)), list(other.mean(0)), n
                            )
                            for n in sizes
                        },
                    )
                )
    return out


def budget_check(curves: dict) -> list[dict]:
    """Per run: validation energy MAE at 3/4 of the budget, at the end and its minimum."""
    out = []
    for (sweep, name), metrics in sorted(curves.items()):
        steps, values = zip(*sorted(metrics["energy_mae"]))
        three_quarter = values[int(np.searchsorted(steps, 0.75 * steps[-1]))]
        out.append(
            dict(
                sweep=sweep,
                name=name,
                last=values[-1],
                at_three_quarters=three_quarter,
                best=min(values),
                gain_last_quarter=1 - values[-1] / three_quarter,
            )
        )
    return out


def longer_budget(dataset: str) -> list[dict]:
    """The `<dataset>_long` runs (4× the steps) against the curve's runs of the same variant, size
    and seed: how much each arm gains from 4× the steps, and the paired ratio to energy-only at
    both budgets over the same seeds."""
    short, long = table(load_runs(dataset)), table(load_runs(f"{dataset}_long"))
    out = []
    for variant, n in sorted(long):
        base_short, base_long = short.get((BASELINE, n), {}), long.get((BASELINE, n), {})
        seeds = sorted(
            set(long[(variant, n)])
            & set(short.get((variant, n), {}))
            & set(base_short)
            & set(base_long)
        )
        if not seeds:
            continue
        for test in TEST_SETS[dataset]:
            for metric, _, unit in METRICS:
                col = f"{test}_{metric}"
                err = {
                    b: {s: float(grid[(variant, n)][s][col]) for s in seeds}
                    for b, grid in (("1x", short), ("4x", long))
                }
                row = dict(
                    dataset=dataset,
                    variant=variant,
                    n_train=n,
                    test_set=test,
                    metric=metric,
                    unit=unit,
                    n_seeds=len(seeds),
                    mean_1x=np.mean([err["1x"][s] for s in seeds]),
                    mean_4x=np.mean([err["4x"][s] for s in seeds]),
                    steps_1x=int(short[(variant, n)][seeds[0]]["train.num_steps"]),
                    steps_4x=int(long[(variant, n)][seeds[0]]["train.num_steps"]),
                )
                row["gain_4x"] = row["mean_4x"] / row["mean_1x"]
                if variant != BASELINE:
                    for b, base in (("1x", base_short), ("4x", base_long)):
                        _, log_ratio = paired_log_ratios(
                            err[b], {s: float(base[s][col]) for s in seeds}
                        )
                        row.update(log_ratio_summary(log_ratio, suffix=f"_{b}", better="better"))
                out.append(row)
    return out


def weight_choice(group: str, rows: list[dict], curves: dict) -> list[dict]:
    """Validation energy MAE (of the selected checkpoint) per orbital weight, seed 0, at the sizes
    the weight scan covers; energy-only is weight 0 and `orbital` weight 100."""
    scan_sizes = {r["n"] for r in rows if r["sweep"].endswith("_weights")}
    out = []
    for r in rows:
        if (
            r["seed"] != 0
            or r["n"] not in scan_sizes
            or r["config"] not in ("energy_only", "orbital")
            or r.get("model.orbital_features")
        ):  # the head-input runs are not part of the scan
            continue
        weight = 0.0 if r["config"] == "energy_only" else float(r.get(WEIGHT) or 100.0)
        at = dict(curves[(r["sweep"], r["name"])]["energy_mae"]).get(int(float(r["selected_step"])))
        out.append(
            dict(
                group=group,
                n_train=r["n"],
                weight=weight,
                val_energy_mae=at,
                val_forces_mae=dict(curves[(r["sweep"], r["name"])]["forces_mae"]).get(
                    int(float(r["selected_step"]))
                ),
                test_energy_mae=float(r["test_energy_mae"]),
                test_forces_mae=float(r["test_forces_mae"]),
            )
        )
    # A scan run at the chosen weight and the curve's seed-0 run of that weight are the same
    # config: keep one row where they agree exactly (they do, bitwise, on CPU), both where not.
    unique = list({tuple(d.items()): d for d in out}.values())
    return sorted(unique, key=lambda d: (d["n_train"], d["weight"]))


def choose_weights(weights: list[dict]) -> list[dict]:
    """Per dataset and weight: the geometric mean over the scanned sizes of the validation energy
    MAE relative to energy-only (weight 0), and which weight minimises it (the rule fixed
    before looking at test errors; only sizes where every weight finished count)."""
    out = []
    for group in sorted({w["group"] for w in weights}):
        rows = [w for w in weights if w["group"] == group]
        all_weights = sorted({w["weight"] for w in rows})
        sizes = [
            n
            for n in sorted({w["n_train"] for w in rows})
            if {w["weight"] for w in rows if w["n_train"] == n} == set(all_weights)
        ]
        if not sizes:
            continue
        val = {(w["n_train"], w["weight"]): w["val_energy_mae"] for w in rows}
        scores = {
            wt: float(np.exp(np.mean([np.log(val[(n, wt)] / val[(n, 0.0)]) for n in sizes])))
            for wt in all_weights
        }
        best = min(scores, key=scores.get)
        out += [
            dict(
                group=group,
                weight=wt,
                sizes=" ".join(map(str, sizes)),
                val_energy_ratio=score,
                chosen=wt == best,
            )
            for wt, score in scores.items()
        ]
    return out
