"""Stage 2 of the metals experiment: GFN1-xTB labels of the chosen subset, and the split files.

    python -m experiments.metals.select_subset     # the frames and the split (subset.csv)
    python -m experiments.metals.prepare --part 0 & python -m experiments.metals.prepare --part 1
    python -m experiments.metals.prepare           # (labels what is left, then) the split files
    # data/metals_pbe/: the energy-only runs' files
    python -m experiments.metals.prepare --pbe-only

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
    cmd = [
        sys.executable,
        "-m",
        "orbjax.label",
        str(HERE / f"subset_{setting}_{part}.extxyz"),
        str(out),
        "--workers",
        "1",
        "--chunk-size",
        "4",
        *SETTINGS[setting],
    ]
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return out


def split(labelled: list[Path], pbe_only: list[Path], out: Path) -> dict[str, int]:
    """Split files from the labelled parts and the frames without GFN1 labels: the
    `pbe_only` files and the frames whose labelling failed (recorded in the parts'
    failures files, e.g. SCF not converged): PBE labels only, their auxiliary targets are
    absent and masked in the loss."""
    from orbjax.data.dataset import read_dataset
    from orbjax.data.readers import read_structures

    parts: dict[str, list] = {"train": [], "val": [], "test": []}
    settings, n_failed = [], 0
    for path in labelled:
        structures, attrs = read_dataset(path)
        settings.append(
            f"{path.name}: min_cell_length_A={attrs.get('min_cell_length_A', 'as given')}"
        )
        done = {(s.info["metals_file"], s.info["metals_index"]) for s in structures}
        source = HERE / path.name.replace("labels_", "subset_").replace(".h5", ".extxyz")
        failed = [
            s
            for s in read_structures(source)
            if (s.info["metals_file"], s.info["metals_index"]) not in done
        ]
        n_failed += len(failed)
        for s in structures + failed:
            parts[s.info["split"]].append(s)
    for path in pbe_only:
        settings.append(f"{path.name}: no GFN1 labels")
        for s in read_structures(path):
            parts[s.info["split"]].append(s)
    settings.append(f"{n_failed} frames whose GFN1 labelling failed: PBE labels only")
    return _write_splits(parts, out, "; ".join(settings))


def pbe_only_splits(out: Path) -> dict[str, int]:
    """The same split files without any GFN1 label, from the subset files alone: what the
    energy-only runs read (they can start before the labelling ends; same frames, same
    order, same PBE labels as `split`'s files)."""
    from orbjax.data.readers import read_structures

    parts: dict[str, list] = {"train": [], "val": [], "test": []}
    for path in sorted(HERE.glob("subset_*_*.extxyz")):
        for s in read_structures(path):
            parts[s.info["split"]].append(s)
    return _write_splits(parts, out, "no GFN1 labels (energy-only runs)")


def _write_splits(parts: dict[str, list], out: Path, labelling: str) -> dict[str, int]:
    """Each split in one canonical order (source file, index): the same whatever was labelled."""
    from orbjax.data.dataset import write_dataset

    out.mkdir(parents=True, exist_ok=True)
    for name, structures in parts.items():
        structures = sorted(
            structures, key=lambda s: (s.info["metals_file"], int(s.info["metals_index"]))
        )
        write_dataset(
            out / f"{name}.h5",
            structures,
            attrs={
                "method": "GFN1-xTB",
                "labelling": labelling,
                "source": "experiments/metals/data (select_subset.py, prepare.py)",
            },
        )
    return {k: len(v) for k, v in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "metals")
    parser.add_argument(
        "--part", type=int, default=None, help="label only this part (no split files)"
    )
    parser.add_argument(
        "--pbe-only",
        action="store_true",
        help="only write data/metals_pbe/: the split files without GFN1 labels (energy-only runs)",
    )
    args = parser.parse_args()
    if args.pbe_only:
        print(pbe_only_splits(ROOT / "data" / "metals_pbe"))
        return
    parts = sorted({int(p.stem.rsplit("_", 1)[1]) for p in HERE.glob("subset_9A_*.extxyz")})
    if args.part is not None:
        for setting in SETTINGS:
            label(setting, args.part)
        return
    labelled = [label(setting, part) for setting in SETTINGS for part in parts]
    print(split(labelled, sorted(HERE.glob("subset_pbe_only_*.extxyz")), args.out))


if __name__ == "__main__":
    main()
