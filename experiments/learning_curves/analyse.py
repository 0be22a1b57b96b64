"""Stages 3–4 of the learning curves: collect the sweeps into committed CSVs, then analyse them.

    python experiments/learning_curves/analyse.py            # collect (if runs/ exists) + analyse
    python experiments/learning_curves/analyse.py --no-collect   # analyse the committed CSVs only

Collect: `runs/learning_curves/<dataset>/` → `results/<dataset>.csv` (one row per run: swept
values and the final metrics of the best-by-validation checkpoint) and
`results/<dataset>_val_curves.csv` (validation energy/force MAE at every evaluation, to show
whether the step budget was enough).
Analyse: `results/summary_<dataset>.csv` (mean, std and seeds per variant and size),
`results/ratios_<dataset>.csv` (paired ratio to energy-only per size: geometric mean over
seeds with a 95 % bootstrap CI), `results/efficiency.json` (power-law fits and the
data-efficiency factor), `results/tables.md` and PNG plots. Every number RESULTS.md quotes
comes from these files.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import zlib
from collections import defaultdict

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
RESULTS = os.path.join(HERE, "results")
SWEEPS = os.path.join(ROOT, "runs", "learning_curves")
# Analysis groups: the sweeps (configs/sweeps/lc_common.py kinds) whose runs are compared
# with each other, seed-paired; the baseline of every ratio is energy-only in the same group.
DATASETS = ("acac", "chno", "chno_grown")  # chno_grown: the shared CHNO set + experiments/data/chno_grow_*
GROUPS = {d: (d, f"{d}_weights", f"{d}_controls", f"{d}_head_input") for d in DATASETS}
GROUPS.update({f"{d}_noforces": (f"{d}_noforces", f"{d}_noforces_controls") for d in DATASETS})
GROUPS.update({f"{d}_long": (f"{d}_long", f"{d}_long_small") for d in DATASETS})  # the largest size and n = 50, 4× the budget


def _add_weight_curves() -> None:
    """The `curve_wW` sweeps (<dataset>_w<W>, in runs/ or already collected) join their dataset's group."""
    import glob
    import re

    names = {os.path.basename(p) for p in glob.glob(os.path.join(SWEEPS, "*_w*"))}
    names |= {os.path.basename(p)[:-4] for p in glob.glob(os.path.join(RESULTS, "*_w*.csv"))}
    for name in sorted(names):
        match = re.fullmatch(rf"({'|'.join(DATASETS)})_(controls_)?w[0-9.e+]+", name)
        if match:
            GROUPS[match.group(1)] += (name,)


_add_weight_curves()
BASELINE = "energy_only"
# (metric column, label, unit) scored on each test set; acac also has the 600 K set.
METRICS = [("energy_mae", "energy MAE", "meV/atom"), ("forces_mae", "force MAE", "meV/Å")]
TEST_SETS = {"acac": ("test", "test600"), "chno": ("test",), "chno_grown": ("test",)}
N_BOOT = 10000
MIN_SLOPE = 0.1  # |log-log slope| of energy-only below which a data-efficiency factor is not defined
FULL_SIZE = {"chno": 500, "chno_grown": 1205}  # n_train = 0 means the whole training split (153 val, 150 test)
WEIGHT = "loss.weights.orbital_populations"
DFT_WEIGHTS = ("loss.weights.energy", "loss.weights.forces", "loss.weights.stress")


def base_dataset(group: str) -> str:
    """The dataset a group or sweep belongs to: its longest DATASETS prefix ('chno_grown_w1000' → 'chno_grown')."""
    return max((d for d in DATASETS if group == d or group.startswith(d + "_")), key=len)


# ----------------------------------------------------------------------------- collect


