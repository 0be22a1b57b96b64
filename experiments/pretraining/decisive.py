"""The decisive comparison: GFN1-pretrained (9,900 frames) → DFT fine-tuning against scratch
at converged budgets, paired by seed, on the grown CHNO set.

    python -m experiments.pretraining.decisive        # from the repository root

Reads the sweeps of `configs/sweeps/pretraining.py` (pilot: scratch at 1× and 2×; recipe;
scratch_long: scratch at 4×; decisive) under `runs/pretraining/` and writes
`experiments/pretraining/results/`:
- `decisive_runs.csv`: one row per finished run (arm, learning rate, n, seed, budget,
  test / validation errors, CPU seconds); committed rows of runs whose directories are gone
  are kept;
- `recipe.csv` and `recipe_choice.json`: the fine-tuning learning rate with the lowest mean
  validation loss at n = 50 (seeds 0–2), read by the decisive sweep;
- `decisive_budget.csv`: per (arm, n), validation energy MAE at each budget and its change
  when the steps double; the converged budget is the smallest whose doubling changes it by
  < 5 % (else the largest measured, marked not converged);
- `decisive_ratios.csv`: each arm (at 1×) over scratch at its converged budget, paired by
  seed: geometric mean ratio with 95 % t and bootstrap intervals;
- `decisive_efficiency.csv`: the data-efficiency factor read on scratch's curve;
- `decisive_efficiency_converged.csv`: the same factor on scratch's converged curve (the
  sizes where scratch has a converged budget), with a bootstrap interval over seeds;
- `pretrainings.csv`: the pretraining runs (data, steps, GFN1 errors on their own splits,
  CPU-hours);
- `decisive_orbital_target.csv`: the orbital-pretrained arm over the energy + forces-only
  one, paired by seed (does the orbital target matter when pretraining?);
- `decisive_size.csv`: the decisive arm against its pretraining set's size (1,980 / 5,000 /
  10,000 molecules), fine-tuned / scratch paired by seed and the data-efficiency factor;
- `acac_runs.csv`, `acac_budget.csv`, `acac_ratios.csv`, `acac_efficiency_converged.csv`:
  acac's pair (the full pretraining fine-tuned against scratch), the same rules on its rows.
"""

from __future__ import annotations

import json
from math import nan
from pathlib import Path

import numpy as np

from experiments.common.runs import Run, sweep_runs
from experiments.common.stats import cell_rng, log_ratio_summary, paired_log_ratios
from experiments.common.tables import md_rows, read_rows, update_results_file, write_csv
from experiments.pretraining.analyse import BASE_STEPS, _best_val, _cpu, scratch_curve
from experiments.pretraining.analyse import RENDERERS as PILOT_RENDERERS

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SWEEPS = (
    "chno_grown_pilot",
    "chno_grown_recipe",
    "chno_grown_scratch",
    "chno_grown_scratch_seeds",
    "chno_grown_scratch_large",
    "chno_grown_decisive",
    "chno_grown_size",
    "chno_grown_controls",
    "chno_grown_multifidelity",
)
COMPARED = ("finetuned_efo", "finetuned_ef", "multifidelity")
# The fine-tuned arms the ratios and efficiency factors compare with scratch: the 9,900-frame
# pretrainings and their controls (grown CHNO), and the full one (acac's pair; it saw acac's
# GFN1 frames).
FINETUNED = (
    "finetuned_efo",
    "finetuned_ef",
    "finetuned_o",  # populations only
    "finetuned_denoise",  # the same structures, no GFN1 label (coordinate denoising)
    "finetuned_full_efo",
)
# acac's pair (`configs/sweeps/pretraining.py:acac`): its own rows and tables, `acac_*.csv`.
ACAC_SWEEPS = ("acac_pair",)
# The pretraining-size curve: the decisive arm's pretraining on the first 1,980 (the 9,900-frame
# model, arm finetuned_efo), 5,000 and 10,000 sampled pool molecules, 5 GFN1 frames each.
PRETRAIN_MOLECULES = (5000, 10000)
SIZE_ARMS = {"finetuned_efo": 1980, **{f"finetuned_efo_{m}mol": m for m in PRETRAIN_MOLECULES}}
RECIPE_N = 50


