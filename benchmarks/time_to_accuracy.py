"""Time to accuracy on acetylacetone: validation error against the CPU
seconds of training, orbjax's default model against mace-torch, each on one pinned core.

The same data for both: the learning-curve split of acac (fixed 50 validation / 50 test
frames of `train_300K`, the other 400 for training, `train_600K` as a second test set;
`experiments/learning_curves/prepare.py`). Run the stages one after another (each pins
core 1), or give them different cores:

  # orbjax (default model without the orbital head, i.e. `configs/energy_only.py`, as mace
  # trains on energies and forces only): seed 0 of the learning curves' `long` sweep (16,000
  # steps, 4× the learning curve's budget), the `tta` sweep (48,000 steps, 12×) and `tta_long`
  # (192,000 steps, 48×, ~2 core-hours: a cosine schedule needs its budget planned); an empty
  # compilation cache, so that compilation is counted as a new user pays it
  JAX_COMPILATION_CACHE_DIR=$(mktemp -d) ORBJAX_CPUS=1 bash experiments/learning_curves/queue.sh \
      lc_acac:long@0+config=energy_only lc_acac:tta lc_acac:tta_long
  # mace-torch at orbjax's size and at its own defaults (~2 core-hours each;
  # benchmarks/README.md, "mace-torch reference"; exports the split first)
  for v in orbjax_size mace_defaults; do
    .venv-mace/bin/python -m benchmarks.mace_reference train --dataset acac --n-train 400 --seed 0 \
        --variant $v --budget-cpu-s 7200 --eval-interval 1 --orbjax-python .venv/bin/python
  done
  # then (seconds): curves + summary CSVs, and the section of benchmarks/RESULTS.md
  .venv/bin/python -m benchmarks.time_to_accuracy
  .venv/bin/python -m benchmarks.run_all --report-only benchmarks/results.json

orbjax's CPU seconds are `process_cpu_s`, logged by the training loop at every validation
(`orbjax.training.loop.TrainingClock`: `time.process_time()` from the start of
`train_and_evaluate` — data loading, statistics, compilation, training and validation,
carried across resumes; runs whose clock is incomplete are left out); mace's are the
harness's `cpu_s` (`time.process_time()` of mace-torch's `run_train` process, setup
included). Both count every thread of the process. The `wall_s` columns differ in where
they start (orbjax: `train_and_evaluate`, after imports; mace: the process) and are not
compared.

Writes `benchmarks/time_to_accuracy_curves.csv` (one row per validation pass of every run),
`benchmarks/time_to_accuracy.csv` (one row per run: the best validation errors, the CPU
seconds to first reach each error level of `FORCE_LEVELS` / `ENERGY_LEVELS`, and the test
errors of the model the run selected by validation) and `benchmarks/time_to_accuracy.png`
(validation energy and force MAE against CPU-hours, log–log).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re

from experiments.common.runs import sweep_runs
from experiments.common.tables import write_csv

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ORBJAX_SWEEPS = tuple(
    os.path.join(ROOT, "runs", "learning_curves", s)
    for s in ("acac_long", "acac_tta", "acac_tta_long")
)
MACE_CURVES = os.path.join(HERE, "mace_reference_val_curves.csv")
MACE_RESULTS = os.path.join(HERE, "mace_reference.csv")
CURVES_CSV = os.path.join(HERE, "time_to_accuracy_curves.csv")
SUMMARY_CSV = os.path.join(HERE, "time_to_accuracy.csv")
PLOT_PNG = os.path.join(HERE, "time_to_accuracy.png")
N_TRAIN = 400
FORCE_LEVELS = (100.0, 50.0, 40.0, 30.0, 25.0, 20.0)  # meV/Å, validation force MAE
ENERGY_LEVELS = (2.0, 1.0, 0.7, 0.5, 0.4, 0.3)  # meV/atom, validation energy MAE
MACE_VARIANTS = ("orbjax_size", "mace_defaults")
CURVE_FIELDS = [
    "model",
    "run",
    "seed",
    "step_or_epoch",
    "cpu_s",
    "wall_s",
    "val_energy_mae",
    "val_forces_mae",
]


def orbjax_curves(
    sweep_dir: str, config: str = "energy_only", seed: int = 0
) -> dict[str, list[dict]]:
    """{run name: curve rows} of the finished `config` runs of `seed` in a learning-curve sweep."""
    runs = {}
    for run in sweep_runs(sweep_dir):
        if run.config != config or int(run.overrides["seed"]) != seed:
            continue
        by_step: dict[int, dict] = {}
        for r in run.metric_rows():  # a resumed run repeats rows: the last one wins
            if r["split"] in ("val", "time"):
                by_step.setdefault(int(r["step"]), {})[r["metric"]] = float(r["value"])
        if any(m.get("clock_complete", 1.0) == 0.0 for m in by_step.values()):
            continue  # resumed from a checkpoint older than the clock: its CPU times miss work
        rows = [
            {
                "model": "orbjax",
                "run": f"{config}_steps{run.overrides['train.num_steps']}",
                "seed": seed,
                "step_or_epoch": step,
                "cpu_s": m["process_cpu_s"],
                "wall_s": m["wall_s"],
                "val_energy_mae": m["energy_mae"],
                "val_forces_mae": m["forces_mae"],
            }
            for step, m in sorted(by_step.items())
            if "process_cpu_s" in m and "energy_mae" in m
        ]
        if rows:  # runs from before the training clock have no CPU times
            runs[run.name] = rows
    return runs


def orbjax_tests(workdir: str) -> dict:
    final = json.load(open(os.path.join(workdir, "final_metrics.json")))
    return {
        "selected": final.get("selected_step"),
        "test_energy_mae": final.get("test_energy_mae"),
        "test_forces_mae": final.get("test_forces_mae"),
        "test600_energy_mae": final.get("test600_energy_mae"),
        "test600_forces_mae": final.get("test600_forces_mae"),
    }


def mace_curves(path: str = MACE_CURVES, seed: int = 0) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {}
    if not os.path.exists(path):
        return runs
    for r in csv.DictReader(open(path, newline="")):
        if (
            r["dataset"] == "acac"
            and int(r["n_train"]) == N_TRAIN
            and int(r["seed"]) == seed
            and r["variant"] in MACE_VARIANTS
        ):
            rows = runs.setdefault(r["variant"], [])
            if rows and int(r["epoch"]) <= rows[-1]["step_or_epoch"]:
                rows.clear()  # a rerun (`--force`) appended a new curve: the last run's rows only
            rows.append(
                {
                    "model": "mace",
                    "run": r["variant"],
                    "seed": seed,
                    "step_or_epoch": int(r["epoch"]),
                    "cpu_s": float(r["cpu_s"]),
                    "wall_s": float(r["wall_s"]),
                    "val_energy_mae": float(r["energy_mae"]),
                    "val_forces_mae": float(r["forces_mae"]),
                }
            )
    return runs


def mace_tests(variant: str, path: str = MACE_RESULTS, seed: int = 0) -> dict:
    out = {}
    if not os.path.exists(path):
        return out
    for r in csv.DictReader(open(path, newline="")):
        if (
            r["dataset"] == "acac"
            and r["variant"] == variant
            and int(r["n_train"]) == N_TRAIN
            and int(r["seed"]) == seed
            and r["test_set"] in ("test", "test600")
        ):
            out[f"{r['test_set']}_energy_mae"] = float(r["energy_mae"])
            out[f"{r['test_set']}_forces_mae"] = float(r["forces_mae"])
            out["selected"] = r["best_epoch"]
    return out


def first_reached(rows: list[dict], key: str, level: float) -> float | None:
    """CPU seconds of the first validation at or below `level` (None: never reached)."""
    for r in sorted(rows, key=lambda r: r["cpu_s"]):
        if r[key] <= level:
            return r["cpu_s"]
    return None


def summary(model: str, run: str, rows: list[dict], tests: dict) -> dict:
    out = {
        "model": model,
        "run": run,
        "n_validations": len(rows),
        "total_cpu_s": max(r["cpu_s"] for r in rows),
        "best_val_energy_mae": min(r["val_energy_mae"] for r in rows),
        "best_val_forces_mae": min(r["val_forces_mae"] for r in rows),
    }
    for level in FORCE_LEVELS:
        out[f"cpu_s_to_forces_{level:g}"] = first_reached(rows, "val_forces_mae", level)
    for level in ENERGY_LEVELS:
        out[f"cpu_s_to_energy_{level:g}"] = first_reached(rows, "val_energy_mae", level)
    out.update(
        {
            k: tests.get(k)
            for k in (
                "selected",
                "test_energy_mae",
                "test_forces_mae",
                "test600_energy_mae",
                "test600_forces_mae",
            )
        }
    )
    return out


def collect(
    sweep_dirs=ORBJAX_SWEEPS,
    mace_curves_path: str = MACE_CURVES,
    mace_results_path: str = MACE_RESULTS,
) -> tuple[list[dict], list[dict]]:
    curves, summaries = [], []
    for sweep_dir in sweep_dirs:
        for name, rows in orbjax_curves(sweep_dir).items():
            curves += rows
            summaries.append(
                summary("orbjax", rows[0]["run"], rows, orbjax_tests(os.path.join(sweep_dir, name)))
            )
    for variant, rows in mace_curves(mace_curves_path).items():
        curves += rows
        summaries.append(summary("mace", variant, rows, mace_tests(variant, mace_results_path)))
    summaries.sort(key=lambda s: (s["model"], _natural(s["run"])))
    return curves, summaries


def _natural(text: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def write(rows: list[dict], path: str, fields: list[str] | None = None) -> None:
    write_csv(path, rows, fields=fields or list(rows[0]))


def plot(curves: list[dict], path: str) -> None:
    """Validation energy and force MAE against CPU-hours, one line per run (log–log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    runs: dict[tuple, list[dict]] = {}
    for r in curves:
        runs.setdefault((r["model"], r["run"]), []).append(r)
    for (model, run), rows in sorted(runs.items()):
        rows = sorted(rows, key=lambda r: r["cpu_s"])
        hours = [r["cpu_s"] / 3600 for r in rows]
        style = "-" if model == "orbjax" else "--"
        for ax, key in zip(axes, ("val_energy_mae", "val_forces_mae")):
            ax.plot(hours, [r[key] for r in rows], style, marker=".", ms=3, label=f"{model} {run}")
    for ax, label in zip(
        axes, ("validation energy MAE (meV/atom)", "validation force MAE (meV/Å)")
    ):
        ax.set(xscale="log", yscale="log", xlabel="CPU-hours of training (one core)", ylabel=label)
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle("acetylacetone, 400 training frames, seed 0")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweep-dirs", nargs="+", default=list(ORBJAX_SWEEPS))
    parser.add_argument("--mace-curves", default=MACE_CURVES)
    parser.add_argument("--mace-results", default=MACE_RESULTS)
    parser.add_argument("--out-dir", default=HERE)
    args = parser.parse_args()
    curves, summaries = collect(args.sweep_dirs, args.mace_curves, args.mace_results)
    if not summaries:
        raise SystemExit(
            f"no finished run with CPU times in {args.sweep_dirs} or acac n={N_TRAIN} rows in "
            f"{args.mace_curves}"
        )
    write(curves, os.path.join(args.out_dir, os.path.basename(CURVES_CSV)), CURVE_FIELDS)
    write(summaries, os.path.join(args.out_dir, os.path.basename(SUMMARY_CSV)))
    plot(curves, os.path.join(args.out_dir, os.path.basename(PLOT_PNG)))
    for s in summaries:
        print(
            f"{s['model']:7s} {s['run']:24s} {s['total_cpu_s'] / 3600:5.2f} CPU-h  best val "
            f"{s['best_val_energy_mae']:.3g} meV/atom {s['best_val_forces_mae']:.3g} meV/Å  test "
            f"{s['test_energy_mae']} / {s['test_forces_mae']}"
        )


if __name__ == "__main__":
    main()