def collect(dataset: str) -> None:
    """One sweep directory → results/<sweep>.csv, <sweep>_val_curves.csv and <sweep>_wall_time.csv.

    Merged into the committed files by run name: a run found now replaces its row (its curve
    rows), runs that are only in the committed files (trained on another machine or in an
    earlier session whose `runs/` is gone) keep theirs, in their order."""
    sweep_dir = os.path.join(SWEEPS, dataset)
    if not os.path.isdir(sweep_dir):
        return
    os.makedirs(RESULTS, exist_ok=True)
    out = os.path.join(RESULTS, f"{dataset}.csv")
    committed_runs = read_rows(out)
    subprocess.run([sys.executable, "-m", "orbjax.sweep", "collect", "--sweep-dir", sweep_dir, "--out", out],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    collected = {out: read_rows(out),
                 os.path.join(RESULTS, f"{dataset}_val_curves.csv"): val_curve_rows(sweep_dir),
                 os.path.join(RESULTS, f"{dataset}_wall_time.csv"): wall_times(sweep_dir)}
    report_changed(dataset, committed_runs, collected[out])
    finished = {r["name"] for r in committed_runs if r.get("status") == "finished"}
    for path, rows in collected.items():  # a run being re-trained now does not hide its committed finished row
        fresh = [r for r in rows if r.get("status", "finished") == "finished" or r["name"] not in finished]
        write_csv(path, merge_by_name(committed_runs if path == out else read_rows(path), fresh))


def read_rows(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def merge_by_name(old: list[dict], new: list[dict]) -> list[dict]:
    """`old` with every name found in `new` replaced by new's rows (at its first place), then
    new's other names; one name may own several rows (a validation curve)."""
    by_name: dict[str, list[dict]] = {}
    for r in new:
        by_name.setdefault(r["name"], []).append(r)
    merged, placed = [], set()
    for r in old:
        if r["name"] not in by_name:
            merged.append(r)
        elif r["name"] not in placed:
            merged += by_name[r["name"]]
            placed.add(r["name"])
    return merged + [r for name, rows in by_name.items() if name not in placed for r in rows]


def report_changed(dataset: str, old: list[dict], new: list[dict]) -> None:
    """Print runs that finished before and again now with other test errors (a re-trained run
    that did not reproduce its committed numbers)."""
    before = {r["name"]: r for r in old if r.get("status") == "finished"}
    for r in new:
        b = before.get(r["name"])
        if b is None or r.get("status") != "finished":
            continue
        keys = [k for k in ("energy_mae", "forces_mae") if b.get(k) and r.get(k)]
        if any(f"{float(b[k]):.4g}" != f"{float(r[k]):.4g}" for k in keys):
            print(f"{dataset}: {r['name']} re-trained with other test errors: "
                  + ", ".join(f"{k} {float(b[k]):.4g} -> {float(r[k]):.4g}" for k in keys))


def val_curve_rows(sweep_dir: str) -> list[dict]:
    """Validation energy and force MAE at every evaluation of every finished run."""
    rows = []
    for name in sorted(os.listdir(sweep_dir)):
        path = os.path.join(sweep_dir, name, "metrics.csv")
        if not os.path.exists(os.path.join(sweep_dir, name, "final_metrics.json")) or not os.path.exists(path):
            continue
        with open(path) as f:
            for r in csv.DictReader(f):
                if r["split"] == "val" and r["metric"] in ("energy_mae", "forces_mae"):
                    rows.append({"name": name, "step": r["step"], "metric": r["metric"], "value": r["value"]})
    return rows


def wall_times(sweep_dir: str) -> list[dict]:
    """Per finished run: seconds from its first start to its final_metrics.json (one pinned core
    per run, so this is its core-seconds; a resumed run counts the pause too)."""
    import datetime

    out = []
    for name in sorted(os.listdir(sweep_dir)):
        final = os.path.join(sweep_dir, name, "final_metrics.json")
        attempts = os.path.join(sweep_dir, name, "attempts.jsonl")
        if not (os.path.exists(final) and os.path.exists(attempts)):
            continue
        first = json.loads(open(attempts).readline())["time"]
        start = datetime.datetime.fromisoformat(first).replace(tzinfo=datetime.timezone.utc).timestamp()
        out.append(dict(name=name, seconds=round(os.path.getmtime(final) - start, 1),
                        attempts=sum(1 for _ in open(attempts)), cpu_seconds=process_cpu_seconds(sweep_dir, name)))
    return out


def process_cpu_seconds(sweep_dir: str, name: str) -> float | str:
    """The training process's CPU seconds at its last log (carried across resumes), or "" for
    runs trained before the training loop logged it."""
    cpu = ""
    with open(os.path.join(sweep_dir, name, "metrics.csv")) as f:
        for r in csv.DictReader(f):
            if r["metric"] == "process_cpu_s":
                cpu = round(float(r["value"]), 1)
    return cpu


# ----------------------------------------------------------------------------- analysis


def load_runs(group: str) -> list[dict]:
    """Finished runs of every sweep in the group; variant = config name (+ [w=…] for a weight scan)."""
    rows = []
    for sweep in GROUPS[group]:
        path = os.path.join(RESULTS, f"{sweep}.csv")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for r in csv.DictReader(f):
                if r["status"] != "finished":
                    continue
                n = int(r["data.n_train"])
                r.update(sweep=sweep, n=n if n else FULL_SIZE.get(base_dataset(group), n), seed=int(r["seed"]))
                weight = next((v for k, v in r.items() if k.startswith("loss.weights.") and k not in DFT_WEIGHTS
                               and v not in (None, "", "None")), "")
                r["variant"] = (r["config"] + (f"[w={float(weight):g}]" if weight else "")
                                + (f"[{r['model.orbital_features']}]" if r.get("model.orbital_features") else ""))
                rows.append(r)
    return rows


def table(rows: list[dict]) -> dict:
    """{(variant, n): {seed: row}}."""
    out: dict = defaultdict(dict)
    for r in rows:
        out[(r["variant"], r["n"])][r["seed"]] = r
    return out


def bootstrap_ci(values: np.ndarray, stat, rng, n_boot: int = N_BOOT) -> tuple[float, float]:
    """95 % percentile interval of `stat` over resamples (with replacement) of `values`' rows."""
    if len(values) < 2:
        return float("nan"), float("nan")
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    stats = np.array([stat(values[i]) for i in idx])
    return float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))