def _arm(run) -> str:
    if run.config == "energy_only":
        return "scratch"
    if run.overrides.get("data.levels"):
        return "multifidelity"
    model = str(run.overrides.get("init.model", ""))
    for molecules in PRETRAIN_MOLECULES:
        if f"_{molecules}mol_efo" in model:
            return f"finetuned_efo_{molecules}mol"
    for tag in ("efo", "ef", "o"):  # GFN1 energy, forces, per-orbital populations
        if f"_10k_{tag}/" in model or f"_10k_{tag}." in model:
            return f"finetuned_{tag}"
    if "chno_denoise_10k" in model:
        return "finetuned_denoise"
    if "chno_gfn1_full_efo" in model:
        return "finetuned_full_efo"
    if "chno_gfn1_v0/" in model:
        return "finetuned_v0"  # the pilot's 5,040-frame model
    raise ValueError(
        f"{run.name}: no arm for the pretrained model {model!r}; name it in "
        "experiments/pretraining/decisive.py `_arm` (or remove the run's folder)"
    )


def collect(sweeps=SWEEPS) -> list[dict]:
    rows = []
    for sweep in sweeps:
        for run in sweep_runs(ROOT / "runs" / "pretraining" / sweep):
            o, final = run.overrides, run.final_metrics()
            arm = _arm(run)
            if arm == "finetuned_v0":
                continue  # the pilot's 5,040-frame model: experiments/pretraining/RESULTS.md
            n, steps = int(o["data.n_train"]), int(o["train.num_steps"])
            rows.append(
                {
                    "sweep": sweep,
                    "arm": arm,
                    "learning_rate": float(o.get("optimizer.learning_rate") or 5e-3),
                    "n_train": n,
                    "seed": int(o["seed"]),
                    "budget": f"{steps // BASE_STEPS[n]}x",
                    "steps": steps,
                    "selected_step": int(final.get("selected_step", steps)),
                    "test_energy_mae": final["test_energy_mae"],
                    "test_forces_mae": final["test_forces_mae"],
                    "val_energy_mae": _best_val(run, "energy_mae"),
                    "val_forces_mae": _best_val(run, "forces_mae"),
                    "val_loss": _best_val(run, "val_loss"),
                    "process_cpu_s": _cpu(run),
                    "name": f"{sweep}/{run.name}",
                }
            )
    return rows


NUMERIC_INT = ("n_train", "seed", "steps", "selected_step")
TEXT = ("sweep", "arm", "budget", "name")


def with_committed(rows: list[dict], path: Path = RESULTS / "decisive_runs.csv") -> list[dict]:
    have = {r["name"] for r in rows}
    kept = []
    if path.exists():
        for r in read_rows(path):
            if r["name"] in have:
                continue
            kept.append(
                {
                    k: int(v) if k in NUMERIC_INT else v if k in TEXT else float(v)
                    for k, v in r.items()
                }
            )
    key = ("arm", "learning_rate", "budget", "n_train", "seed")
    return sorted(rows + kept, key=lambda r: tuple(r[k] for k in key))


def recipe(rows: list[dict]) -> tuple[list[dict], dict | None]:
    """Mean validation loss per fine-tuning learning rate (n = RECIPE_N, 1×, seeds in all)."""
    cell = [
        r
        for r in rows
        if r["arm"] == "finetuned_efo" and r["n_train"] == RECIPE_N and r["budget"] == "1x"
    ]
    by_lr: dict[float, dict[int, dict]] = {}
    for r in cell:
        by_lr.setdefault(r["learning_rate"], {})[r["seed"]] = r
    seeds = sorted(set.intersection(*(set(v) for v in by_lr.values()))) if by_lr else []
    table = [
        {
            "learning_rate": lr,
            "n_seeds": len(seeds),
            "val_loss": float(np.mean([by_lr[lr][s]["val_loss"] for s in seeds])),
            "val_energy_mae": float(np.mean([by_lr[lr][s]["val_energy_mae"] for s in seeds])),
            "val_forces_mae": float(np.mean([by_lr[lr][s]["val_forces_mae"] for s in seeds])),
            "selected_steps": " ".join(str(by_lr[lr][s]["selected_step"]) for s in seeds),
        }
        for lr in sorted(by_lr)
        if seeds
    ]
    if len(table) < 2:
        return table, None
    best = min(table, key=lambda r: r["val_loss"])
    return table, {
        "learning_rate": best["learning_rate"],
        "rule": f"lowest mean validation loss at n = {RECIPE_N}, {len(seeds)} seeds",
    }


