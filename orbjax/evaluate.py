"""Evaluate a trained run on a structure file: metrics, predictions and parity plots.

  python -m orbjax.evaluate --workdir DIR --data FILE [--which best|latest]
      [--out DIR/eval_<name>] [--key-preset chno] [--batch-size N] [--no-plots]

Only the command line: what is computed and written is described in `orbjax.evaluation`,
the library it calls (`evaluate_workdir`), which programs import instead of this module.
"""
from __future__ import annotations

import argparse
from typing import Sequence

from orbjax.evaluation import evaluate_workdir


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m orbjax.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", required=True, help="training workdir")
    parser.add_argument("--data", required=True, help="structure file to evaluate on")
    parser.add_argument("--which", default="best", choices=("best", "latest"), help="checkpoint")
    parser.add_argument("--out", default=None, help="output directory (default WORKDIR/eval_<file stem>)")
    parser.add_argument("--key-preset", default=None, help="label naming in the file: default | chno | comp6")
    parser.add_argument("--batch-size", type=int, default=None, help="structures per batch")
    parser.add_argument("--no-plots", action="store_true", help="skip the parity plots")
    args = parser.parse_args(argv)
    report = evaluate_workdir(args.workdir, args.data, args.out, args.which, args.key_preset,
                              args.batch_size, plots=not args.no_plots)
    width = max(len(k) for k in report["metrics"])
    print(f"{report['n_structures']} structures, {report['which']} checkpoint (step {report['step']})")
    for k, v in report["metrics"].items():
        print(f"  {k:<{width}} {v:12.4f} {report['units'][k]}")
    return report


if __name__ == "__main__":
    import logging

    from orbjax.runtime import tune_cpu

    tune_cpu()  # before JAX starts its backend (orbjax/runtime.py)
    logging.getLogger("absl").setLevel(logging.WARNING)  # orbax is chatty at INFO
    main()
