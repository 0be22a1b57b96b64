"""Accumulate error sums over batches into MAE/RMSE in the units users read.

Energies in meV/atom and meV/structure, forces in meV/Å, stress in meV/Å³, charges and
populations in me (milli-elementary charges).
"""

from __future__ import annotations

import numpy as np

from orbjax.targets import metric_units


class ErrorAccumulator:
    def __init__(self):
        self.sums: dict[str, np.ndarray] = {}

    def add(self, batch_sums: dict) -> None:
        for k, v in batch_sums.items():
            v = np.array([float(x) for x in v])
            self.sums[k] = self.sums.get(k, 0.0) + v

    def compute(self) -> dict[str, float]:
        out = {}
        for k, (abs_sum, sq_sum, n) in self.sums.items():
            if n == 0:
                continue
            unit, factor = metric_units().get(k, ("", 1.0))
            out[f"{k}_mae"] = factor * abs_sum / n
            out[f"{k}_rmse"] = factor * np.sqrt(sq_sum / n)
        return out


def format_metrics(metrics: dict[str, float]) -> str:
    parts = []
    for k, v in metrics.items():
        base = k.rsplit("_", 1)[0]
        unit = metric_units().get(base, ("", 1))[0]
        parts.append(f"{k}={v:.4g}{(' ' + unit) if unit else ''}")
    return ", ".join(parts)
