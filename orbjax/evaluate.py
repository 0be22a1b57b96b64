"""Evaluate a trained model on a structure file: metrics, predictions and parity plots.

  python -m orbjax.evaluate --model runs/x/model.orbjax --data FILE [--out DIR]
  python -m orbjax.evaluate --workdir runs/x --data FILE [--which best|latest]
      [--out DIR/eval_<name>] [--key-preset chno] [--batch-size N] [--no-plots]

`--model` takes a model file or a training workdir, `--workdir` the same (either name works).
A user's error (missing file, a file of the wrong kind, an element the model never saw) is
one line and exit status 1. Only the command line: what is computed and written is
described in `orbjax.evaluation`, the library it calls (`evaluate_model`,
`evaluate_workdir`), which programs import instead of this module.
"""

from __future__ import annotations

import sys
from typing import Sequence

from orbjax import cli

PROG = "python -m orbjax.evaluate"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (without the program name); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return cli.run(lambda: _main(argv), argv)


def _main(argv: list[str]) -> int:
    parser = cli.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--model", help="model file (model.orbjax) or training workdir")
    where.add_argument("--workdir", help="training workdir or model file (the same as --model)")
    parser.add_argument("--data", required=True, help="structure file to evaluate on")
    parser.add_argument(
        "--which", default="best", choices=("best", "latest"), help="checkpoint of a workdir"
    )
    parser.add_argument(
        "--out",
        default=None,
        help="output directory (default: eval_<data file stem> beside the model)",
    )
    parser.add_argument(
        "--key-preset",
        default=None,
        help="label naming in the file: default | chno | comp6 (default: the run's)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="structures per batch (default: the run's)"
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the parity plots")
    parser.add_argument(
        "--level",
        default=None,
        help="level of theory to score, e.g. gfn1 (against xtb_energy/xtb_forces); "
        "default: the model's first",
    )
    args = parser.parse_args(argv)

    from orbjax.evaluation import evaluate_model

    report = evaluate_model(
        args.model or args.workdir,
        args.data,
        args.out,
        args.which,
        args.key_preset,
        args.batch_size,
        plots=not args.no_plots,
        level=args.level,
    )
    width = max(len(k) for k in report["metrics"])
    checkpoint = "model file" if report["which"] == "file" else f"{report['which']} checkpoint"
    print(f"{report['n_structures']} structures, {checkpoint} (step {report['step']})")
    for k, v in report["metrics"].items():
        print(f"  {k:<{width}} {v:12.4f} {report['units'][k]}")
    if not report["energies_trained"]:
        print(
            "note: this model was trained on forces only (loss.weights.energy=0): its energy "
            "errors measure "
            "an untrained energy"
        )
    plots = f" and {len(report['plots'])} parity plots" if report.get("plots") else ""
    print(f"metrics.json, metrics.csv, predictions.npz{plots} in {report['out_dir']}")
    return 0


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()  # before JAX starts its backend (orbjax/runtime.py)
    sys.exit(main())