def budgets(rows: list[dict]) -> list[dict]:
    out = []
    for arm in sorted({r["arm"] for r in rows}):
        for n in sorted({r["n_train"] for r in rows}):
            cell = [r for r in rows if r["arm"] == arm and r["n_train"] == n and _chosen(r, rows)]
            by_budget: dict[str, dict[int, float]] = {}
            for r in cell:
                by_budget.setdefault(r["budget"], {})[r["seed"]] = r["val_energy_mae"]
            factors = sorted(by_budget, key=lambda b: int(b[:-1]))
            for low, high in zip(factors, factors[1:]):
                seeds = sorted(set(by_budget[low]) & set(by_budget[high]))
                if not seeds:
                    continue
                a = float(np.mean([by_budget[low][s] for s in seeds]))
                b = float(np.mean([by_budget[high][s] for s in seeds]))
                out.append(
                    {
                        "arm": arm,
                        "n_train": n,
                        "budget": low,
                        "doubled": high,
                        "n_seeds": len(seeds),
                        "val_energy_mae": a,
                        "val_energy_mae_doubled": b,
                        "relative_change": b / a - 1,
                        "converged_5pct": abs(b / a - 1) < 0.05,
                    }
                )
    return out


def _chosen(row: dict, rows: list[dict]) -> bool:
    """Scratch and multi-fidelity runs, and fine-tuned runs at the chosen learning rate."""
    if row["arm"] in ("scratch", "multifidelity"):
        return True
    choice = RESULTS / "recipe_choice.json"
    if not choice.exists():
        return False
    return row["learning_rate"] == json.loads(choice.read_text())["learning_rate"]


def _compared(row: dict, n: int) -> bool:
    """The runs an arm is compared with: fine-tuned at 1× and the chosen learning rate;
    multi-fidelity at its one budget."""
    if row["n_train"] != n:
        return False
    if row["arm"] == "multifidelity":
        return True
    return row["budget"] == "1x" and _chosen(row, [])


def converged_budget(budget_rows: list[dict], arm: str, n: int) -> tuple[str, bool]:
    """The smallest budget whose doubling changed validation energy by < 5 %, else the
    largest measured (False: not shown to be converged)."""
    cell = sorted(
        (r for r in budget_rows if r["arm"] == arm and r["n_train"] == n),
        key=lambda r: int(r["budget"][:-1]),
    )
    for r in cell:
        if r["converged_5pct"]:
            return r["budget"], True
    return (cell[-1]["doubled"], False) if cell else ("1x", False)


def ratios(rows: list[dict], budget_rows: list[dict]) -> list[dict]:
    out = []
    for n in sorted({r["n_train"] for r in rows}):
        scratch_ok = converged_budget(budget_rows, "scratch", n)[1]
        scratch_budget = _scratch_budget(rows, budget_rows, n)  # marked if not converged
        scratch = {
            (r["seed"]): r
            for r in rows
            if r["arm"] == "scratch" and r["n_train"] == n and r["budget"] == scratch_budget
        }
        for arm in FINETUNED:
            arm_rows = {
                r["seed"]: r
                for r in rows
                if r["arm"] == arm
                and r["n_train"] == n
                and r["budget"] == "1x"
                and _chosen(r, rows)
            }
            for metric in ("test_energy_mae", "test_forces_mae"):
                seeds, log_ratio = paired_log_ratios(
                    {s: r[metric] for s, r in arm_rows.items()},
                    {s: r[metric] for s, r in scratch.items()},
                )
                if len(seeds) < 2:
                    continue
                out.append(
                    {
                        "arm": arm,
                        "n_train": n,
                        "metric": metric,
                        "scratch_budget": scratch_budget,
                        "scratch_budget_converged": scratch_ok,
                        "n_seeds": len(seeds),
                        "scratch_mean": float(np.mean([scratch[s][metric] for s in seeds])),
                        "arm_mean": float(np.mean([arm_rows[s][metric] for s in seeds])),
                        **log_ratio_summary(log_ratio, better="n_arm_better"),
                    }
                )
    return out


