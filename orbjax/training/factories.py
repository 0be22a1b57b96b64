"""Factories of a training run: optimiser, reference energies and the jitted steps.

They live here, not in the `train.py` entry point, so that sweeping and benchmarking can
build the same objects without importing a command line (whose absl flags are global to
the process). The model and its parameters are built by `orbjax.model.build`.
"""

from __future__ import annotations

import ml_collections
import optax


def isolated_atom_energies(data_config) -> dict[int, float] | None:
    """{Z: E} from `data.isolated_atoms_path` (single-atom structures), else None (least
    squares)."""
    path = data_config.get("isolated_atoms_path")
    if not path:
        return None
    from orbjax.training.data import read

    atoms = [s for s in read(path, data_config) if s.n_atoms == 1 and "energy" in s.labels]
    if not atoms:
        raise ValueError(f"{path}: no single-atom structures with an energy label")
    return {int(s.atomic_numbers[0]): float(s.labels["energy"]) for s in atoms}


def create_optimizer(
    config: ml_collections.ConfigDict, total_steps: int
) -> optax.GradientTransformation:
    opt = config.optimizer
    warmup = min(opt.warmup_steps, max(total_steps // 2, 1))
    if opt.schedule == "cosine":
        lr = optax.warmup_cosine_decay_schedule(
            0.0,
            opt.learning_rate,
            warmup,
            max(total_steps, warmup + 1),
            opt.learning_rate * opt.final_lr_fraction,
        )
    elif opt.schedule == "constant":
        lr = optax.linear_schedule(0.0, opt.learning_rate, warmup)
    else:
        raise ValueError(f"unknown schedule {opt.schedule!r} (cosine, constant)")
    if opt.name == "adam":
        base = (
            optax.adamw(lr, weight_decay=opt.weight_decay) if opt.weight_decay else optax.adam(lr)
        )
    elif opt.name == "amsgrad":
        base = optax.amsgrad(lr)
    else:
        raise ValueError(f"unknown optimizer {opt.name!r} (adam, amsgrad)")
    return optax.chain(optax.clip_by_global_norm(opt.clip_norm), base)


def create_steps(config, model, tx, devices, statistics: dict):
    """The jitted train and eval steps on `devices` (`parallel.SingleDevice` or `DataParallel`);
    `statistics`: the model's {"statistics": arrays} (`model.build.statistics_variables`)."""
    weights = dict(config.loss.weights)
    compute_stress = weights.get("stress", 0.0) > 0
    train_step = devices.train_step(
        model, tx, weights, config.train.ema_decay, compute_stress, statistics
    )
    eval_step = devices.eval_step(
        model,
        tuple(t for t, w in weights.items() if w > 0) + ("forces",),
        compute_stress,
        statistics,
    )
    return train_step, eval_step