def summaries(dataset: str, grid: dict) -> list[dict]:
    out = []
    for (variant, n), by_seed in sorted(grid.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        for test in TEST_SETS[base_dataset(dataset)]:
            for metric, _, unit in METRICS + [("orbital_populations_mae", "orbital MAE", "me")]:
                col = f"{test}_{metric}"
                values = np.array([float(r[col]) for r in by_seed.values() if r.get(col) not in (None, "")])
                if not len(values):
                    continue
                out.append(dict(dataset=dataset, variant=variant, n_train=n, test_set=test, metric=metric,
                                unit=unit, n_seeds=len(values), mean=values.mean(),
                                std=values.std(ddof=1) if len(values) > 1 else float("nan"),
                                min=values.min(), max=values.max()))
    return out


def t_interval(values: np.ndarray) -> tuple[float, float]:
    """95 % Student-t interval of the mean: with 2–3 seeds the bootstrap has only a handful of
    distinct resamples and is far too narrow; the t interval says how little 3 seeds pin down."""
    from scipy import stats

    if len(values) < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def log_ratio_summary(log_ratio: np.ndarray, suffix: str = "", better: str = "n_better") -> dict:
    """The one summary of paired log ratios (variant / baseline, one per seed) every table uses:
    the geometric-mean ratio, its 95 % Student-t interval, how many pairs are below 1 (`better`)
    and each pair's ratio; `suffix` is appended to every key (e.g. "_4x")."""
    lo, hi = t_interval(log_ratio)
    return {f"ratio{suffix}": float(np.exp(log_ratio.mean())), f"t_ci_low{suffix}": float(np.exp(lo)),
            f"t_ci_high{suffix}": float(np.exp(hi)), f"{better}{suffix}": int((log_ratio < 0).sum()),
            f"per_seed{suffix}": " ".join(f"{np.exp(x):.3f}" for x in log_ratio)}


def cell_rng(*key) -> np.random.Generator:
    """A bootstrap stream of its own per table cell (dataset, variant, size, test set, metric):
    a cell's interval does not move when other runs or variants are added."""
    return np.random.default_rng(zlib.crc32("|".join(map(str, key)).encode()))


def paired_ratios(dataset: str, grid: dict, pairs=None) -> list[dict]:
    """Per size and (variant, baseline) pair: err(variant)/err(baseline) over seeds run for both.
    Default pairs: every variant against energy-only."""
    out = []
    sizes = sorted({n for _, n in grid})
    pairs = pairs or [(v, BASELINE) for v in sorted({v for v, _ in grid} - {BASELINE})]
    for variant, baseline in pairs:
        for n in sizes:
            base, other = grid.get((baseline, n), {}), grid.get((variant, n), {})
            seeds = sorted(set(base) & set(other))
            if not seeds:
                continue
            for test in TEST_SETS[base_dataset(dataset)]:
                for metric, _, _ in METRICS:
                    col = f"{test}_{metric}"
                    log_ratio = np.log([float(other[s][col]) / float(base[s][col]) for s in seeds])
                    key = (dataset, variant, n, test, metric) if baseline == BASELINE else (dataset, variant, baseline, n, test, metric)
                    lo, hi = bootstrap_ci(log_ratio, np.mean, cell_rng(*key))
                    summary = log_ratio_summary(log_ratio)
                    out.append(dict(dataset=dataset, variant=variant, n_train=n, test_set=test, metric=metric,
                                    n_seeds=len(seeds), ratio=summary.pop("ratio"),
                                    ci_low=float(np.exp(lo)), ci_high=float(np.exp(hi)), **summary))
                    if baseline != BASELINE:
                        out[-1]["baseline"] = baseline
    return out


def shuffled_pairs(grid: dict) -> list[tuple[str, str]]:
    """(real, shuffled) per-orbital variants of the same weight: the control's direct contrast."""
    variants = {v for v, _ in grid}
    return [(v.replace("orbital_shuffled", "orbital", 1), v) for v in sorted(variants)
            if v.startswith("orbital_shuffled") and v.replace("orbital_shuffled", "orbital", 1) in variants]


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
                    for s in set(base) & set(other):
                        per_seed[s].append(np.log(float(other[s][col]) / float(base[s][col])))
                if not per_seed:
                    continue
                seeds = sorted(per_seed)
                means = np.array([np.mean(per_seed[s]) for s in seeds])
                pairs_all = np.concatenate([per_seed[s] for s in seeds])
                summary = log_ratio_summary(means, better="seeds_better")
                per_seed_ratios = summary.pop("per_seed")
                out.append(dict(dataset=dataset, variant=variant, baseline=baseline, test_set=test, metric=metric,
                                n_seeds=len(seeds), n_pairs=len(pairs_all), **summary,
                                pairs_better=int((pairs_all < 0).sum()), per_seed=per_seed_ratios))
    return out


def power_law(n: np.ndarray, err: np.ndarray) -> tuple[float, float]:
    """(a, b) of log err = a + b log n, least squares."""
    b, a = np.polyfit(np.log(n), np.log(err), 1)
    return float(a), float(b)


def efficiency_factor(sizes, base_means, other_means, at: int) -> float:
    """n_EO(err_other(at)) / at: how many more structures energy-only needs for the same error.

    Both curves are smoothed by their power-law fits (err = e^a n^b), so the factor at n is
    (fit_other(n) / fit_EO(n))^(1/b_EO): with the shallow slopes here (b ≈ −0.2 … −0.35) a
    few per cent in error is a sizeable factor in data, and so is its uncertainty."""
    n = np.array(sizes, float)
    a, b = power_law(n, np.array(base_means))
    a_o, b_o = power_law(n, np.array(other_means))
    target = a_o + b_o * np.log(at)  # log of the variant's fitted error at `at`
    return float(np.exp((target - a) / b) / at)


def efficiency(dataset: str, grid: dict) -> list[dict]:
    """Power-law fits per variant and the data-efficiency factor at the largest common size, with
    a bootstrap CI over seeds (a resample draws seeds with replacement, the same seeds for both)."""
    out = []
    for variant in sorted({v for v, _ in grid} - {BASELINE}):
        sizes = sorted(n for (v, n) in grid if v == variant and (BASELINE, n) in grid)
        if len(sizes) < 3:
            continue
        seeds = sorted(set.intersection(*[set(grid[(variant, n)]) & set(grid[(BASELINE, n)]) for n in sizes]))
        if not seeds:
            continue
        for test in TEST_SETS[base_dataset(dataset)]:
            for metric, _, _ in METRICS:
                col = f"{test}_{metric}"
                base = np.array([[float(grid[(BASELINE, n)][s][col]) for n in sizes] for s in seeds])  # [seeds, sizes]
                other = np.array([[float(grid[(variant, n)][s][col]) for n in sizes] for s in seeds])
                at = sizes[-1]

                def factor(rows):
                    return efficiency_factor(sizes, list(base[rows].mean(0)), list(other[rows].mean(0)), at)

                all_rows = np.arange(len(seeds))
                lo, hi = bootstrap_ci(all_rows, factor, cell_rng(dataset, variant, "efficiency", test, metric), n_boot=2000)
                fit_base = power_law(np.array(sizes, float), base.mean(0))
                fit_other = power_law(np.array(sizes, float), other.mean(0))
                out.append(dict(dataset=dataset, variant=variant, test_set=test, metric=metric, sizes=sizes,
                                n_seeds=len(seeds), at_n=at, factor=factor(all_rows), ci_low=lo, ci_high=hi,
                                baseline_fit=dict(a=fit_base[0], slope=fit_base[1]),
                                variant_fit=dict(a=fit_other[0], slope=fit_other[1]),
                                factors_by_size={int(n): efficiency_factor(sizes, list(base.mean(0)),
                                                                           list(other.mean(0)), n)
                                                 for n in sizes}))
    return out


def val_curves(group: str) -> dict:
    """{(sweep, run name): {metric: [(step, value)]}} of the validation evaluations (step > 0)."""
    curves: dict = defaultdict(lambda: defaultdict(list))
    for sweep in GROUPS[group]:
        path = os.path.join(RESULTS, f"{sweep}_val_curves.csv")
        if os.path.exists(path):
            with open(path) as f:
                for r in csv.DictReader(f):
                    if int(r["step"]) > 0:
                        curves[(sweep, r["name"])][r["metric"]].append((int(r["step"]), float(r["value"])))
    return curves


def budget_check(group: str, curves: dict) -> list[dict]:
    """Per run: validation energy MAE at 3/4 of the budget, at the end and its minimum."""
    out = []
    for (sweep, name), metrics in sorted(curves.items()):
        steps, values = zip(*sorted(metrics["energy_mae"]))
        three_quarter = values[int(np.searchsorted(steps, 0.75 * steps[-1]))]
        out.append(dict(sweep=sweep, name=name, last=values[-1], at_three_quarters=three_quarter, best=min(values),
                        gain_last_quarter=1 - values[-1] / three_quarter))
    return out


def longer_budget(dataset: str) -> list[dict]:
    """The `<dataset>_long` runs (4× the steps) against the curve's runs of the same variant, size
    and seed: how much each arm gains from 4× the steps, and the paired ratio to energy-only at
    both budgets over the same seeds."""
    short, long = table(load_runs(dataset)), table(load_runs(f"{dataset}_long"))
    out = []
    for variant, n in sorted(long):
        base_short, base_long = short.get((BASELINE, n), {}), long.get((BASELINE, n), {})
        seeds = sorted(set(long[(variant, n)]) & set(short.get((variant, n), {})) & set(base_short) & set(base_long))
        if not seeds:
            continue
        for test in TEST_SETS[dataset]:
            for metric, _, unit in METRICS:
                col = f"{test}_{metric}"
                err = {(b, s): float(grid[(variant, n)][s][col]) for b, grid in (("1x", short), ("4x", long))
                       for s in seeds}
                row = dict(dataset=dataset, variant=variant, n_train=n, test_set=test, metric=metric, unit=unit,
                           n_seeds=len(seeds), mean_1x=np.mean([err[("1x", s)] for s in seeds]),
                           mean_4x=np.mean([err[("4x", s)] for s in seeds]),
                           steps_1x=int(short[(variant, n)][seeds[0]]["train.num_steps"]),
                           steps_4x=int(long[(variant, n)][seeds[0]]["train.num_steps"]))
                row["gain_4x"] = row["mean_4x"] / row["mean_1x"]
                if variant != BASELINE:
                    for b, base in (("1x", base_short), ("4x", base_long)):
                        log_ratio = np.log([err[(b, s)] / float(base[s][col]) for s in seeds])
                        row.update(log_ratio_summary(log_ratio, suffix=f"_{b}", better="better"))
                out.append(row)
    return out


def longer_budget_section(rows: list[dict]) -> list[str]:
    def ratio(r, b):
        if f"ratio_{b}" not in r:
            return "—"
        return f"{r[f'ratio_{b}']:.3f} ({r[f't_ci_low_{b}']:.3f}–{r[f't_ci_high_{b}']:.3f}; {r[f'better_{b}']}/{r['n_seeds']})"

    return md_table("Longer budgets: 4× the steps against the curve's budget (same seeds)",
                    ["dataset", "variant", "n_train", "test set", "metric", "seeds", "steps 1× → 4×", "mean 1×",
                     "mean 4×", "4×/1×", "ratio to EO 1× (t CI; better)", "ratio to EO 4× (t CI; better)"],
                    [f"| {r['dataset']} | {r['variant']} | {r['n_train']} | {r['test_set']} | {r['metric']} | "
                     f"{r['n_seeds']} | {r['steps_1x']} → {r['steps_4x']} | {r['mean_1x']:.3f} | {r['mean_4x']:.3f} | "
                     f"{r['gain_4x']:.3f} | {ratio(r, '1x')} | {ratio(r, '4x')} |" for r in rows])


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
            ax.plot(steps, values, color=f"C{variants.index(r['variant'])}", alpha=0.8, lw=1,
                    label=f"{r['variant']} seed {r['seed']}")
            ax.set_title(f"n_train = {r['n']}", fontsize=9)
            ax.set_yscale("log")
            ax.set_xlabel("step")
            ax.set_ylabel(f"validation {label} ({unit})")
            ax.axvline(int(r["train.num_steps"]) / 4, color="grey", ls="--", lw=0.8)
            ax.grid(True, which="both", alpha=0.3)
    for ax in axes.flat:
        handles = dict(zip(*reversed(ax.get_legend_handles_labels())))
        ax.legend(handles.values(), handles.keys(), fontsize=6)
    fig.suptitle(f"{group}: validation curves (dashed: the learning curve's budget, 1/4 of these runs')", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(RESULTS, f"val_curves_{group}.png"), dpi=100)
    plt.close(fig)


def weight_choice(group: str, rows: list[dict], curves: dict) -> list[dict]:
    """Validation energy MAE (of the selected checkpoint) per orbital weight, seed 0, at the sizes
    the weight scan covers; energy-only is weight 0 and `orbital` weight 100."""
    scan_sizes = {r["n"] for r in rows if r["sweep"].endswith("_weights")}
    out = []
    for r in rows:
        if (r["seed"] != 0 or r["n"] not in scan_sizes or r["config"] not in ("energy_only", "orbital")
                or r.get("model.orbital_features")):  # the head-input runs are not part of the scan
            continue
        weight = 0.0 if r["config"] == "energy_only" else float(r.get(WEIGHT) or 100.0)
        at = dict(curves[(r["sweep"], r["name"])]["energy_mae"]).get(int(float(r["selected_step"])))
        out.append(dict(group=group, n_train=r["n"], weight=weight, val_energy_mae=at,
                        val_forces_mae=dict(curves[(r["sweep"], r["name"])]["forces_mae"]).get(
                            int(float(r["selected_step"]))),
                        test_energy_mae=float(r["test_energy_mae"]), test_forces_mae=float(r["test_forces_mae"])))
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
        sizes = [n for n in sorted({w["n_train"] for w in rows})
                 if {w["weight"] for w in rows if w["n_train"] == n} == set(all_weights)]
        if not sizes:
            continue
        val = {(w["n_train"], w["weight"]): w["val_energy_mae"] for w in rows}
        scores = {wt: float(np.exp(np.mean([np.log(val[(n, wt)] / val[(n, 0.0)]) for n in sizes])))
                  for wt in all_weights}
        best = min(scores, key=scores.get)
        out += [dict(group=group, weight=wt, sizes=" ".join(map(str, sizes)), val_energy_ratio=score,
                     chosen=wt == best) for wt, score in scores.items()]
    return out


# ----------------------------------------------------------------------------- output


def record_stage(stage: str, started: tuple[float, float], detail: str = "") -> None:
    """Append one stage's wall and CPU seconds (this process) to results/stage_times.csv:
    the measured cost of collect/analyse/export that the README quotes. `started`: (time.time(),
    time.process_time()) at the stage's start."""
    import datetime
    import platform
    import time

    path = os.path.join(RESULTS, "stage_times.csv")
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["date", "stage", "wall_s", "cpu_s", "cpus_visible", "machine", "detail"])
        w.writerow([datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), stage,
                    f"{time.time() - started[0]:.1f}", f"{time.process_time() - started[1]:.1f}",
                    len(os.sched_getaffinity(0)), platform.node(), detail])


