"""Stage 2 of the metals experiment: GFN1-xTB labels of the chosen subset, and the split files.

    python experiments/metals/select_subset.py     # the frames and the split (subset.csv)
    python experiments/metals/prepare.py --part 0 & python experiments/metals/prepare.py --part 1
    python experiments/metals/prepare.py           # (labels what is left, then) the split files

Frames of `subset_pbe_only_*.extxyz` (surfaces) keep their PBE labels only. Labels
`experiments/metals/data/subset_{9A,as_given}_<part>.extxyz` with `python -m
orbjax.label` (one process per part, resumable; `--min-cell-length 9` for 9A, cells as given
for as_given: see README "Stage 2") into `labels_*.h5` beside them (committed: the labels
with their provenance), then writes `data/metals/{train,val,test}.h5` (git-ignored; rebuilt
by this command) from the frames' `split`. The PBE energy, forces and stress of the input
are kept beside the `xtb_*` labels.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "experiments" / "metals" / "data"
SETTINGS = {"9A": ["--min-cell-length", "9"], "as_given": []}


def label(setting: str, part: int) -> Path:
    out = HERE / f"labels_{setting}_{part}.h5"
    cmd = [sys.executable, "-m", "orbjax.label", str(HERE / f"subset_{setting}_{part}.extxyz"), str(out),
           "--workers", "1", "--chunk-size", "4", *SETTINGS[setting]]
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return out


def split(labelled: list[Path], pbe_only: list[Path], out: Path) -> dict[str, int]:
    """Split files from the labelled parts and the frames without GFN1 labels (PBE only:
    their charge targets are absent and masked in the loss)."""
    from orbjax.data.dataset import read_dataset, write_dataset
    from orbjax.data.readers import read_structures

    parts: dict[str, list] = {"train": [], "val": [], "test": []}
    settings = []
    for path in labelled:
        structures, attrs = read_dataset(path)
        settings.append(f"{path.name}: min_cell_length_A={attrs.get('min_cell_length_A', 'as given')}")
        for s in structures:
            parts[s.info["split"]].append(s)
    for path in pbe_only:
        settings.append(f"{path.name}: no GFN1 labels")
        for s in read_structures(path):
            parts[s.info["split"]].append(s)
    out.mkdir(parents=True, exist_ok=True)
    for name, structures in parts.items():
        write_dataset(out / f"{name}.h5", structures,
                      attrs={"method": "GFN1-xTB", "labelling": "; ".join(settings),
                             "source": "experiments/metals/data (select_subset.py, prepare.py)"})
    return {k: len(v) for k, v in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "metals")
    parser.add_argument("--part", type=int, default=None, help="label only this part (no split files)")
    args = parser.parse_args()
    parts = sorted({int(p.stem.rsplit("_", 1)[1]) for p in HERE.glob("subset_9A_*.extxyz")})
    if args.part is not None:
        for setting in SETTINGS:
            label(setting, args.part)
        return
    labelled = [label(setting, part) for setting in SETTINGS for part in parts]
    print(split(labelled, sorted(HERE.glob("subset_pbe_only_*.extxyz")), args.out))


if __name__ == "__main__":
    main()
