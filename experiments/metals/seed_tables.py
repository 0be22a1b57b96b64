"""The metals runs and their seed columns: the toolkit's statistics under the names the
metals CSVs use (`ci_low`/`ci_high`, `ratio_ci_low`/`ratio_ci_high`, `paired_seeds`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.common.paths import REPO
from experiments.common.runs import sweep_runs
from experiments.common.stats import log_ratio_summary, paired_log_ratios, t_interval


def _default_aux_weight() -> float:
    """The orbital weight of the metals sweeps (`configs/sweeps/metals.py` AUX_WEIGHT)."""
    from orbjax.config import load_config_module

    return float(load_config_module(str(REPO / "configs" / "sweeps" / "metals.py")).AUX_WEIGHT)


def finished_runs(sweep: Path):
    """(variant, seed, n_train, run directory) of every run of `sweep` with a model and final
    metrics. The variant is the run's config name, with `_w<W>` appended when its orbital
    weight is not the sweep's default (the `long_wW` runs)."""
    default_weight = _default_aux_weight()
    for run in sweep_runs(sweep):
        if not (run.workdir / "model.orbjax").exists():
            continue
        variant, weight = run.config, run.overrides.get("loss.weights.orbital_populations")
        if variant == "orbital" and weight is not None and float(weight) != default_weight:
            variant = f"orbital_w{float(weight):g}"
        yield (
            variant,
            int(run.overrides["seed"]),
            int(run.overrides.get("data.n_train", 0)),
            run.workdir,
        )


def seed_interval(values) -> dict:
    """{"ci_low", "ci_high"}: the 95 % Student-t interval of the mean over seeds (NaN for one)."""
    low, high = t_interval(np.asarray(values, float))
    return {"ci_low": low, "ci_high": high}


def paired_ratio(values: dict, base: dict) -> dict:
    """Ratio of `values` to `base` ({seed: error}), paired by seed: geometric mean, t interval,
    seeds better and per-seed ratios (`stats.log_ratio_summary`). {} when no seed is shared."""
    seeds, log_ratios = paired_log_ratios(values, base)
    if not seeds:
        return {}
    s = log_ratio_summary(log_ratios, better="seeds_better")
    return {
        "paired_seeds": len(seeds),
        "ratio": s["ratio"],
        "ratio_ci_low": s["t_ci_low"],
        "ratio_ci_high": s["t_ci_high"],
        "seeds_better": s["seeds_better"],
        "per_seed": s["per_seed"],
    }
