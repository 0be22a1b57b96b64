"""Runs, CSV writing and seed intervals shared by the metals analysis scripts."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

def _default_aux_weight() -> float:
    """The orbital weight of the metals sweeps (`configs/sweeps/metals.py` AUX_WEIGHT)."""
    from orbjax.config import load_config_module

    return float(load_config_module(str(Path(__file__).resolve().parents[2] / "configs" / "sweeps" / "metals.py"))
                 .AUX_WEIGHT)


def finished_runs(sweep: Path):
    """(variant, seed, n_train, run directory) of every run of `sweep` with a model and final
    metrics. The variant is the run's config name, with `_w<W>` appended when its orbital
    weight is not the sweep's default (the `long_wW` runs)."""
    import json

    default_weight = _default_aux_weight()
    for run in sorted(sweep.iterdir()):
        if not ((run / "model.orbjax").exists() and (run / "final_metrics.json").exists()):
            continue
        meta = json.loads((run / "run.json").read_text())
        overrides = meta["overrides"]
        variant = Path(meta["config_path"]).stem
        weight = overrides.get("loss.weights.orbital_populations")
        if variant == "orbital" and weight is not None and float(weight) != default_weight:
            variant = f"orbital_w{float(weight):g}"
        yield variant, int(overrides["seed"]), int(overrides.get("data.n_train", 0)), run


def t_interval(values) -> dict:
    """{"ci_low", "ci_high"}: the learning curves' 95 % Student-t interval of the mean over
    seeds (`experiments/learning_curves/analyse.py`; NaN for one seed)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "learning_curves"))
    from analyse import t_interval as seed_interval

    low, high = seed_interval(np.asarray(values, float))
    return {"ci_low": low, "ci_high": high}


def paired_ratio(values: dict, base: dict) -> dict:
    """Ratio of `values` to `base` ({seed: error}), paired by seed: the geometric mean of the
    per-seed ratios with the t-interval of their logs (as the learning curves report), the
    seeds better (ratio < 1) and the per-seed ratios. {} when no seed is shared."""
    common = sorted(set(values) & set(base))
    if not common:
        return {}
    log_ratios = np.log([values[s] / base[s] for s in common])
    interval = t_interval(log_ratios)
    return {"paired_seeds": len(common), "ratio": float(np.exp(log_ratios.mean())),
            "ratio_ci_low": float(np.exp(interval["ci_low"])), "ratio_ci_high": float(np.exp(interval["ci_high"])),
            "seeds_better": int((log_ratios < 0).sum()), "per_seed": " ".join(f"{np.exp(x):.3f}" for x in log_ratios)}


def write_csv(path: Path, rows: list[dict], digits: int = 4) -> None:
    """Rows (dicts; the union of their keys is the header) with floats to `digits` significant digits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.{digits}g}" if isinstance(v, float) else v) for k, v in r.items()})
