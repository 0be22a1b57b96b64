"""Test error against labelled-set size per strategy, and the data-efficiency factor of
committee selection over random selection.

    python -m experiments.active_learning.analyse      # from the repository root

Reads every finished round (`round.json`) under `runs/active_learning/` and writes
`experiments/active_learning/results/`:
- `runs.csv`: one row per (dataset, strategy, seed, round, member): labelled-set size, test
  energy MAE (meV/atom) and force MAE (meV/Å), training CPU seconds; member "mean" is the
  committee's mean prediction (no training CPU; its scoring and selection CPU instead);
- `summary.csv`: per (dataset, strategy, n) the mean over seeds of each seed's
  member-averaged test error (and of the committee mean's);
- `efficiency.csv`: for each n of the committee curve, the n at which random's curve (mean
  over seeds, log-log interpolation between measured sizes, never extrapolated) reaches the
  same error, the ratio n_random / n with a 95 % bootstrap interval over seeds (seeds are
  resampled jointly for both strategies: they share round 0).
Then RESULTS.md's tables are redrawn from these CSVs only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from experiments.common.stats import N_BOOT, cell_rng
from experiments.common.tables import md_rows, read_rows, update_results_file, write_csv

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RUNS_ROOT = Path("runs/active_learning")
METRICS = ("test_energy_mae", "test_forces_mae")
UNITS = {"test_energy_mae": "meV/atom", "test_forces_mae": "meV/Å"}


# --------------------------------------------------------------------- collect


def _cpu(workdir: Path) -> float:
    """The member's training CPU seconds (last `process_cpu_s` of its log; NaN if none)."""
    path = workdir / "metrics.csv"
    rows = read_rows(path)
    values = [float(r["value"]) for r in rows if r["metric"] == "process_cpu_s"]
    return max(values) if values else float("nan")


def collect(root: Path) -> list[dict]:
    """One row per member and one per committee mean of every finished round under `root`."""
    rows = []
    for record_file in sorted(root.glob("*/*/seed*/round*/round.json")):
        if not (record_file.parent / "DONE").exists():
            continue
        record = json.loads(record_file.read_text())
        if record.get("experiment") == "closed_loop":  # closed_loop.py analyses its own
            continue
        key = {k: record[k] for k in ("dataset", "strategy", "seed", "round", "n_labelled")}
        for j, workdir in enumerate(map(Path, record["members"])):
            final = json.loads((workdir / "final_metrics.json").read_text())
            rows.append(
                {
                    **key,
                    "member": str(j),
                    **{m: float(final[m]) for m in METRICS},
                    "cpu_s": _cpu(workdir),
                }
            )
        if "committee_test_energy_mae" in record:
            rows.append(
                {
                    **key,
                    "member": "mean",
                    **{m: float(record[f"committee_{m}"]) for m in METRICS},
                    "cpu_s": float(record.get("score_select_cpu_s", float("nan"))),
                }
            )
    return sorted(
        rows, key=lambda r: (r["dataset"], r["strategy"], r["seed"], r["round"], r["member"])
    )


# --------------------------------------------------------------------- curves


def seed_curves(rows: list[dict], metric: str, member: str = "members") -> dict:
    """{(dataset, strategy): {seed: {n: error}}}: per seed and size the members' mean error
    (`member="members"`) or the committee mean's (`member="mean"`)."""
    cells: dict = {}
    for r in rows:
        if (r["member"] == "mean") != (member == "mean"):
            continue
        key = (r["dataset"], r["strategy"])
        cell = cells.setdefault(key, {}).setdefault(int(r["seed"]), {})
        cell.setdefault(int(r["n_labelled"]), []).append(float(r[metric]))
    return {
        key: {s: {n: float(np.mean(v)) for n, v in c.items()} for s, c in seeds.items()}
        for key, seeds in cells.items()
    }


def summary(rows: list[dict]) -> list[dict]:
    out = []
    members = {m: seed_curves(rows, m) for m in METRICS}
    means = {m: seed_curves(rows, m, "mean") for m in METRICS}
    for dataset, strategy in sorted(members[METRICS[0]]):
        seeds = members[METRICS[0]][dataset, strategy]
        for n in sorted({n for c in seeds.values() for n in c}):
            row = {"dataset": dataset, "strategy": strategy, "n_labelled": n}
            have = [s for s in seeds if n in seeds[s]]
            row["n_seeds"] = len(have)
            for m in METRICS:
                row[m] = float(np.mean([members[m][dataset, strategy][s][n] for s in have]))
                committee = means[m].get((dataset, strategy), {})
                vals = [committee[s][n] for s in have if n in committee.get(s, {})]
                row[f"committee_mean_{m}"] = float(np.mean(vals)) if vals else None
            out.append(row)
    return out


def crossing(sizes, errors, target: float) -> float:
    """The n at which the curve (sizes ascending, errors) reaches `target`, interpolated
    linearly in log n – log error between measured points; +inf if it never gets that low
    within its sizes, 0 if it is already below at its first size (never extrapolated)."""
    log_n, log_e, t = np.log(sizes), np.log(errors), np.log(target)
    if log_e[0] == t:  # the shared round 0: both curves start at the same point
        return float(sizes[0])
    if log_e[0] < t:
        return 0.0
    for i in range(len(log_n) - 1):
        if log_e[i + 1] <= t:
            frac = (log_e[i] - t) / (log_e[i] - log_e[i + 1])
            return float(np.exp(log_n[i] + frac * (log_n[i + 1] - log_n[i])))
    return float("inf")


