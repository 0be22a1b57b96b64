"""Where the training loop writes its metrics: WORKDIR/metrics.csv and TensorBoard.

metrics.csv has one row per value: step, split (train, val, time, test, extra test sets),
metric, value and its unit (`metric_unit`). final_metrics.json's units are in
final_metrics_units.json beside it (`write_units`), so the JSON stays a flat name → number map.
"""

from __future__ import annotations

import csv
import json
import os

import jax

from orbjax.targets import metric_units

HEADER = ["step", "split", "metric", "value", "unit"]
_OTHER_UNITS = {
    "loss": "weighted sum of MSEs",
    "val_loss": "weighted sum of MSEs",
    "steps_per_s": "1/s",
    "xla_compilations": "count",
    "xla_compilations_eval": "count",
    "process_cpu_s": "s",
    "wall_s": "s",
    "clock_complete": "0 or 1",
    "selected_step": "step",
}


def metric_unit(name: str) -> str:
    """Unit of a metric as logged: energy_mae → meV/atom, mse_forces → (eV/A)^2 (a loss term,
    in label units), test_forces_rmse → meV/A (a split prefix is skipped); "" if unknown."""
    if name in _OTHER_UNITS:
        return _OTHER_UNITS[name]
    units = metric_units()
    if name.startswith("mse_") and name[4:] in units:
        label_unit = units[name[4:]][0][1:]  # meV/A → eV/A: the loss works in label units
        return f"({label_unit})^2" if "/" in label_unit else f"{label_unit}^2"
    base, _, stat = name.rpartition("_")
    while base and stat in ("mae", "rmse"):
        if base in units:
            return units[base][0]
        base = base.partition("_")[2]  # "test_energy" → "energy"
    return ""


def write_units(path: str, metrics: dict) -> None:
    """{metric: unit} of `metrics` as JSON (the units of final_metrics.json)."""
    if jax.process_index() != 0:
        return
    with open(path, "w") as f:
        json.dump({k: metric_unit(k) for k in metrics}, f, indent=1)


class MetricsLog:
    """CSV + TensorBoard; only process 0 writes."""

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, "metrics.csv")
        self.enabled = jax.process_index() == 0
        self.tb = None
        if self.enabled:
            from tensorboardX import SummaryWriter

            self.tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write(self, step: int, split: str, metrics: dict) -> None:
        if not self.enabled:
            return
        new = not os.path.exists(self.path)
        # A run resumed from a file written before the unit column keeps that file's columns.
        units = new or _has_unit_column(self.path)
        with open(self.path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(HEADER)
            for k, v in metrics.items():
                w.writerow(
                    [step, split, k, f"{float(v):.8g}"] + ([metric_unit(k)] if units else [])
                )
                self.tb.add_scalar(f"{split}/{k}", float(v), step)
        self.tb.flush()


def _has_unit_column(path: str) -> bool:
    with open(path, newline="") as f:
        return next(csv.reader(f), []) == HEADER


def read_metrics(workdir: str, split: str = "val") -> dict[int, dict[str, float]]:
    """{step: {metric: value}} of one split from WORKDIR/metrics.csv.

    For reports that compare steps, e.g. the untrained model (step 0, `train.eval_at_start`)
    with the end of training; a resumed run's repeated rows keep the last value.
    """
    out: dict[int, dict[str, float]] = {}
    with open(os.path.join(workdir, "metrics.csv"), newline="") as f:
        for row in csv.DictReader(f):
            if row["split"] == split:
                out.setdefault(int(row["step"]), {})[row["metric"]] = float(row["value"])
    return out
