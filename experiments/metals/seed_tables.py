"""CSV writing and seed intervals shared by the metals analysis scripts."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

def t_interval(values) -> dict:
    """{"ci_low", "ci_high"}: the learning curves' 95 % Student-t interval of the mean over
    seeds (`experiments/learning_curves/analyse.py`; NaN for one seed)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "learning_curves"))
    from analyse import t_interval as seed_interval

    low, high = seed_interval(np.asarray(values, float))
    return {"ci_low": low, "ci_high": high}


def write_csv(path: Path, rows: list[dict], digits: int = 4) -> None:
    """Rows (dicts; the union of their keys is the header) with floats to `digits` significant digits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.{digits}g}" if isinstance(v, float) else v) for k, v in r.items()})