def _factors(curve, base, seeds) -> dict:
    """{n: n_base / n} from the seed-mean curves of `seeds` (a resample may repeat seeds)."""
    sizes = sorted(set.intersection(*(set(curve[s]) for s in seeds)))
    base_sizes = sorted(set.intersection(*(set(base[s]) for s in seeds)))
    base_err = [np.mean([base[s][n] for s in seeds]) for n in base_sizes]
    return {
        n: crossing(base_sizes, base_err, np.mean([curve[s][n] for s in seeds])) / n for n in sizes
    }


def efficiency(rows: list[dict], strategy="committee", baseline="random") -> list[dict]:
    """The data-efficiency factor of `strategy` over `baseline` per dataset, metric and n."""
    out = []
    for metric in METRICS:
        curves = seed_curves(rows, metric)
        for dataset in sorted({d for d, _ in curves}):
            if (dataset, strategy) not in curves or (dataset, baseline) not in curves:
                continue
            curve, base = curves[dataset, strategy], curves[dataset, baseline]
            seeds = np.array(sorted(set(curve) & set(base)))
            if not len(seeds):
                continue
            point = _factors(curve, base, seeds)
            rng = cell_rng(dataset, strategy, baseline, metric)
            boot = [
                _factors(curve, base, rng.choice(seeds, len(seeds)))
                for _ in range(N_BOOT if len(seeds) > 1 else 0)
            ]
            for n, factor in point.items():
                values = np.array([b.get(n, np.nan) for b in boot])
                lo, hi = (
                    np.quantile(values, [0.025, 0.975], method="nearest")
                    if len(values)
                    else (np.nan, np.nan)
                )
                out.append(
                    {
                        "dataset": dataset,
                        "metric": metric,
                        "n_labelled": n,
                        "factor": factor,
                        "boot_low": float(lo),
                        "boot_high": float(hi),
                        "n_seeds": len(seeds),
                        # share of resamples where the baseline never reaches the error
                        # within its sizes (inf) or is lower already at its first (0)
                        "censored_share": float(np.mean(~np.isfinite(values) | (values == 0)))
                        if len(values)
                        else None,
                    }
                )
    return out


# --------------------------------------------------------------------- RESULTS.md


def _f(value, digits=3) -> str:
    if value in ("", None):
        return ""
    x = float(value)
    if x == float("inf"):
        return "> max"
    if x == 0.0:
        return "< min"
    return f"{x:.{digits}g}"


def render_curves(results: Path = RESULTS) -> list[str]:
    body = [
        [
            r["dataset"],
            r["strategy"],
            r["n_labelled"],
            _f(r["test_energy_mae"]),
            _f(r["test_forces_mae"]),
            _f(r["committee_mean_test_energy_mae"]),
            _f(r["committee_mean_test_forces_mae"]),
            r["n_seeds"],
        ]
        for r in read_rows(results / "summary.csv")
    ]
    return md_rows(
        [
            "dataset",
            "strategy",
            "n",
            "E MAE (meV/atom)",
            "F MAE (meV/Å)",
            "committee-mean E",
            "committee-mean F",
            "seeds",
        ],
        body,
    )


def render_efficiency(results: Path = RESULTS) -> list[str]:
    body = [
        [
            r["dataset"],
            f"{r['metric']} ({UNITS[r['metric']]})",
            r["n_labelled"],
            _f(r["factor"]),
            f"{_f(r['boot_low'])} – {_f(r['boot_high'])}",
            _f(r["censored_share"], 2),
            r["n_seeds"],
        ]
        for r in read_rows(results / "efficiency.csv")
    ]
    return md_rows(
        [
            "dataset",
            "metric",
            "n (committee)",
            "n_random / n",
            "95 % bootstrap",
            "censored",
            "seeds",
        ],
        body,
    )


def render_cost(results: Path = RESULTS) -> list[str]:
    rows = [r for r in read_rows(results / "runs.csv") if r["member"] != "mean"]
    body = []
    for dataset in sorted({r["dataset"] for r in rows}):
        cpu = [float(r["cpu_s"]) for r in rows if r["dataset"] == dataset and r["cpu_s"]]
        body.append([dataset, str(len(cpu)), f"{np.nansum(cpu) / 3600:.2f}"])
    return md_rows(["dataset", "members trained", "training CPU-hours"], body)


def renderers(results: Path = RESULTS) -> dict:
    return {
        "al_curves": lambda: render_curves(results),
        "al_efficiency": lambda: render_efficiency(results),
        "al_cost": lambda: render_cost(results),
        "al_closed_loop": lambda: render_closed_loop(results),
    }


def render_closed_loop(results: Path = RESULTS) -> list[str]:
    """The closed loop's table (closed_loop.py draws it; one RESULTS.md holds both)."""
    from experiments.active_learning import closed_loop

    return closed_loop.render(results)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(RUNS_ROOT), help="the runs (run.py's --root)")
    p.add_argument("--results", default=str(RESULTS), help="where the CSVs go")
    p.add_argument("--results-md", default=str(HERE / "RESULTS.md"), help="tables to redraw")
    args = p.parse_args(argv)
    results = Path(args.results)
    rows = collect(Path(args.root))
    if not rows:
        print(f"no finished rounds under {args.root}")
        return 1
    write_csv(results / "runs.csv", rows)
    write_csv(results / "summary.csv", summary(rows))
    write_csv(results / "efficiency.csv", efficiency(rows))
    if Path(args.results_md).exists():
        update_results_file(args.results_md, renderers(results))
    print(f"{len(rows)} rows; wrote {results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
