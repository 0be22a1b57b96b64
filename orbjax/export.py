"""Command line: a training run's checkpoint → one portable model file.

    python -m orbjax.export WORKDIR model.orbjax [--which best|latest]

The file holds the EMA parameters, the model config, the dataset statistics, the element
list, units and versions, with a checksum (`orbjax.model.file`); load it with
``orbjax.load_potential("model.orbjax")``. Training writes ``WORKDIR/model.orbjax`` (best
checkpoint) at the end of every run. The library function is
`orbjax.model.io.export_model`.
"""
from __future__ import annotations

import argparse
import sys

from orbjax.model.io import export_model


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
    from orbjax.runtime import tune_cpu

    tune_cpu()
    sys.exit(main())
