"""Rebuild a trained model from its workdir: config, statistics and (EMA) parameters."""
from __future__ import annotations

import dataclasses
import json

import jax
import ml_collections

from orbjax.model.mlip import OrbitalMLIP
from orbjax.model.statistics import Statistics
from orbjax.training.checkpoint import Checkpointer, read_meta


@dataclasses.dataclass
class TrainedModel:
    model: OrbitalMLIP
    params: dict  # EMA parameters, the ones validated
    config: ml_collections.ConfigDict
    statistics: Statistics
    step: int


def load_trained(workdir: str, which: str = "best") -> TrainedModel:
    """Load the best (default) or latest checkpoint of a training run.

    The statistics (E0s, scales, neighbour count) come from the checkpoint itself; nothing
    is recomputed from data.
    """
    from orbjax.train import create_model, create_optimizer, init_params, to_device
    from orbjax.training.state import TrainState
    from orbjax.data.batching import PaddingBudget, pad_batch
    from orbjax.data.graphs import structure_to_graph
    from orbjax.data.structures import Structure

    meta, step, which = read_meta(workdir, which)
    config = ml_collections.ConfigDict(json.loads(meta["config"]))
    statistics = Statistics.from_json(meta["statistics"])
    model = create_model(config, statistics)
    dummy = Structure([statistics.species[0]], [[0.0, 0.0, 0.0]], name="init")
    graph = pad_batch([structure_to_graph(dummy, config.model.cutoff)], PaddingBudget(64, 64, 2))
    params = init_params(model, to_device(graph, model.dtype), 0)
    tx = create_optimizer(config, max(config.train.num_steps, 1))
    template = TrainState.create(params, tx, jax.random.PRNGKey(0))
    ckpt = Checkpointer(workdir)
    state, _ = ckpt.restore(template, which=which, step=step)
    ckpt.close()
    return TrainedModel(model, state.ema_params, config, statistics, int(state.step))
