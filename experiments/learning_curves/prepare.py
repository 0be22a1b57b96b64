"""Stage 1 of the learning curves: fixed splits and GFN1-xTB labels for CHNO and acetylacetone.

    python -m experiments.data.fetch --only botnet/acac [--from DIR]   # once: the acac frames
    python -m experiments.learning_curves.prepare [--chno-grown] [--acac-only]

Writes `data/learning_curves/` (git-ignored; rebuilt by this command, resumable):
- acac: `train_300K` (PBE-D3/def2-SVP, 500 MD frames) split once with split seed 0 into
  400 training / 50 validation / 50 test frames; `train_600K` (500 frames) is a second test
  set (temperature transfer). Files `acac_{train,val,test,test600}.h5`.
- chno: the committed ωB97X/6-31G(d) set (`experiments/data/chno/`; `chno.h5`;
  molecule-disjoint val/test are chosen at training time by `data.split_seed`, fixed across
  seeds). With `--chno-grown` that set merged by `mol_id` with
  `experiments/data/chno_grow_*.extxyz` (`chno_grown.h5`).

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
from pathlib import Path

import numpy as np
from ase.io import read, write

from experiments.common.paths import BOTNET, CHNO, COMMITTED_DATA, REPO

OUT = REPO / "data" / "learning_curves"  # what configs/sweeps/lc_common.py DATA names
ACAC_SPLIT_SEED = 0
ACAC_SIZES = (400, 50, 50)


def label(src: str, dst: str, preset: str) -> None:
    """GFN1-xTB labels via the orbjax CLI (resumes; a finished file is left as it is)."""
    if os.path.exists(dst):
        print(f"{dst}: exists, kept")
        return
    subprocess.run(
        [sys.executable, "-m", "orbjax.label", src, dst, "--key-preset", preset], check=True
    )


def acac(out: Path, source: Path = BOTNET / "acac") -> dict:
    """The fixed acac split of `source`/train_300K, labelled, and train_600K as test600."""
    if not (source / "train_300K.xyz").exists():
        raise SystemExit(
            f"{source}: no acac frames; place them first with "
            "`python -m experiments.data.fetch --only botnet/acac [--from DIR]`"
        )
    frames = read(source / "train_300K.xyz", ":")
    order = np.random.default_rng(ACAC_SPLIT_SEED).permutation(len(frames))
    n_train, n_val, n_test = ACAC_SIZES
    parts = {
        "train": np.sort(order[:n_train]),
        "val": np.sort(order[n_train : n_train + n_val]),
        "test": np.sort(order[n_train + n_val : n_train + n_val + n_test]),
    }
    for name, idx in parts.items():
        src = out / f"acac_{name}.extxyz"
        if not src.exists():
            write(src, [frames[i] for i in idx], format="extxyz")
        label(str(src), str(out / f"acac_{name}.h5"), "default")
    label(str(source / "train_600K.xyz"), str(out / "acac_test600.h5"), "default")
    return {f"acac_{k}": [int(i) for i in v] for k, v in parts.items()}


def chno(out: Path, grown: bool) -> None:
    """The CHNO set labelled; with `grown`, merged by `mol_id` with the grown structures first."""
    label(str(CHNO), str(out / "chno.h5"), "chno")
    if not grown:
        return
    frames = read(CHNO, ":")
    seen = {int(a.info["mol_id"]) for a in frames}
    for path in sorted(glob.glob(str(COMMITTED_DATA / "chno_grow_*.extxyz"))):
        new = [a for a in read(path, ":") if int(a.info["mol_id"]) not in seen]
        frames += new
        seen |= {int(a.info["mol_id"]) for a in new}
        print(f"{path}: {len(new)} structures")
    merged = out / f"chno_grown_{len(frames)}.extxyz"
    write(merged, frames, format="extxyz")
    label(str(merged), str(out / f"chno_grown_{len(frames)}.h5"), "chno")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--chno-grown", action="store_true", help="also merge and label the grown CHNO set"
    )
    p.add_argument("--acac-only", action="store_true", help="only acac (what the acac sweeps read)")
    p.add_argument(
        "--out", type=Path, default=OUT, help="default: data/learning_curves (what the sweeps read)"
    )
    p.add_argument(
        "--acac", type=Path, default=BOTNET / "acac", help="default: data/public/botnet/acac"
    )
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    splits = acac(args.out, args.acac)
    if not args.acac_only:
        chno(args.out, args.chno_grown)
    (args.out / "splits.json").write_text(
        json.dumps({"acac_split_seed": ACAC_SPLIT_SEED, **splits})
    )


if __name__ == "__main__":
    main()
