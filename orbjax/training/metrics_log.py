"""Where the training loop writes its metrics: WORKDIR/metrics.csv and TensorBoard."""
from __future__ import annotations

import csv
import os

import jax


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
        with open(self.path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["step", "split", "metric", "value"])
            for k, v in metrics.items():
                w.writerow([step, split, k, f"{float(v):.8g}"])
                self.tb.add_scalar(f"{split}/{k}", float(v), step)
        self.tb.flush()


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
