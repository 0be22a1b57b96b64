"""CSV writing and seed intervals shared by the metals analysis scripts."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}  # two-sided 95 % t quantiles by dof


def t_interval(values) -> dict:
    """{"ci_low", "ci_high"}: mean ± t·s/√n over seeds (NaN for one seed)."""
    values = np.asarray(values, float)
    if len(values) < 2:
        return {"ci_low": float("nan"), "ci_high": float("nan")}
    half = T95[len(values) - 1] * values.std(ddof=1) / np.sqrt(len(values))
    return {"ci_low": values.mean() - half, "ci_high": values.mean() + half}


def write_csv(path: Path, rows: list[dict], digits: int = 4) -> None:
    """Rows (dicts; the union of their keys is the header) with floats to `digits` significant digits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.{digits}g}" if isinstance(v, float) else v) for k, v in r.items()})