def write_csv(path: str, rows: list[dict]) -> None:
    if not rows:
        return
    with open(path, "w", newline="") as f:  # columns: every row's, in order of first appearance
        w = csv.DictWriter(f, list(dict.fromkeys(k for r in rows for k in r)), restval="")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


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
                pts = sorted((s["n_train"], s["mean"], s["min"], s["max"]) for s in summary
                             if s["variant"] == variant and s["test_set"] == test and s["metric"] == metric)
                if not pts:
                    continue
                n, mean, lo, hi = map(np.array, zip(*pts))
                ax.errorbar(n, mean, yerr=[mean - lo, hi - mean], marker="o", capsize=3, label=variant)
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
    the wall time from first start to the final metrics of a pinned run (`wall`; a run resumed
    in a later session counts the pause too)."""
    lines = ["## CPU time per sweep (one core per run; 2-core machine, two runs at a time)", "",
             "| sweep | finished runs | core-hours | median minutes per run | measured as |", "|---|---|---|---|---|"]
    every: list[float] = []
    for group in GROUPS.values():
        for sweep in group:
            path = os.path.join(RESULTS, f"{sweep}_wall_time.csv")
            if os.path.exists(path):
                rows = list(csv.DictReader(open(path)))
                seconds = [float(r.get("cpu_seconds") or r["seconds"]) for r in rows]
                kinds = {"cpu" if r.get("cpu_seconds") else "wall" for r in rows}
                if seconds:
                    lines.append(f"| {sweep} | {len(seconds)} | {sum(seconds) / 3600:.2f} | "
                                 f"{np.median(seconds) / 60:.1f} | {' + '.join(sorted(kinds))} |")
                    every += seconds
    lines.append(f"| **all** | {len(every)} | {sum(every) / 3600:.2f} | {np.median(every) / 60:.1f} | |")
    return lines + [""]


def rotated_table() -> list[str]:
    """Equivariant vs invariant orbital head on the original and the rotated test molecules
    (results/rotated.csv, written by rotated.py), mean over seeds per weight and size."""
    path = os.path.join(RESULTS, "rotated.csv")
    if not os.path.exists(path):
        return []
    by_seed: dict = defaultdict(dict)  # the same run may sit in two sweeps (weights scan, curve_wW): once per seed
    for r in csv.DictReader(open(path)):
        key = (r["dataset"], float(r["weight"]), int(r["n_train"]) or FULL_SIZE.get(r["dataset"], 0), r["config"])
        by_seed[key][r["seed"]] = r
    groups = {k: list(v.values()) for k, v in by_seed.items()}
    lines = ["## Orbital heads on original and randomly rotated test molecules (me; mean ± std over seeds)", "",
             "| dataset | orbital weight | n_train | head | seeds | original | rotated |", "|---|---|---|---|---|---|---|"]
    for (dataset, weight, n, config), rows in sorted(groups.items()):
        cells = []
        for tag in ("original", "rotated"):
            v = np.array([float(r[f"{tag}_orbital_mae"]) for r in rows])
            cells.append(f"{v.mean():.2f} ± {v.std(ddof=1):.2f}" if len(v) > 1 else f"{v.mean():.2f}")
        lines.append(f"| {dataset} | {weight:g} | {n} | {config} | {len(rows)} | {cells[0]} | {cells[1]} |")
    return lines + [""]


def errors_section(dataset: str, summary: list[dict]) -> list[str]:
    rows = [s for s in summary if s["dataset"] == dataset and s["metric"] in ("energy_mae", "forces_mae")]
    lines = [f"## {dataset}: test errors (mean ± std over seeds)", "",
             "| variant | n_train | test set | seeds | energy MAE meV/atom | force MAE meV/Å |", "|---|---|---|---|---|---|"]
    by_key = {(s["variant"], s["n_train"], s["test_set"], s["metric"]): s for s in rows}
    for v, n, t in sorted({k[:3] for k in by_key}, key=lambda k: (k[2], k[1], k[0])):
        e, f = by_key[(v, n, t, "energy_mae")], by_key[(v, n, t, "forces_mae")]
        lines.append(f"| {v} | {n} | {t} | {e['n_seeds']} | {e['mean']:.3f} ± {e['std']:.3f} | "
                     f"{f['mean']:.1f} ± {f['std']:.1f} |")
    return lines


def ratios_section(dataset: str, ratios: list[dict],
                   title: str = "paired ratio to energy-only (geometric mean over seeds)") -> list[str]:
    rows = [r for r in ratios if r["dataset"] == dataset]
    against = bool(rows) and "baseline" in rows[0]  # a contrast between two variants (`contrasts_*.csv`)
    return md_table(f"{dataset}: {title}",
                    ["variant", *(["baseline"] if against else []), "n_train", "test set", "metric", "seeds", "ratio",
                     "95 % bootstrap CI", "95 % t CI", "seeds better", "per seed"],
                    [f"| {r['variant']} |" + (f" {r['baseline']} |" if against else "")
                     + f" {r['n_train']} | {r['test_set']} | {r['metric']} | {r['n_seeds']} | "
                     f"{r['ratio']:.3f} | {r['ci_low']:.3f}–{r['ci_high']:.3f} | "
                     f"{r['t_ci_low']:.3f}–{r['t_ci_high']:.3f} | {r['n_better']}/{r['n_seeds']} | {r['per_seed']} |"
                     for r in rows])


def efficiency_section(dataset: str, effs: list[dict]) -> list[str]:
    def row(e):
        flat = abs(e["baseline_fit"]["slope"]) < MIN_SLOPE  # no learning curve to invert
        factor = "— (energy-only curve flat)" if flat else f"{e['factor']:.2f} (n={e['at_n']})"
        ci = "—" if flat else f"{e['ci_low']:.2f}–{e['ci_high']:.2f}"
        return (f"| {e['variant']} | {e['test_set']} | {e['metric']} | {e['sizes']} | {e['n_seeds']} | {factor} | "
                f"{ci} | {e['baseline_fit']['slope']:.3f} | {e['variant_fit']['slope']:.3f} |")

    return md_table(f"{dataset}: data-efficiency factor n_EO(err_variant(n)) / n (power-law fits; bootstrap over seeds)",
                    ["variant", "test set", "metric", "sizes", "seeds", "factor at largest n", "95 % CI", "EO slope",
                     "variant slope"],
                    [row(e) for e in effs if e["dataset"] == dataset])


def budget_section(dataset: str, budget: list[dict]) -> list[str]:
    if not budget:
        return []
    gains = np.array([x["gain_last_quarter"] for x in budget])
    return ["", f"## {dataset}: was the step budget enough?", "",
            f"Validation energy MAE improvement over the last quarter of the budget, over {len(budget)} runs: "
            f"median {np.median(gains) * 100:.1f} %, max {gains.max() * 100:.1f} % "
            f"(per run in `budget_{dataset}.csv`; the cosine schedule ends at 2 % of the peak rate)."]


def md_table(title: str, columns: list[str], body: list[str]) -> list[str]:
    """A tables.md section: its heading, then a markdown table of `body` rows (empty: nothing)."""
    if not body:
        return []
    return ["", f"## {title}", "", "| " + " | ".join(columns) + " |", "|---" * len(columns) + "|", *body]


def weights_section(dataset: str, weights: list[dict]) -> list[str]:
    return md_table(f"{dataset}: auxiliary weight (seed 0; chosen by validation energy MAE)",
                    ["n_train", "orbital weight", "val energy MAE meV/atom", "val force MAE meV/Å", "test energy MAE",
                     "test force MAE"],
                    [f"| {x['n_train']} | {x['weight']:g} | {x['val_energy_mae']:.3f} | {x['val_forces_mae']:.1f} | "
                     f"{x['test_energy_mae']:.3f} | {x['test_forces_mae']:.1f} |" for x in weights if x["group"] == dataset])


def heads_section(dataset: str, summary: list[dict]) -> list[str]:
    heads = [s for s in summary if s["dataset"] == dataset and s["metric"] == "orbital_populations_mae"]
    return md_table(f"{dataset}: per-orbital population error on test (me; mean ± std over seeds)",
                    ["variant", "n_train", "test set", "seeds", "orbital MAE me"],
                    [f"| {h['variant']} | {h['n_train']} | {h['test_set']} | {h['n_seeds']} | {h['mean']:.2f} ± {h['std']:.2f} |"
                     for h in sorted(heads, key=lambda h: (h["test_set"], h["n_train"], h["variant"]))])


def pooled_section(dataset: str, pooled: list[dict]) -> list[str]:
    return md_table(f"{dataset}: pooled over sizes, the seed as the unit (per seed: mean log ratio over its sizes)",
                    ["variant", "baseline", "test set", "metric", "seeds", "seed-size pairs", "ratio",
                     "95 % t CI over seeds", "seeds better", "pairs better", "per seed"],
                    [f"| {r['variant']} | {r['baseline']} | {r['test_set']} | {r['metric']} | {r['n_seeds']} | "
                     f"{r['n_pairs']} | {r['ratio']:.3f} | {r['t_ci_low']:.3f}–{r['t_ci_high']:.3f} | "
                     f"{r['seeds_better']}/{r['n_seeds']} | {r['pairs_better']}/{r['n_pairs']} | {r['per_seed']} |"
                     for r in pooled if r["dataset"] == dataset])


def markdown(summary, ratios, effs, budgets, weights, contrasts=(), pooled=()) -> str:
    lines = ["# Learning-curve tables (written by analyse.py; do not edit)", "", *cpu_table(), *rotated_table()]
    for dataset in GROUPS:
        if not any(s["dataset"] == dataset for s in summary):
            continue
        lines += [*errors_section(dataset, summary), *ratios_section(dataset, ratios),
                  *ratios_section(dataset, contrasts, "real vs shuffled per-orbital target (paired ratio real / shuffled)"), *pooled_section(dataset, pooled),
                  *efficiency_section(dataset, effs), *budget_section(dataset, budgets.get(dataset, [])),
                  *weights_section(dataset, weights), *heads_section(dataset, summary), ""]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-collect", action="store_true")
    args = p.parse_args()
    import time

    started = (time.time(), time.process_time())
    os.makedirs(RESULTS, exist_ok=True)
    if not args.no_collect:
        for group in GROUPS.values():
            for sweep in group:
                collect(sweep)
    all_summary, all_ratios, all_effs, budgets, weights, all_contrasts, all_pooled = [], [], [], {}, [], [], []
    for group in GROUPS:
        rows = load_runs(group)
        if not rows:
            continue
        grid, curves = table(rows), val_curves(group)
        summary = summaries(group, grid)
        ratios = paired_ratios(group, grid)
        controls = shuffled_pairs(grid)
        contrasts = paired_ratios(group, grid, controls) if controls else []
        pooled = pooled_over_sizes(group, grid, [(v, BASELINE) for v in sorted({v for v, _ in grid} - {BASELINE})] + controls)
        all_effs += efficiency(group, grid)
        budgets[group] = budget_check(group, curves)
        weights += weight_choice(group, rows, curves)
        write_csv(os.path.join(RESULTS, f"summary_{group}.csv"), summary)
        write_csv(os.path.join(RESULTS, f"ratios_{group}.csv"), ratios)
        write_csv(os.path.join(RESULTS, f"budget_{group}.csv"), budgets[group])
        write_csv(os.path.join(RESULTS, f"contrasts_{group}.csv"), contrasts)
        write_csv(os.path.join(RESULTS, f"pooled_{group}.csv"), pooled)
        plot(group, summary)
        if group.endswith("_long"):
            plot_val_curves(group, rows, curves)
        all_summary += summary
        all_ratios += ratios
        all_contrasts += contrasts
        all_pooled += pooled
    longer = [r for d in DATASETS for r in longer_budget(d)]
    write_csv(os.path.join(RESULTS, "longer_budget.csv"), longer)
    write_csv(os.path.join(RESULTS, "weights.csv"), weights)
    write_csv(os.path.join(RESULTS, "weights_choice.csv"), choose_weights(weights))
    with open(os.path.join(RESULTS, "efficiency.json"), "w") as f:
        json.dump(all_effs, f, indent=1)
    with open(os.path.join(RESULTS, "tables.md"), "w") as f:
        f.write(markdown(all_summary, all_ratios, all_effs, budgets, weights, all_contrasts, all_pooled)
                + "\n".join(longer_budget_section(longer)) + "\n")
    record_stage("analyse" if args.no_collect else "collect+analyse", started, f"{len(all_summary)} summary rows")
    print(os.path.join(RESULTS, "tables.md"))


if __name__ == "__main__":
    main()
