"""The end of a training run: its best checkpoint as ``WORKDIR/model.orbjax``.

The export itself is `orbjax.model.io.export_model` (the command line is
`python -m orbjax.export`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from orbjax.model.io import MODEL_FILE_NAME, export_model


def export_finished_run(workdir) -> Path | None:
    """`export_model` into ``WORKDIR/model.orbjax``, called at the end of training; None
    (and a note) if the run has no checkpoint to export."""
    try:
        return export_model(workdir, os.path.join(workdir, MODEL_FILE_NAME), "best")
    except FileNotFoundError as err:
        print(f"no model file written: {err}", file=sys.stderr)
        return None
