"""Scoring a model during training: error sums over a split, and the loss used to select it."""

from __future__ import annotations

import jax

from orbjax.targets import TARGETS, auxiliary_targets, reference_targets
from orbjax.training.metrics import ErrorAccumulator


def evaluate(eval_step, params, graphs, config, budgets, dtype, devices) -> dict[str, float]:
    """MAE/RMSE of every target of `eval_step` over `graphs`, in the units of the training log;
    `devices`: the run's `parallel.SingleDevice` or `DataParallel`."""
    acc = ErrorAccumulator()
    for batch in devices.batch_iterator(
        graphs, config.train.batch_size, budgets, dtype, shuffle=False
    ):
        acc.add(jax.device_get(eval_step(params, batch)))
    return acc.compute()


def validation_loss(metrics: dict, weights) -> float:
    """Model selection on the reference (DFT) targets only (auxiliary targets do not count): the
    weighted sum of their squared RMSEs in the label units (eV, eV/Å, eV/Å³). A run that trains
    no reference target (e.g. pretraining on populations alone) is selected on the targets it
    does train, weighted the same way: a sum over untrained targets would be 0 at every step."""
    trained = [t for t in reference_targets() if weights.get(t, 0.0) > 0]
    if not trained:
        trained = [t for t in auxiliary_targets() if weights.get(t, 0.0) > 0]
    return float(
        sum(
            weights.get(t, 0.0) * (metrics.get(f"{t}_rmse", 0.0) / TARGETS[t].metric_factor) ** 2
            for t in trained
        )
    )
