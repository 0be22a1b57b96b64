"""Stage 1 of the learning curves: fixed splits and GFN1-xTB labels for CHNO and acetylacetone.

    python -m experiments.learning_curves.prepare [--chno-grown]   # from the repository root

Writes `data/learning_curves/` (git-ignored; rebuilt by this command, resumable):
- acac: `train_300K` (PBE-D3/def2-SVP, 500 MD frames) split once with split seed 0 into
  400 training / 50 validation / 50 test frames; `train_600K` (500 frames) is a second test
  set (temperature transfer). Files `acac_{train,val,test,test600}.h5`.
- chno: the shared ωB97X/6-31G(d) set (`chno.h5`; molecule-disjoint val/test are chosen
  at training time by `data.split_seed`, fixed across seeds). With `--chno-grown` the
  shared set merged by `mol_id` with `experiments/data/chno_grow_*.extxyz` (`chno_grown.h5`).

Every file is labelled with `python -m orbjax.label` (GFN1-xTB, per-orbital populations);
the input's DFT labels are kept beside the xtb_* ones. The split written here is recorded in
`data/learning_curves/splits.json` (frame indices into the source files).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys

import numpy as np
from ase.io import read, write

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.path.join(ROOT, "..", "shared", "data")
OUT = os.path.join(ROOT, "data", "learning_curves")
ACAC_SPLIT_SEED = 0
ACAC_SIZES = (400, 50, 50)


def label(src: str, dst: str, preset: str) -> None:
    """GFN1-xTB labels via the orbjax CLI (resumes; a finished file is left as it is)."""
    if os.path.exists(dst):
        print(f"{dst}: exists, kept")
        return
    subprocess.run([sys.executable, "-m", "orbjax.label", src, dst, "--key-preset", preset], check=True)


def acac() -> dict:
    frames = read(os.path.join(SHARED, "botnet", "acac", "train_300K.xyz"), ":")
    order = np.random.default_rng(ACAC_SPLIT_SEED).permutation(len(frames))
    n_train, n_val, n_test = ACAC_SIZES
    parts = {"train": np.sort(order[:n_train]), "val": np.sort(order[n_train:n_train + n_val]),
             "test": np.sort(order[n_train + n_val:n_train + n_val + n_test])}
    for name, idx in parts.items():
        src = os.path.join(OUT, f"acac_{name}.extxyz")
        if not os.path.exists(src):
            write(src, [frames[i] for i in idx], format="extxyz")
        label(src, os.path.join(OUT, f"acac_{name}.h5"), "default")
    label(os.path.join(SHARED, "botnet", "acac", "train_600K.xyz"), os.path.join(OUT, "acac_test600.h5"), "default")
    return {f"acac_{k}": [int(i) for i in v] for k, v in parts.items()}


def chno(grown: bool) -> None:
    shared = os.path.join(SHARED, "chno", "chno_wb97x.extxyz")
    label(shared, os.path.join(OUT, "chno.h5"), "chno")
    if not grown:
        return
    frames = read(shared, ":")
    seen = {int(a.info["mol_id"]) for a in frames}
    for path in sorted(glob.glob(os.path.join(ROOT, "experiments", "data", "chno_grow_*.extxyz"))):
        new = [a for a in read(path, ":") if int(a.info["mol_id"]) not in seen]
        frames += new
        seen |= {int(a.info["mol_id"]) for a in new}
        print(f"{path}: {len(new)} structures")
    merged = os.path.join(OUT, f"chno_grown_{len(frames)}.extxyz")
    write(merged, frames, format="extxyz")
    label(merged, os.path.join(OUT, f"chno_grown_{len(frames)}.h5"), "chno")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--chno-grown", action="store_true", help="also merge and label the grown CHNO set")
    args = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    splits = acac()
    chno(args.chno_grown)
    with open(os.path.join(OUT, "splits.json"), "w") as f:
        json.dump({"acac_split_seed": ACAC_SPLIT_SEED, **splits}, f)


if __name__ == "__main__":
    main()