def orbital_target(rows: list[dict]) -> list[dict]:
    """Does the orbital target matter in pretraining? The orbital-pretrained arm over the
    energy + forces-only one, paired by fine-tuning seed (both 1×, the chosen rate)."""
    out = []
    for n in sorted({r["n_train"] for r in rows}):
        arms = {
            arm: {r["seed"]: r for r in rows if r["arm"] == arm and _compared(r, n)}
            for arm in ("finetuned_efo", "finetuned_ef")
        }
        for metric in ("test_energy_mae", "test_forces_mae"):
            seeds, log_ratio = paired_log_ratios(
                {s: r[metric] for s, r in arms["finetuned_efo"].items()},
                {s: r[metric] for s, r in arms["finetuned_ef"].items()},
            )
            if len(seeds) < 2:
                continue
            out.append(
                {
                    "n_train": n,
                    "metric": metric,
                    "n_seeds": len(seeds),
                    "ef_mean": float(np.mean([arms["finetuned_ef"][s][metric] for s in seeds])),
                    "efo_mean": float(np.mean([arms["finetuned_efo"][s][metric] for s in seeds])),
                    **log_ratio_summary(log_ratio, better="n_efo_better"),
                }
            )
    return out


# The pretraining runs behind the fine-tuned arms (runs/pretrain/<name>/): molecules sampled.
PRETRAININGS = {
    "chno_gfn1_10k_efo": 1980,
    "chno_gfn1_10k_ef": 1980,
    "chno_gfn1_5000mol_efo": 5000,
    "chno_gfn1_10000mol_efo": 10000,
    "chno_gfn1_full_efo": 10000,  # + the 10,000 acac frames (extra_train_path)
    "chno_gfn1_10k_o": 1980,  # per-orbital populations only
    "chno_denoise_10k": 1980,  # the same structures, coordinate denoising
}


def pretrainings(root: Path = ROOT / "runs" / "pretrain") -> list[dict]:
    """One row per pretraining run: data, steps, its GFN1 validation and held-out errors (its
    own molecule-disjoint splits: not comparable across sizes) and CPU-hours."""
    out = []
    for name, molecules in PRETRAININGS.items():
        run = root / name
        if not (run / "final_metrics.json").exists():
            continue
        config = json.loads((run / "config.json").read_text())
        final = Run(run, {}).final_metrics()
        out.append(
            {
                "pretraining": name,
                "molecules": molecules,
                "acac_frames": 10000 if config["data"].get("extra_train_path") else 0,
                "val_fraction": config["data"]["val_fraction"],
                "test_fraction": config["data"]["test_fraction"],
                "trained": " + ".join(
                    t for t, w in sorted(config["loss"]["weights"].items()) if w > 0
                ),
                "orbital_target": config["loss"]["weights"]["orbital_populations"] > 0,
                "steps": config["train"]["num_steps"],
                "selected_step": int(final["selected_step"]),
                # NaN where not trained (populations only: no energy; denoising: no GFN1 label)
                **{
                    f"{split}{metric}": final.get(f"{split.replace('val_', '')}{metric}", nan)
                    for split in ("val_", "test_")
                    for metric in ("energy_mae", "forces_mae", "orbital_populations_mae")
                },
                "cpu_hours": _cpu(Run(run, {})) / 3600,
            }
        )
    return out


def _scratch_budget(rows: list[dict], budget_rows: list[dict], n: int) -> str:
    """The scratch budget `ratios` compares with at n (converged, else the longest with
    ≥ 3 seeds)."""
    budget, ok = converged_budget(budget_rows, "scratch", n)
    if ok:
        return budget
    counts: dict[str, int] = {}
    for r in rows:
        if r["arm"] == "scratch" and r["n_train"] == n:
            counts[r["budget"]] = counts.get(r["budget"], 0) + 1
    enough = [b for b, c in counts.items() if c >= 3]
    return max(enough, key=lambda b: int(b[:-1])) if enough else budget


