"""The quick-start job: label → train → evaluate on the bundled example, in a few minutes.

    python -m orbjax.quickstart [--workdir runs/quickstart]

1. Labels `orbjax/examples/chno_example.extxyz` (39 CHNO structures with ωB97X/6-31G(d)
   energies and forces) with GFN1-xTB orbital populations (tblite, all cores).
2. Trains a small model on DFT energies + forces + GFN1 per-orbital populations
   (`configs/quickstart.py`).
3. Prints the validation metrics and writes parity plots.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/quickstart")
    parser.add_argument("--steps", type=int, default=None, help="override the number of training steps")
    args = parser.parse_args(argv)

    from orbjax.config import load_config_module
    from orbjax.data.readers import CHNO_KEYS, example_path, read_structures
    from orbjax.evaluation import evaluate_workdir
    from orbjax.labels.runner import label_structures
    from orbjax.training.loop import train_and_evaluate

    os.makedirs(args.workdir, exist_ok=True)
    labelled = os.path.join(args.workdir, "example_gfn1.h5")
    print(f"[1/3] GFN1-xTB labels for {example_path().name} → {labelled}")
    report = label_structures(read_structures(example_path(), keys=CHNO_KEYS), labelled)
    print(f"      {report.n_labelled} labelled, {report.n_failed} failed, {report.seconds:.1f} s")

    config = load_config_module(str(REPO / "configs" / "quickstart.py")).get_config()
    config.data.train_path = labelled
    if args.steps:
        config.train.num_steps = args.steps
    train_dir = os.path.join(args.workdir, "train")
    print(f"[2/3] training ({config.train.num_steps} steps) → {train_dir}")
    final = train_and_evaluate(config, train_dir)

    print("[3/3] evaluation of the best checkpoint on the whole example (train + validation)")
    report = evaluate_workdir(train_dir, labelled)
    summary = {"validation": {k: round(v, 3) for k, v in final.items()},
               "whole_example": {k: round(v, 3) for k, v in report["metrics"].items()}}
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()  # before JAX starts its backend (orbjax/runtime.py)
    main()
