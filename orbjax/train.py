"""Train an orbjax potential: `python -m orbjax.train --config configs/test.py --workdir DIR`.

Reads the data named in the config, fits the dataset statistics on the training split,
and trains with a jit-compiled optax step on a weighted energy + force (+ auxiliary) loss.
Validation metrics go to `metrics.csv` and TensorBoard event files; checkpoints (latest and
best by validation) go to `DIR/checkpoints`, the best model to `DIR/model.orbjax`.
Re-running the same command resumes.

`--help_config` prints every config field with its value and what it does (the config
files' own comments); `--config.<field>=<value>` overrides one. A mistake (missing file,
unknown field, labels the weighted targets need but the data lack) ends the command with
one line and exit status 1 (`--debug` or ORBJAX_DEBUG=1: the traceback).

This module is only the command line. Its absl flags live in a `FlagValues` of each call,
not in absl's global `FLAGS`, so `main(argv)` can run in any process. The loop is
`orbjax.training.loop.train_and_evaluate`, the model and optimiser factories are in
`orbjax.training.factories`.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from typing import Sequence

from orbjax import cli

PROG = "python -m orbjax.train"
USAGE = f"""usage: {PROG} --config FILE --workdir DIR [--config.<field>=<value> ...] \
[--help_config] [--debug]

{__doc__.splitlines()[0]}

  --config FILE               training config, e.g. configs/orbital.py \
(FILE:arg calls get_config(arg))
  --workdir DIR               checkpoints, metrics.csv, config.json and model.orbjax; \
rerun to resume
  --config.<field>=<value>    override one config field, e.g. --config.data.train_path=labelled.h5
                              --config.data.split_by=structure --config.train.num_steps=2000
  --help_config               print every config field with its value (the config's default, or your
                              override) and meaning, then exit
  --debug                     {cli.DEBUG_HELP}
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (without the program name); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    outputs: list[cli.OutputDirectory] = []
    return cli.run(lambda: _main(argv, outputs), argv, outputs)


def _main(argv: list[str], outputs: list) -> int:
    if {"-h", "--help", "--helpshort", "--helpfull"} & set(argv):
        print(USAGE)
        return 0
    config, config_path, flags = parse(argv)
    if flags.help_config:
        from orbjax.config import describe_config

        print(describe_config(config, config_path))
        return 0
    if not flags.workdir:
        raise cli.UsageError(
            f"{PROG}: --workdir DIR is required (where checkpoints, metrics and the model "
            "file go; see --help)"
        )
    workdir = flags.workdir
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise NotADirectoryError(f"--workdir {workdir}: exists and is not a directory")
    # a failed first try leaves nothing
    outputs.append(cli.OutputDirectory(workdir, done="checkpoints"))

    from absl import logging

    from orbjax.training.loop import train_and_evaluate

    logging.set_verbosity(logging.WARNING)  # orbax is chatty at INFO
    final = train_and_evaluate(config, workdir)
    print(json.dumps(final, indent=1))
    model_file = os.path.join(workdir, "model.orbjax")
    if os.path.exists(model_file):
        print(
            f"model file: {model_file} (orbjax.load_potential, python -m orbjax.md --model, "
            f"python -m orbjax.evaluate --model)"
        )
    if config.loss.weights.get("energy", 0.0) <= 0:
        print(
            "energies untrained: loss.weights.energy=0 trained forces only; the model's "
            "energies are defined "
            "up to a constant (statistics.json e0_source='none')"
        )
    return 0


def parse(argv: list[str]):
    """(config with overrides applied, config file path, parsed flags) of a command line.

    Overrides are checked against the config's fields first, so a typo is one line naming the
    field and the nearest real one, not ml_collections' escaped AttributeError.
    """
    from absl import flags
    from ml_collections import config_flags

    config_arg = _config_argument(argv)
    config_file = config_arg.rpartition(".py:")[0] + ".py" if ".py:" in config_arg else config_arg
    if not os.path.isfile(config_file):
        raise FileNotFoundError(
            f"--config {config_file}: no such config file (e.g. configs/orbital.py)"
        )
    base = _load(config_arg, config_file)
    for arg in argv:
        if arg.startswith("--config."):
            check_override(base, arg[len("--config.") :].split("=", 1)[0], config_file)
    values = flags.FlagValues()
    # lock_config=False with accept_new_attributes: fields were checked above, and the one
    # free-form section (data.key_overrides, empty by default) can take its keys.
    config_flags.DEFINE_config_file(
        "config",
        None,
        "training config file",
        flag_values=values,
        lock_config=False,
        accept_new_attributes=True,
        sys_argv=[PROG, *argv],
    )
    flags.DEFINE_string(
        "workdir", None, "directory for checkpoints, metrics and the model file", flag_values=values
    )
    flags.DEFINE_boolean(
        "help_config", False, "print every config field, its value and meaning", flag_values=values
    )
    flags.DEFINE_boolean("debug", False, cli.DEBUG_HELP, flag_values=values)
    try:
        rest = values([PROG, *argv])
    except flags.Error as err:
        raise cli.UsageError(f"{PROG}: {cli.one_line(err)} (see --help)") from err
    if rest[1:]:
        raise cli.UsageError(
            f"{PROG}: unexpected argument {rest[1]!r} (options are --name=value; see --help)"
        )
    config = values.config
    config.lock()  # as before: nothing downstream adds fields by mistake
    return config, config_file, values


def _config_argument(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
    raise cli.UsageError(
        f"{PROG}: --config FILE is required, e.g. --config configs/orbital.py (see --help)"
    )


def _load(config_arg: str, config_file: str):
    from orbjax.config import load_config_module

    arg = config_arg.rpartition(".py:")[2] if ".py:" in config_arg else None
    module = load_config_module(config_file)
    if not hasattr(module, "get_config"):
        raise ValueError(f"--config {config_file}: not a config file (it defines no get_config())")
    return module.get_config() if arg is None else module.get_config(arg)


def check_override(config, key: str, config_file: str) -> None:
    """Raise `UsageError` if `key` ("data.split_by") is no field of `config`, naming the closest."""
    node, path = config, []
    for part in key.split("."):
        if not hasattr(node, "keys"):
            raise cli.UsageError(f"--config.{key}: {'.'.join(path)} is a value, not a section")
        if part not in node:
            if not len(node) and path:  # a free-form section such as data.key_overrides
                return
            fields = [f"{'.'.join(path + [k])}" for k in sorted(node.keys())]
            near = difflib.get_close_matches(".".join(path + [part]), fields, n=1)
            hint = f"did you mean {near[0]}?" if near else "fields there: " + ", ".join(fields)
            raise cli.UsageError(
                f"--config.{key}: {config_file} has no field {'.'.join(path + [part])} "
                f"({hint}; --help_config lists every field)"
            )
        node, path = node[part], path + [part]


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()  # before JAX starts its backend (orbjax/runtime.py)
    sys.exit(main())