def size_curve(rows: list[dict], budget_rows: list[dict]) -> list[dict]:
    """Fine-tuned / scratch against the pretraining set's size, on the seeds every size has
    (the same seeds for each size, paired with scratch's), and the data-efficiency factor on
    scratch's converged curve (NaN outside it or without one)."""
    curve = converged_scratch_curve(rows, budget_rows)
    n_s = np.array(sorted(curve), float)
    err_s = np.array([curve[k][1].mean() for k in sorted(curve)])
    out = []
    for n in sorted({r["n_train"] for r in rows}):
        by_arm = {
            arm: {
                r["seed"]: r
                for r in rows
                if r["arm"] == arm and r["n_train"] == n and _compared(r, n)
            }
            for arm in SIZE_ARMS
        }
        if any(len(v) < 2 for v in by_arm.values()):
            continue
        seeds = sorted(set.intersection(*(set(v) for v in by_arm.values())))
        if len(seeds) < 2:
            continue
        budget = _scratch_budget(rows, budget_rows, n)
        scratch = {
            r["seed"]: r
            for r in rows
            if r["arm"] == "scratch" and r["n_train"] == n and r["budget"] == budget
        }
        for arm, molecules in SIZE_ARMS.items():
            row = {
                "arm": arm,
                "pretrain_molecules": molecules,
                "pretrain_frames": 5 * molecules,
                "n_train": n,
                "seeds": " ".join(map(str, seeds)),
                "scratch_budget": budget,
            }
            for metric in ("test_energy_mae", "test_forces_mae"):
                mine = {s: by_arm[arm][s][metric] for s in seeds}
                paired, log_ratio = paired_log_ratios(
                    mine, {s: r[metric] for s, r in scratch.items()}
                )
                short = metric.replace("test_", "").replace("_mae", "")
                summary = log_ratio_summary(log_ratio, better="n_better")
                row[f"{short}_mae"] = float(np.mean(list(mine.values())))
                row[f"{short}_ratio"] = summary["ratio"]
                row[f"{short}_ci_low"] = summary["t_ci_low"]
                row[f"{short}_ci_high"] = summary["t_ci_high"]
                row[f"{short}_n_paired"] = len(paired)
                smallest = next(iter(SIZE_ARMS))  # the same seeds, against the 1,980 molecules
                vs = np.log([mine[s] / by_arm[smallest][s][metric] for s in seeds])
                row[f"{short}_vs_smallest"] = float(np.exp(vs.mean()))
            row["efficiency_factor"] = (
                _n_for_error(row["energy_mae"], n_s, err_s) / n if len(curve) >= 2 else float("nan")
            )
            out.append(row)
    return out


def _n_for_error(err: float, n_s: np.ndarray, err_s: np.ndarray) -> float:
    """Scratch's n at error `err`, log–log between measured sizes; NaN outside them."""
    if not err_s.min() <= err <= err_s.max():
        return float("nan")
    order = np.argsort(err_s)
    return float(np.exp(np.interp(np.log(err), np.log(err_s[order]), np.log(n_s[order]))))


def converged_scratch_curve(rows: list[dict], budget_rows: list[dict]) -> dict:
    """{n: (budget, [test energy MAE per seed])} at every size where scratch has a budget
    shown converged (doubling its steps changed validation energy by < 5 %), ≥ 3 seeds."""
    curve = {}
    for n in sorted({r["n_train"] for r in rows if r["arm"] == "scratch"}):
        budget, ok = converged_budget(budget_rows, "scratch", n)
        errs = [
            r["test_energy_mae"]
            for r in rows
            if r["arm"] == "scratch" and r["n_train"] == n and r["budget"] == budget
        ]
        if ok and len(errs) >= 3:
            curve[n] = (budget, np.array(errs))
    return curve


def _factor(err: float, n: int, n_s: np.ndarray, err_s: np.ndarray) -> float:
    """n_scratch(err) / n; outside scratch's measured range: inf if the error is below
    scratch's lowest (more than the largest n's worth), 0 if above its highest."""
    if err < err_s.min():
        return float("inf")
    if err > err_s.max():
        return 0.0
    return _n_for_error(err, n_s, err_s) / n


