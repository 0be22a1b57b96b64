"""A trained model, rebuilt for use: from a model file, from a workdir's checkpoint, and
exported from one to the other.

Only the EMA parameters are read. The optimiser is never built and its state never
loaded (orbax partial restore of the ``ema_params`` subtree), so a run loads whatever its
optimiser config was. A model file (`orbjax.model.file`) is read without any training code:
nothing under `orbjax.training` is imported. A workdir's checkpoint metadata is read through
`orbjax.training.checkpoint` (imported then, and only then). The statistics (E0s, scales,
neighbour count) come from the file or checkpoint; nothing is recomputed from data.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import jax
import ml_collections
import numpy as np

from orbjax.model.build import (
    abstract_params,
    check_shapes,
    create_model,
    param_shapes,
    statistics_variables,
)
from orbjax.model.orbital_mlip import OrbitalMLIP
from orbjax.model.statistics import Statistics

MODEL_FILE_NAME = "model.orbjax"  # what training writes into its workdir


@dataclasses.dataclass
class TrainedModel:
    """A model with its variables.

    Attributes:
      model: the Flax module (architecture, levels, dtype).
      variables: {"params": EMA parameters (the ones validated), "statistics": float64
        arrays (`Statistics.arrays`)}, numpy.
      config: the training run's config.
      statistics: the same statistics as a record (species, levels, E0 source).
      step: training step of the checkpoint.
    """

    model: OrbitalMLIP
    variables: dict
    config: ml_collections.ConfigDict
    statistics: Statistics
    step: int

    @property
    def params(self) -> dict:
        return {"params": self.variables["params"]}


def load_model_file(path) -> TrainedModel:
    """A model file written by `export_model` (raises `ModelFileError` if it is unusable).
    Reads formats 1 and 2 (`orbjax.model.file`)."""
    from orbjax.model.file import read_model_file

    f = read_model_file(path)
    return build_trained(f.config, f.statistics, f.params, f.step, where=path)


def load_trained(workdir: str, which: str = "best") -> TrainedModel:
    """The best (default) or latest checkpoint of a training run (best falls back to latest
    when the run never validated)."""
    from orbjax.training.checkpoint import read_meta

    meta, step, which = read_meta(workdir, which)
    params = read_ema_params(checkpoint_state_dir(workdir, which, step))
    return build_trained(
        json.loads(meta["config"]), meta["statistics"], params, step, where=workdir
    )


def read_run_info(
    workdir: str, which: str = "best"
) -> tuple[ml_collections.ConfigDict, Statistics]:
    """The run config and statistics of a workdir's checkpoint, without its parameters
    (cheap: to check data against the model before loading it)."""
    from orbjax.training.checkpoint import read_meta

    meta, _, _ = read_meta(workdir, which)
    return ml_collections.ConfigDict(json.loads(meta["config"])), Statistics.from_json(
        meta["statistics"]
    )


def load_model(path, which: str = "best") -> TrainedModel:
    """A model file or a training workdir (``checkpoints/``); one-line errors otherwise."""
    if os.path.isfile(path):
        return load_model_file(path)
    if os.path.isdir(os.path.join(path, "checkpoints")):
        return load_trained(path, which)
    if os.path.isdir(path):
        raise FileNotFoundError(
            f"{path}: no checkpoints/ directory; is this a training run's workdir?"
        )
    raise FileNotFoundError(f"{path}: no such model file or workdir")


def build_trained(
    config: dict, statistics_json: str, variables: dict, step: int, where
) -> TrainedModel:
    """Model of `config` with `variables` ({"params": ...} and, from a format-2 file,
    "statistics"), after checking that every parameter and statistic fits it."""
    config = ml_collections.ConfigDict(config)
    statistics = Statistics.from_json(statistics_json)
    model = create_model(config, statistics)
    params = {"params": variables["params"]}
    check_shapes(param_shapes(params), param_shapes(abstract_params(model)), where)
    expected = statistics_variables(model, statistics)
    stats = variables.get("statistics")
    if stats is None:  # format 1 and checkpoints: the statistics JSON is the only copy
        stats = expected["statistics"]
    else:
        check_shapes(param_shapes(stats), param_shapes(expected["statistics"]), where)
    return TrainedModel(
        model, {"params": params["params"], "statistics": stats}, config, statistics, int(step)
    )


def read_ema_params(state_dir: str) -> dict:
    """The ``ema_params`` subtree of a saved `TrainState` as numpy arrays, nothing else.

    Shapes and dtypes come from the checkpoint's own metadata, so no template is needed.
    """
    import orbax.checkpoint as ocp

    checkpointer = ocp.PyTreeCheckpointer()
    tree = checkpointer.metadata(state_dir).item_metadata.tree
    abstract = jax.tree.map(
        lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype),
        tree["ema_params"],
        is_leaf=lambda m: hasattr(m, "shape"),
    )
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), abstract)
    restored = checkpointer.restore(
        state_dir,
        args=ocp.args.PyTreeRestore(
            item={"ema_params": abstract},
            restore_args={"ema_params": restore_args},
            partial_restore=True,
        ),
    )
    return restored["ema_params"]


def checkpoint_state_dir(workdir: str, which: str, step: int) -> str:
    """Where orbax keeps the `TrainState` of one step (`Checkpointer` layout)."""
    return os.path.abspath(os.path.join(workdir, "checkpoints", which, str(step), "state"))


def export_model(workdir, out_path, which: str = "best") -> Path:
    """Write the `which` checkpoint of `workdir` as a model file (format 2); returns its path.

    Reads only the checkpoint's EMA parameters and metadata (no optimiser). In a multi-host
    run every process must call it (orbax reads collectively); process 0 writes.
    """
    from orbjax.model.file import write_model_file
    from orbjax.training.checkpoint import read_meta

    if not os.path.isdir(os.path.join(workdir, "checkpoints")):
        raise FileNotFoundError(
            f"{workdir}: no checkpoints/ directory; is this a training run's workdir?"
        )
    meta, step, found = read_meta(workdir, which)
    # collective in multi-host runs
    params = read_ema_params(checkpoint_state_dir(workdir, found, step))
    if jax.process_index() != 0:
        return Path(out_path)
    trained = build_trained(
        json.loads(meta["config"]), meta["statistics"], params, step, where=workdir
    )
    return write_model_file(
        out_path,
        trained.variables,
        meta["config"],
        meta["statistics"],
        step=int(step),
        checkpoint=found,
        source=os.path.abspath(workdir),
    )


def save_model_file(trained: TrainedModel, out_path, **extra) -> Path:
    """Write a model in memory (e.g. one converted from format 1) as a format-2 model file."""
    from orbjax.model.file import write_model_file

    variables = {
        "params": trained.variables["params"],
        "statistics": {k: np.asarray(v) for k, v in trained.variables["statistics"].items()},
    }
    return write_model_file(
        out_path,
        variables,
        trained.config.to_json(),
        trained.statistics.to_json(),
        step=int(trained.step),
        **extra,
    )
