"""Scoring a model during training: error sums over a split, and the loss used to select it."""
from __future__ import annotations

import jax

from orbjax.training.batches import device_batches
from orbjax.training.factories import DFT_TARGETS
from orbjax.training.metrics import ErrorAccumulator


def evaluate(eval_step, params, graphs, config, budgets, dtype, par=None) -> dict[str, float]:
    """MAE/RMSE of every target of `eval_step` over `graphs`, in the units of the training log."""
    acc = ErrorAccumulator()
    for batch in device_batches(par, graphs, config, budgets, dtype, shuffle=False):
        acc.add(jax.device_get(eval_step(params, batch)))
    return acc.compute()


def validation_loss(metrics: dict, weights) -> float:
    """Model selection on the DFT targets only (charges are auxiliary)."""
    scale = {"energy": 1e-3, "forces": 1e-3, "stress": 1e-3}  # metrics are in meV → back to eV
    return float(sum(weights.get(t, 0.0) * (metrics.get(f"{t}_rmse", 0.0) * scale[t]) ** 2 for t in DFT_TARGETS))