def efficiency_converged(rows: list[dict], budget_rows: list[dict], n_boot: int = 2000):
    """The data-efficiency factor on scratch's converged curve (`converged_scratch_curve`):
    the arm's mean error read on it, never extrapolated (NaN outside it). 95 % interval:
    seeds resampled with replacement, per arm and per scratch size independently, every
    resample counted (one outside the range as 0 or ∞, so a bound can read "> max");
    `outside_share`: the share of resamples outside scratch's range."""
    curve = converged_scratch_curve(rows, budget_rows)
    if len(curve) < 2:
        return []
    n_s = np.array(sorted(curve), float)
    err_s = np.array([curve[k][1].mean() for k in sorted(curve)])
    out = []
    for arm in FINETUNED:
        for n in sorted({r["n_train"] for r in rows}):
            errs = np.array(
                [r["test_energy_mae"] for r in rows if r["arm"] == arm and _compared(r, n)]
            )
            if len(errs) < 2:
                continue
            n_equal = _n_for_error(float(errs.mean()), n_s, err_s)
            rng = cell_rng("efficiency_converged", arm, n)
            boot = np.array(
                [
                    _factor(
                        float(rng.choice(errs, len(errs)).mean()),
                        n,
                        n_s,
                        np.array(
                            [rng.choice(e, len(e)).mean() for _, (_, e) in sorted(curve.items())]
                        ),
                    )
                    for _ in range(n_boot)
                ]
            )
            out.append(
                {
                    "arm": arm,
                    "n_train": n,
                    "n_seeds": len(errs),
                    "test_energy_mae": float(errs.mean()),
                    "scratch_curve": " ".join(
                        f"{k}:{v[0]}:{v[1].mean():.2f}" for k, v in sorted(curve.items())
                    ),
                    "scratch_n_same_error": n_equal,
                    "efficiency_factor": n_equal / n,
                    "ci_low": float(np.percentile(boot, 2.5, method="inverted_cdf")),
                    "ci_high": float(np.percentile(boot, 97.5, method="inverted_cdf")),
                    "outside_share": float(np.mean((boot == 0) | np.isinf(boot))),
                }
            )
    return out


def efficiency(rows: list[dict]) -> list[dict]:
    """n_scratch(err_arm(n)) / n on the learning curves' scratch curve (5 seeds, 1× budgets,
    n = 50…1205), interpolated log–log, never extrapolated."""
    n_s, err_s = scratch_curve()
    out = []
    for arm in ("finetuned_efo", "finetuned_ef"):
        for n in sorted({r["n_train"] for r in rows}):
            errs = [
                r["test_energy_mae"]
                for r in rows
                if r["arm"] == arm
                and r["n_train"] == n
                and r["budget"] == "1x"
                and _chosen(r, rows)
            ]
            if not errs:
                continue
            err = float(np.mean(errs))
            n_equal = _n_for_error(err, n_s, err_s)
            out.append(
                {
                    "arm": arm,
                    "n_train": n,
                    "n_seeds": len(errs),
                    "test_energy_mae": err,
                    "scratch_n_same_error": n_equal,
                    "efficiency_factor": n_equal / n,
                }
            )
    return out


def render_recipe() -> list[str]:
    rows = read_rows(RESULTS / "recipe.csv")
    body = [
        [
            r["learning_rate"],
            r["n_seeds"],
            f"{float(r['val_loss']):.4f}",
            f"{float(r['val_energy_mae']):.1f}",
            f"{float(r['val_forces_mae']):.1f}",
            r["selected_steps"],
        ]
        for r in rows
    ]
    return md_rows(
        [
            "learning rate",
            "seeds",
            "val loss",
            "val energy (meV/atom)",
            "val forces (meV/Å)",
            "selected steps",
        ],
        body,
    )


def render_budget(name: str = "decisive_budget.csv") -> list[str]:
    if not (RESULTS / name).exists():
        return ["Not run yet."]
    rows = read_rows(RESULTS / name)
    body = [
        [
            r["arm"],
            r["n_train"],
            f"{r['budget']} → {r['doubled']}",
            r["n_seeds"],
            f"{float(r['val_energy_mae']):.2f}",
            f"{float(r['val_energy_mae_doubled']):.2f}",
            f"{100 * float(r['relative_change']):+.1f} %",
            r["converged_5pct"],
        ]
        for r in rows
    ]
    return md_rows(
        ["arm", "n DFT", "budget", "seeds", "val energy (meV/atom)", "doubled", "change", "< 5 %"],
        body,
    )


def render_ratios(name: str = "decisive_ratios.csv") -> list[str]:
    if not (RESULTS / name).exists():
        return ["Not run yet."]
    rows = read_rows(RESULTS / name)
    body = [
        [
            r["arm"],
            r["n_train"],
            r["metric"].replace("test_", "").replace("_mae", ""),
            f"{r['scratch_budget']}"
            + ("" if r["scratch_budget_converged"] == "True" else " (not converged)"),
            r["n_seeds"],
            f"{float(r['scratch_mean']):.1f}",
            f"{float(r['arm_mean']):.1f}",
            f"{float(r['ratio']):.2f}",
            f"{float(r['t_ci_low']):.2f}–{float(r['t_ci_high']):.2f}",
            f"{r['n_arm_better']}/{r['n_seeds']}",
        ]
        for r in rows
    ]
    return md_rows(
        [
            "arm",
            "n DFT",
            "test MAE",
            "scratch budget",
            "seeds",
            "scratch",
            "arm",
            "ratio",
            "95 % t CI",
            "arm better",
        ],
        body,
    )


