"""Factories of a training run: model, optimiser, initial parameters and the jitted steps.

They live here, not in the `train.py` entry point, so that loading a model
(`training/restore.py`), evaluating, sweeping and benchmarking can build the same objects
without importing a command line (whose absl flags are global to the process).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

from orbjax.model.mlip import ModelConfig, OrbitalMLIP
from orbjax.model.statistics import Statistics
from orbjax.targets import TARGETS, reference_targets


def model_config(config: ml_collections.ConfigDict) -> ModelConfig:
    """The model part of a run config, its heads named in `model.heads`.

    Every target with a positive loss weight needs a head (or is a reference target); a
    head without a loss weight is allowed (it is built and scored, but not trained). Configs
    saved before `model.heads` existed had one head per weighted auxiliary target.
    """
    weighted = tuple(t for t, w in config.loss.weights.items() if w > 0 and t not in reference_targets())
    unknown = [t for t in config.loss.weights if t not in TARGETS]
    if unknown:
        raise ValueError(f"loss.weights has unknown targets {unknown}; known: {sorted(TARGETS)}")
    model = config.model.to_dict()
    heads = tuple(model.get("heads", weighted))
    missing = [t for t in weighted if t not in heads]
    if missing:
        raise ValueError(f"loss.weights gives {missing} a positive weight but model.heads {heads} has no head "
                         f"for it: add it, e.g. --config.model.heads=\"{tuple(heads) + tuple(missing)}\"")
    return ModelConfig(**{**model, "heads": heads})


def create_model(config: ml_collections.ConfigDict, statistics: Statistics) -> OrbitalMLIP:
    dtypes = {"float32": jnp.float32, "float64": jnp.float64}
    if config.dtype not in dtypes:
        raise ValueError(f"dtype must be one of {sorted(dtypes)}, not {config.dtype!r}")
    return OrbitalMLIP(model_config(config), statistics, dtype=dtypes[config.dtype])


def isolated_atom_energies(data_config) -> dict[int, float] | None:
    """{Z: E} from `data.isolated_atoms_path` (single-atom structures), else None (least squares)."""
    path = data_config.get("isolated_atoms_path")
    if not path:
        return None
    from orbjax.training.data import read
    atoms = [s for s in read(path, data_config) if s.n_atoms == 1 and "energy" in s.labels]
    if not atoms:
        raise ValueError(f"{path}: no single-atom structures with an energy label")
    return {int(s.atomic_numbers[0]): float(s.labels["energy"]) for s in atoms}


def create_optimizer(config: ml_collections.ConfigDict, total_steps: int) -> optax.GradientTransformation:
    opt = config.optimizer
    warmup = min(opt.warmup_steps, max(total_steps // 2, 1))
    if opt.schedule == "cosine":
        lr = optax.warmup_cosine_decay_schedule(0.0, opt.learning_rate, warmup, max(total_steps, warmup + 1),
                                                opt.learning_rate * opt.final_lr_fraction)
    elif opt.schedule == "constant":
        lr = optax.linear_schedule(0.0, opt.learning_rate, warmup)
    else:
        raise ValueError(f"unknown schedule {opt.schedule!r} (cosine, constant)")
    if opt.name == "adam":
        base = optax.adamw(lr, weight_decay=opt.weight_decay) if opt.weight_decay else optax.adam(lr)
    elif opt.name == "amsgrad":
        base = optax.amsgrad(lr)
    else:
        raise ValueError(f"unknown optimizer {opt.name!r} (adam, amsgrad)")
    return optax.chain(optax.clip_by_global_norm(opt.clip_norm), base)


def init_params(model: OrbitalMLIP, graph, seed: int):
    """Initialise on one padded batch (jit: eager e3nn-jax init is slow)."""
    from orbjax.model.predict import node_graph_index

    def init(rng):
        vectors = graph.nodes["positions"][graph.senders] - graph.nodes["positions"][graph.receivers] + graph.edges["shifts"]
        node_graph = node_graph_index(graph.n_node, graph.nodes["positions"].shape[0])
        return model.init(rng, vectors.astype(model.dtype), graph.nodes["atomic_numbers"], graph.senders,
                          graph.receivers, node_graph, graph.globals["total_charge"], with_heads=True)

    return jax.jit(init)(jax.random.PRNGKey(seed))


def create_steps(config, model, tx, devices):
    """The jitted train and eval steps on `devices` (`parallel.SingleDevice` or `DataParallel`)."""
    weights = dict(config.loss.weights)
    compute_stress = weights.get("stress", 0.0) > 0
    train_step = devices.train_step(model, tx, weights, config.train.ema_decay, compute_stress)
    eval_step = devices.eval_step(
        model, tuple(t for t, w in weights.items() if w > 0) + ("forces",), compute_stress)
    return train_step, eval_step
