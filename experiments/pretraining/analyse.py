"""Collect the pretraining sweeps and compare fine-tuned with scratch, paired by seed.

    python -m experiments.pretraining.analyse        # from the repository root

Reads `runs/pretraining/chno_grown_pilot/` (the sweep `configs/sweeps/pretraining.py:pilot`)
and writes `experiments/pretraining/results/`:
- `pilot_runs.csv`: one row per finished run (arm, n, seed, steps, test and validation
  energy / force MAE, CPU seconds);
- `pilot_ratios.csv`: fine-tuned / scratch per (n, budget), geometric mean over the paired
  seeds with its 95 % t interval and the per-seed ratios;
- `pilot_budget.csv`: per (arm, n), the validation energy MAE at 2× the steps over 1×
  (the budget rule: a budget is converged when doubling changes it by < 5 %);
- `pilot_efficiency.csv`: the data-efficiency factor n_scratch(err_finetuned(n)) / n, read on
  scratch's measured curve (the learning curves' energy-only runs, 5 seeds, same budgets),
  interpolated log–log, never extrapolated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.common.runs import sweep_runs
from experiments.common.stats import log_ratio_summary, paired_log_ratios
from experiments.common.tables import md_rows, read_rows, update_results_file, write_csv

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SWEEP = ROOT / "runs" / "pretraining" / "chno_grown_pilot"
ARM = {"energy_only": "scratch", "finetune": "finetuned"}
# The learning curves' 1× budgets (configs/sweeps/lc_chno_grown.py; acac's are the same at
# n = 50 and 200, configs/sweeps/lc_acac.py): a run's budget is its steps over these.
BASE_STEPS = {25: 1000, 50: 1500, 100: 2000, 200: 3000, 400: 4000, 800: 5000}


def collect(sweep=SWEEP) -> list[dict]:
    rows = []
    for run in sweep_runs(sweep):
        o, final = run.overrides, run.final_metrics()
        n, steps = int(o["data.n_train"]), int(o["train.num_steps"])
        rows.append(
            {
                "arm": ARM[run.config],
                "n_train": n,
                "seed": int(o["seed"]),
                "budget": f"{steps // BASE_STEPS[n]}x",
                "steps": steps,
                "test_energy_mae": final["test_energy_mae"],
                "test_forces_mae": final["test_forces_mae"],
                "val_energy_mae": _best_val(run, "energy_mae"),
                "val_forces_mae": _best_val(run, "forces_mae"),
                "process_cpu_s": _cpu(run),
                "name": run.name,
            }
        )
    return sorted(rows, key=lambda r: (r["budget"], r["n_train"], r["arm"], r["seed"]))


def _best_val(run, metric: str) -> float:
    """The metric at the selected (best-by-validation-loss) step."""
    rows = [r for r in run.metric_rows() if r["split"] == "val"]
    losses = {int(r["step"]): float(r["value"]) for r in rows if r["metric"] == "val_loss"}
    best = min(losses, key=losses.get)
    return next(float(r["value"]) for r in rows if int(r["step"]) == best and r["metric"] == metric)


def _cpu(run) -> float:
    values = [
        float(r["value"])
        for r in run.metric_rows()
        if r["split"] == "time" and r["metric"] == "process_cpu_s"
    ]
    return max(values) if values else float("nan")


def ratios(rows: list[dict]) -> list[dict]:
    out = []
    for budget in sorted({r["budget"] for r in rows}):
        for n in sorted({r["n_train"] for r in rows}):
            cell = [r for r in rows if r["budget"] == budget and r["n_train"] == n]
            for metric in ("test_energy_mae", "test_forces_mae"):
                by_arm = {
                    a: {r["seed"]: r[metric] for r in cell if r["arm"] == a} for a in ARM.values()
                }
                seeds, log_ratio = paired_log_ratios(by_arm["finetuned"], by_arm["scratch"])
                if len(seeds) < 2:
                    continue
                out.append(
                    {
                        "budget": budget,
                        "n_train": n,
                        "metric": metric,
                        "n_seeds": len(seeds),
                        "scratch_mean": float(np.mean([by_arm["scratch"][s] for s in seeds])),
                        "finetuned_mean": float(np.mean([by_arm["finetuned"][s] for s in seeds])),
                        **log_ratio_summary(log_ratio, better="n_finetuned_better"),
                    }
                )
    return out


LC_CSV = ROOT / "experiments" / "learning_curves" / "results" / "chno_grown.csv"
FULL_N = 1205  # the grown set's whole training split (n_train = 0 in the learning-curve CSV)


def scratch_curve() -> tuple[np.ndarray, np.ndarray]:
    """(n, mean test energy MAE) of the learning curves' energy-only runs on the grown set
    (5 seeds, the same step budgets as the pilot's 1× arm): scratch's measured curve."""
    rows = [
        r for r in read_rows(LC_CSV) if r["config"] == "energy_only" and r["status"] == "finished"
    ]
    by: dict[int, list[float]] = {}
    for r in rows:
        by.setdefault(int(r["data.n_train"]) or FULL_N, []).append(float(r["test_energy_mae"]))
    n = np.array(sorted(by))
    return n, np.array([np.mean(by[k]) for k in n])


def efficiency(rows: list[dict]) -> list[dict]:
    """n_scratch(err_finetuned(n)) / n: scratch's curve interpolated log–log at the fine-tuned
    mean error, never extrapolated (NaN outside scratch's measured range)."""
    n_s, err_s = scratch_curve()
    order = np.argsort(err_s)  # interpolate n as a function of error (the curve decreases)
    out = []
    for n in sorted(
        {r["n_train"] for r in rows if r["budget"] == "1x" and r["arm"] == "finetuned"}
    ):
        errs = [
            r["test_energy_mae"]
            for r in rows
            if (r["arm"], r["n_train"], r["budget"]) == ("finetuned", n, "1x")
        ]
        err = float(np.mean(errs))
        inside = err_s.min() <= err <= err_s.max()
        n_equal = (
            float(np.exp(np.interp(np.log(err), np.log(err_s[order]), np.log(n_s[order]))))
            if inside
            else np.nan
        )
        out.append(
            {
                "n_train": n,
                "n_seeds": len(errs),
                "finetuned_test_energy_mae": err,
                "scratch_n_same_error": n_equal,
                "efficiency_factor": n_equal / n,
                "scratch_curve": " ".join(f"{a}:{b:.1f}" for a, b in zip(n_s, err_s)),
            }
        )
    return out


def budget_check(rows: list[dict]) -> list[dict]:
    out = []
    for arm in ARM.values():
        for n in sorted({r["n_train"] for r in rows}):
            one = {
                r["seed"]: r["val_energy_mae"]
                for r in rows
                if (r["arm"], r["n_train"], r["budget"]) == (arm, n, "1x")
            }
            two = {
                r["seed"]: r["val_energy_mae"]
                for r in rows
                if (r["arm"], r["n_train"], r["budget"]) == (arm, n, "2x")
            }
            seeds = sorted(set(one) & set(two))
            if seeds:
                change = float(
                    np.mean([two[s] for s in seeds]) / np.mean([one[s] for s in seeds]) - 1
                )
                out.append(
                    {
                        "arm": arm,
                        "n_train": n,
                        "n_seeds": len(seeds),
                        "val_energy_mae_1x": np.mean([one[s] for s in seeds]),
                        "val_energy_mae_2x": np.mean([two[s] for s in seeds]),
                        "relative_change": change,
                        "converged_5pct": abs(change) < 0.05,
                    }
                )
    return out


def render_ratios() -> list[str]:
    rows = read_rows(HERE / "results" / "pilot_ratios.csv")
    body = [
        [
            r["budget"],
            r["n_train"],
            r["metric"].replace("test_", "").replace("_mae", ""),
            r["n_seeds"],
            f"{float(r['scratch_mean']):.2f}",
            f"{float(r['finetuned_mean']):.2f}",
            f"{float(r['ratio']):.3f}",
            f"{float(r['t_ci_low']):.2f}–{float(r['t_ci_high']):.2f}",
            f"{r['n_finetuned_better']}/{r['n_seeds']}",
            r["per_seed"],
        ]
        for r in rows
    ]
    return md_rows(
        [
            "budget",
            "n DFT",
            "test MAE",
            "seeds",
            "scratch",
            "fine-tuned",
            "ratio",
            "95 % t CI",
            "fine-tuned better",
            "per seed",
        ],
        body,
    )


def render_budget() -> list[str]:
    path = HERE / "results" / "pilot_budget.csv"
    rows = read_rows(path) if path.exists() else []
    body = [
        [
            r["arm"],
            r["n_train"],
            r["n_seeds"],
            f"{float(r['val_energy_mae_1x']):.2f}",
            f"{float(r['val_energy_mae_2x']):.2f}",
            f"{100 * float(r['relative_change']):+.1f} %",
            r["converged_5pct"],
        ]
        for r in rows
    ]
    return md_rows(
        ["arm", "n DFT", "seeds", "val energy 1× (meV/atom)", "2×", "change", "< 5 %"], body
    )


def render_runs() -> list[str]:
    rows = read_rows(HERE / "results" / "pilot_runs.csv")
    cpu = sum(float(r["process_cpu_s"]) for r in rows) / 3600
    return [
        f"{len(rows)} finished runs, {cpu:.2f} CPU-hours of training (`results/pilot_runs.csv`)."
    ]


def render_efficiency() -> list[str]:
    path = HERE / "results" / "pilot_efficiency.csv"
    rows = read_rows(path) if path.exists() else []
    body = [
        [
            r["n_train"],
            r["n_seeds"],
            f"{float(r['finetuned_test_energy_mae']):.1f}",
            f"{float(r['scratch_n_same_error']):.0f}",
            f"{float(r['efficiency_factor']):.1f}×",
        ]
        for r in rows
    ]
    return md_rows(
        [
            "n DFT (fine-tuned)",
            "seeds",
            "fine-tuned test energy (meV/atom)",
            "scratch n for that error",
            "data-efficiency factor",
        ],
        body,
    )


RENDERERS = {
    "pilot_ratios": render_ratios,
    "pilot_budget": render_budget,
    "pilot_runs": render_runs,
    "pilot_efficiency": render_efficiency,
}


def with_committed(rows: list[dict], path) -> list[dict]:
    """`rows` plus the committed rows of runs whose directories are gone (runs/ is not
    committed): a later session's analysis keeps what an earlier one measured."""
    path = Path(path)
    if not path.exists():
        return rows
    have = {r["name"] for r in rows}
    numeric = ("n_train", "seed", "steps")
    kept = [
        {
            k: (int(v) if k in numeric else float(v) if k not in ("arm", "budget", "name") else v)
            for k, v in r.items()
        }
        for r in read_rows(path)
        if r["name"] not in have
    ]
    return sorted(rows + kept, key=lambda r: (r["budget"], r["n_train"], r["arm"], r["seed"]))


def main() -> None:
    results = HERE / "results"
    rows = with_committed(collect(), results / "pilot_runs.csv")
    results.mkdir(exist_ok=True)
    write_csv(results / "pilot_runs.csv", rows)
    for name, table in (
        ("pilot_ratios.csv", ratios(rows)),
        ("pilot_budget.csv", budget_check(rows)),
        ("pilot_efficiency.csv", efficiency(rows)),
    ):
        if table:
            write_csv(results / name, table)
    if (HERE / "RESULTS.md").exists():
        from experiments.pretraining.decisive import RENDERERS as DECISIVE_RENDERERS

        update_results_file(HERE / "RESULTS.md", {**RENDERERS, **DECISIVE_RENDERERS})
    print(f"{len(rows)} finished runs; wrote {results}")


if __name__ == "__main__":
    main()