def render_efficiency() -> list[str]:
    rows = read_rows(RESULTS / "decisive_efficiency.csv")
    body = [
        [
            r["arm"],
            r["n_train"],
            r["n_seeds"],
            f"{float(r['test_energy_mae']):.1f}",
            "outside scratch's range"
            if r["scratch_n_same_error"] == "nan"
            else f"{float(r['scratch_n_same_error']):.0f}",
            "–" if r["efficiency_factor"] == "nan" else f"{float(r['efficiency_factor']):.1f}×",
        ]
        for r in rows
    ]
    return md_rows(
        [
            "arm",
            "n DFT",
            "seeds",
            "test energy (meV/atom)",
            "scratch n for that error",
            "data-efficiency factor",
        ],
        body,
    )


def _bound(value: str) -> str:
    """An interval bound of a factor: '> max' where resamples left scratch's range above."""
    return "> max" if float(value) == float("inf") else f"{float(value):.1f}"


def render_efficiency_converged(name: str = "decisive_efficiency_converged.csv") -> list[str]:
    path = RESULTS / name
    if not path.exists():
        return ["Needs scratch at a converged budget at two or more sizes."]
    body = []
    for r in read_rows(path):
        inside = r["efficiency_factor"] != "nan"
        body.append(
            [
                r["arm"],
                r["n_train"],
                r["n_seeds"],
                f"{float(r['test_energy_mae']):.1f}",
                f"{float(r['scratch_n_same_error']):.0f}" if inside else "outside scratch's range",
                f"{float(r['efficiency_factor']):.1f}× ({_bound(r['ci_low'])}–"
                f"{_bound(r['ci_high'])})"
                if inside
                else "–",
                f"{float(r['outside_share']):.2f}",
            ]
        )
    return md_rows(
        [
            "arm",
            "n DFT",
            "seeds",
            "test energy (meV/atom)",
            "scratch n for that error",
            "data-efficiency factor (95 % bootstrap)",
            "resamples outside",
        ],
        body,
    )


def render_orbital_target() -> list[str]:
    rows = read_rows(RESULTS / "decisive_orbital_target.csv")
    body = [
        [
            r["n_train"],
            r["metric"].replace("test_", "").replace("_mae", ""),
            r["n_seeds"],
            f"{float(r['ef_mean']):.1f}",
            f"{float(r['efo_mean']):.1f}",
            f"{float(r['ratio']):.2f}",
            f"{float(r['t_ci_low']):.2f}–{float(r['t_ci_high']):.2f}",
            f"{r['n_efo_better']}/{r['n_seeds']}",
        ]
        for r in rows
    ]
    return md_rows(
        [
            "n DFT",
            "test MAE",
            "seeds",
            "energy + forces pretrained",
            "+ orbitals",
            "ratio (+ orbitals / without)",
            "95 % t CI",
            "orbitals better",
        ],
        body,
    )


def render_size() -> list[str]:
    path = RESULTS / "decisive_size.csv"
    if not path.exists():
        return ["Not run yet (`pretrain_v3.sh`, then the `size` sweep)."]
    body = [
        [
            f"{int(r['pretrain_molecules']):,}",
            f"{int(r['pretrain_frames']):,}",
            r["n_train"],
            r["seeds"],
            f"{float(r['energy_mae']):.1f}",
            f"{float(r['energy_ratio']):.2f} ({float(r['energy_ci_low']):.2f}–"
            f"{float(r['energy_ci_high']):.2f})",
            f"{float(r['forces_mae']):.1f}",
            f"{float(r['forces_ratio']):.2f} ({float(r['forces_ci_low']):.2f}–"
            f"{float(r['forces_ci_high']):.2f})",
            f"{float(r['energy_vs_smallest']):.2f} / {float(r['forces_vs_smallest']):.2f}",
            r["scratch_budget"],
            "–" if r["efficiency_factor"] == "nan" else f"{float(r['efficiency_factor']):.1f}×",
        ]
        for r in read_rows(path)
    ]
    return md_rows(
        [
            "pretraining molecules",
            "GFN1 frames sampled",
            "n DFT",
            "seeds",
            "test energy (meV/atom)",
            "/ scratch (95 % t CI)",
            "test forces (meV/Å)",
            "/ scratch (95 % t CI)",
            "energy / forces over 1,980 molecules (paired)",
            "scratch budget",
            "data-efficiency factor",
        ],
        body,
    )


