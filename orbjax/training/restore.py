"""Rebuild a trained model for use: from a workdir's checkpoint or from a model file.

Only the EMA parameters are read. The optimiser is never built and its state never
loaded (orbax partial restore of the ``ema_params`` subtree), so a run loads whatever its
optimiser config was, and a model file (`orbjax.model_file`) needs no training code state
at all. The statistics (E0s, scales, neighbour count) come from the checkpoint or file;
nothing is recomputed from data.
"""
from __future__ import annotations

import dataclasses
import json
import os

import jax
import ml_collections
import numpy as np

from orbjax.model.mlip import OrbitalMLIP
from orbjax.model.statistics import Statistics
from orbjax.training.batches import to_device
from orbjax.runtime import precision
from orbjax.training.checkpoint import check_shapes, param_shapes, read_meta
from orbjax.training.factories import create_model, init_params


@dataclasses.dataclass
class TrainedModel:
    model: OrbitalMLIP
    params: dict  # EMA parameters, the ones validated (device arrays of the trained dtype)
    config: ml_collections.ConfigDict
    statistics: Statistics
    step: int


def load_trained(workdir: str, which: str = "best") -> TrainedModel:
    """The best (default) or latest checkpoint of a training run (best falls back to latest
    when the run never validated)."""
    meta, step, which = read_meta(workdir, which)
    params = read_ema_params(checkpoint_state_dir(workdir, which, step))
    return build_trained(json.loads(meta["config"]), meta["statistics"], params, step, where=workdir)


def load_model_file(path) -> TrainedModel:
    """A model file written by `orbjax.export` (raises `ModelFileError` if it is unusable)."""
    from orbjax.model_file import read_model_file

    f = read_model_file(path)
    return build_trained(f.config, f.statistics, f.params, f.step, where=path)


def read_ema_params(state_dir: str) -> dict:
    """The ``ema_params`` subtree of a saved `TrainState` as numpy arrays, nothing else.

    Shapes and dtypes come from the checkpoint's own metadata, so no template is needed.
    """
    import orbax.checkpoint as ocp

    checkpointer = ocp.PyTreeCheckpointer()
    tree = checkpointer.metadata(state_dir).item_metadata.tree
    abstract = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype), tree["ema_params"],
                            is_leaf=lambda m: hasattr(m, "shape"))
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), abstract)
    restored = checkpointer.restore(state_dir, args=ocp.args.PyTreeRestore(
        item={"ema_params": abstract}, restore_args={"ema_params": restore_args}, partial_restore=True))
    return restored["ema_params"]


def checkpoint_state_dir(workdir: str, which: str, step: int) -> str:
    """Where orbax keeps the `TrainState` of one step (`Checkpointer` layout)."""
    return os.path.abspath(os.path.join(workdir, "checkpoints", which, str(step), "state"))


def build_trained(config: dict, statistics_json: str, params, step: int, where) -> TrainedModel:
    """Model of `config` with `params`, after checking that every parameter shape fits it."""
    config = ml_collections.ConfigDict(config)
    statistics = Statistics.from_json(statistics_json)
    model = create_model(config, statistics)
    with precision(config.dtype):
        check_shapes(param_shapes(params), param_shapes(_abstract_params(model, config, statistics)), where)
        params = jax.device_put(params)
    return TrainedModel(model, params, config, statistics, int(step))


def _abstract_params(model: OrbitalMLIP, config, statistics: Statistics):
    """Shapes of the model's parameters, traced on a one-atom graph (nothing is computed)."""
    from orbjax.data.batching import PaddingBudget, pad_batch
    from orbjax.data.graphs import structure_to_graph
    from orbjax.data.structures import Structure

    dummy = Structure([statistics.species[0]], [[0.0, 0.0, 0.0]], name="init")
    graph = pad_batch([structure_to_graph(dummy, config.model.cutoff)], PaddingBudget(64, 64, 2))
    return jax.eval_shape(lambda: init_params(model, to_device(graph, model.dtype), 0))

