"""A training run's checkpoint → one portable model file (`orbjax.model_file`).

The command line is `python -m orbjax.export`; training calls `export_finished_run` at
the end of every run.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import jax

MODEL_FILE_NAME = "model.orbjax"  # what training writes into its workdir


def export_model(workdir, out_path, which: str = "best") -> Path:
    """Write the `which` checkpoint of `workdir` as a model file; returns its path.

    Reads only the checkpoint's EMA parameters and metadata (no optimiser, no model build).
    In a multi-host run every process must call it (orbax reads collectively); process 0 writes.
    """
    from orbjax.model_file import write_model_file
    from orbjax.training.checkpoint import read_meta
    from orbjax.training.restore import checkpoint_state_dir, read_ema_params

    if not os.path.isdir(os.path.join(workdir, "checkpoints")):
        raise FileNotFoundError(f"{workdir}: no checkpoints/ directory; is this a training run's workdir?")
    meta, step, found = read_meta(workdir, which)
    params = read_ema_params(checkpoint_state_dir(workdir, found, step))  # collective in multi-host runs
    if jax.process_index() != 0:
        return Path(out_path)
    return write_model_file(out_path, params, meta["config"], meta["statistics"], step=int(step),
                            checkpoint=found, source=os.path.abspath(workdir))


def export_finished_run(workdir) -> Path | None:
    """`export_model` into ``WORKDIR/model.orbjax``, called at the end of training; None
    (and a note) if the run has no checkpoint to export."""
    try:
        return export_model(workdir, os.path.join(workdir, MODEL_FILE_NAME), "best")
    except FileNotFoundError as err:
        print(f"no model file written: {err}", file=sys.stderr)
        return None
