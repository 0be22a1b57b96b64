"""Train an orbjax potential: `python -m orbjax.train --config configs/test.py --workdir DIR`.

Reads the data named in the config, fits the dataset statistics on the training split,
and trains with a jit-compiled optax step on a weighted energy + force (+ charge) loss.
Validation metrics go to `metrics.csv` and TensorBoard event files; checkpoints (latest and
best by validation) go to `DIR/checkpoints`. Re-running the same command resumes.

This module is only the command line: its absl flags are global to the process, so
nothing imports it. The loop is `orbjax.training.loop.train_and_evaluate`, the model and
optimiser factories are in `orbjax.training.factories`.
"""
from __future__ import annotations

import json

from absl import app, flags, logging
from ml_collections import config_flags

from orbjax.training.loop import train_and_evaluate

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and the resolved config.")
config_flags.DEFINE_config_file("config", None, "Training configuration file.", lock_config=True)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO
    final = train_and_evaluate(FLAGS.config, FLAGS.workdir)
    print(json.dumps(final, indent=1))


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()  # before JAX starts its backend (orbjax/runtime.py)
    flags.mark_flags_as_required(["config", "workdir"])
    app.run(main)
