"""Command line: a training run's checkpoint → one portable model file.

    python -m orbjax.export WORKDIR model.orbjax [--which best|latest]

The file holds the EMA parameters, the model config, the dataset statistics, the element
list, units and versions, with a checksum (`orbjax.model_file`); load it with
``orbjax.load_potential("model.orbjax")``. Training writes ``WORKDIR/model.orbjax`` (best
checkpoint) at the end of every run.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

MODEL_FILE_NAME = "model.orbjax"  # what training writes into its workdir


def export_model(workdir, out_path, which: str = "best") -> Path:
    """Write the `which` checkpoint of `workdir` as a model file; returns its path.

    Reads only the checkpoint's EMA parameters and metadata (no optimiser, no model build).
    """
    from orbjax.model_file import write_model_file
    from orbjax.training.checkpoint import read_meta
    from orbjax.training.restore import checkpoint_state_dir, read_ema_params

    if not os.path.isdir(os.path.join(workdir, "checkpoints")):
        raise FileNotFoundError(f"{workdir}: no checkpoints/ directory; is this a training run's workdir?")
    meta, step, found = read_meta(workdir, which)
    params = read_ema_params(checkpoint_state_dir(workdir, found, step))
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m orbjax.export", description=__doc__.split("\n\n")[0])
    p.add_argument("workdir", help="training run directory (holds checkpoints/)")
    p.add_argument("output", help="model file to write, e.g. model.orbjax")
    p.add_argument("--which", default="best", choices=("best", "latest"),
                   help="checkpoint: best by validation loss (default) or latest")
    args = p.parse_args(argv)
    try:
        path = export_model(args.workdir, args.output, args.which)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
