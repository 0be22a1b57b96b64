"""Compile discipline over full epochs of the shared CHNO set (varied sizes, 3–21 atoms).

Trains the default config for `n_epochs` epochs with the default number of padding buckets
and records, per bucket: XLA compilations of the train step (target: exactly one per
bucket, none in steady state), the time of the first step of each bucket (compile + run)
and the padding waste of an epoch (padded / real atoms and edges, from
`orbjax.data.batching.padding_stats`). Prints one JSON object.

    python -m benchmarks.compilation DATA.h5 [--config configs/default.py] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

from orbjax.config import load_config_module
from orbjax.data.batching import batch_iterator, compute_budgets, padding_stats, plan_batches
from orbjax.data.graphs import structures_to_graphs
from orbjax.data.readers import read_structures
from orbjax.model.build import create_model, init_params, statistics_variables
from orbjax.model.statistics import compute_statistics
from orbjax.training.batches import to_device
from orbjax.training.factories import create_optimizer
from orbjax.training.state import TrainState
from orbjax.training.step import make_train_step


def measure(data: str, config_path: str, n_epochs: int) -> dict:
    config = load_config_module(config_path).get_config()
    bs, nb = config.train.batch_size, config.train.n_buckets
    graphs = structures_to_graphs(read_structures(data), config.model.cutoff)
    budgets = compute_budgets(graphs, bs, nb, seed=config.seed)
    statistics = compute_statistics(graphs)
    model = create_model(config, statistics)
    tx = create_optimizer(config, 10_000)
    state = TrainState.create(init_params(model, 0), tx, jax.random.PRNGKey(0))
    step = make_train_step(
        model,
        tx,
        dict(config.loss.weights),
        config.train.ema_decay,
        statistics=statistics_variables(model, statistics, np.float32),
    )
    per_bucket = {
        f"{b.n_node}n/{b.n_edge}e": {"compiles": 0, "first_step_s": None, "steps": 0, "step_s": []}
        for b in budgets
    }
    epochs = []
    for epoch in range(n_epochs):
        plan = plan_batches(graphs, bs, budgets, seed=config.seed, epoch=epoch)
        before = step._cache_size()
        t_epoch = time.perf_counter()
        for batch, (_, budget) in zip(
            batch_iterator(graphs, bs, budgets, config.seed, epoch), plan
        ):
            key = f"{budget.n_node}n/{budget.n_edge}e"
            n_before = step._cache_size()
            t0 = time.perf_counter()
            state, metrics = step(state, to_device(batch, np.float32))
            bool(metrics["finite"])
            dt = time.perf_counter() - t0
            compiled = step._cache_size() - n_before
            entry = per_bucket[key]
            entry["compiles"] += compiled
            entry["steps"] += 1
            if compiled:
                entry["first_step_s"] = dt
            else:
                entry["step_s"].append(dt)
        epochs.append(
            {
                "epoch": epoch,
                "batches": len(plan),
                "new_compilations": step._cache_size() - before,
                "seconds": time.perf_counter() - t_epoch,
            }
        )
    for entry in per_bucket.values():
        steady = (
            float(np.median(entry.pop("step_s")))
            if entry["steps"] > entry["compiles"]
            else float("nan")
        )
        entry["steady_step_s"] = steady
        # first step minus a normal one
        entry["compile_s"] = (entry["first_step_s"] or float("nan")) - steady
    return {
        "batch_size": bs,
        "n_buckets": nb,
        "n_structures": len(graphs),
        "budgets": [f"{b.n_node}n/{b.n_edge}e" for b in budgets],
        "per_bucket": per_bucket,
        "epochs": epochs,
        "total_compilations": step._cache_size(),
        "padding": padding_stats(graphs, bs, budgets, config.seed, 0),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data")
    p.add_argument("--config", default="configs/default.py")
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    print(json.dumps(measure(args.data, args.config, args.epochs)))


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()  # the settings orbjax's command lines run with (orbjax/runtime.py)
    main()