def render_md_stability() -> list[str]:
    """experiments/pretraining/md_stability.py's summary (seed-0 models, NVT on test molecules)."""
    path = RESULTS / "md_stability.csv"
    if not path.exists():
        return ["Not run yet (`python -m experiments.pretraining.md_stability`)."]
    body = [
        [
            r["arm"],
            r["n_train"],
            r["runs"],
            f"{r['physical']}/{r['runs']}",
            f"{float(r['wilson_low']):.2f}–{float(r['wilson_high']):.2f}",
            "–"
            if r["median_first_event_ps"] in ("", "None")
            else f"{float(r['median_first_event_ps']):.2f}",
            f"{float(r['simulated_ps']):.0f}",
            f"{float(r['cpu_hours']):.2f}",
        ]
        for r in read_rows(path)
    ]
    return md_rows(
        [
            "arm",
            "n DFT",
            "runs",
            "stayed physical",
            "95 % Wilson",
            "median first event (ps)",
            "simulated ps",
            "CPU-hours",
        ],
        body,
    )


def render_cost() -> list[str]:
    rows = read_rows(RESULTS / "decisive_runs.csv")
    by: dict[str, float] = {}
    for r in rows:
        by[r["sweep"]] = by.get(r["sweep"], 0.0) + float(r["process_cpu_s"]) / 3600
    return md_rows(
        ["sweep", "runs", "CPU-hours"],
        [[s, sum(r["sweep"] == s for r in rows), f"{h:.2f}"] for s, h in sorted(by.items())],
    )


RENDERERS = {
    "decisive_recipe": render_recipe,
    "decisive_budget": render_budget,
    "decisive_ratios": render_ratios,
    "decisive_efficiency": render_efficiency,
    "decisive_efficiency_converged": render_efficiency_converged,
    "decisive_orbital_target": render_orbital_target,
    "decisive_size": render_size,
    "md_stability": render_md_stability,
    "decisive_cost": render_cost,
    "acac_budget": lambda: render_budget("acac_budget.csv"),
    "acac_ratios": lambda: render_ratios("acac_ratios.csv"),
    "acac_efficiency_converged": lambda: render_efficiency_converged(
        "acac_efficiency_converged.csv"
    ),
}


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    rows = with_committed(collect())
    write_csv(RESULTS / "decisive_runs.csv", rows)
    table, choice = recipe(rows)
    if table:
        write_csv(RESULTS / "recipe.csv", table)
    if choice and not (RESULTS / "recipe_choice.json").exists():
        (RESULTS / "recipe_choice.json").write_text(json.dumps(choice, indent=1) + "\n")
    budget_rows = budgets(rows)
    for name, out in (
        ("decisive_budget.csv", budget_rows),
        ("decisive_ratios.csv", ratios(rows, budget_rows)),
        ("decisive_efficiency.csv", efficiency(rows)),
        ("decisive_efficiency_converged.csv", efficiency_converged(rows, budget_rows)),
        ("decisive_orbital_target.csv", orbital_target(rows)),
        ("decisive_size.csv", size_curve(rows, budget_rows)),
    ):
        if out:
            write_csv(RESULTS / name, out)
    acac = with_committed(collect(ACAC_SWEEPS), RESULTS / "acac_runs.csv")
    if acac:  # acac's pair: the same budget rule, ratios and factor on its own rows
        acac_budgets = budgets(acac)
        for name, out in (
            ("acac_runs.csv", acac),
            ("acac_budget.csv", acac_budgets),
            ("acac_ratios.csv", ratios(acac, acac_budgets)),
            ("acac_efficiency_converged.csv", efficiency_converged(acac, acac_budgets)),
        ):
            if out:
                write_csv(RESULTS / name, out)
    runs = pretrainings()
    if runs:
        write_csv(RESULTS / "pretrainings.csv", runs)
    if (HERE / "RESULTS.md").exists():
        update_results_file(HERE / "RESULTS.md", {**PILOT_RENDERERS, **RENDERERS})
    print(f"{len(rows)} runs; wrote {RESULTS}")


if __name__ == "__main__":
    main()
