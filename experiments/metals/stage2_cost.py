"""Cost estimate for stage 2 (labelling a subset of the metals set), from stage 1's throughput.

    python -m experiments.metals.stage2_cost [--data DIR]

No tblite runs: for every frame of the metals set (`data/public/metals`) it computes how many atoms
would be labelled (the cell, or the supercell `orbjax.labels.xtb.supercell_repeats` builds for a
given `min_cell_length`) and estimates CPU seconds with the power law fitted to stage 1
(`results/gfn1_throughput.csv`, tblite default temperature: cpu_s = c · n_atoms^a). Writes
`results/stage2_cost.csv`: per file × config_type × min_cell_length, the frames in the proposed
subset (every frame of ≤ 64 atoms, plus up to 40 evenly spaced larger frames per file) and their
estimated CPU hours on one core.

The fit is over 6–144-atom cells (mean SCF iterations of the sample); cells of 128–144 atoms
cost 31–155 s measured (fewer iterations in perfect lattices, more in alloys), so treat the
estimates as ±50 %.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from experiments.common.paths import METALS
from experiments.common.tables import read_rows, write_csv
from orbjax.data.structures import Structure
from orbjax.labels.xtb import supercell_repeats

HERE = Path(__file__).resolve().parent
LENGTHS = [None, 6.0, 9.0]  # Å; None = cells as given
SMALL, LARGE_PER_FILE = 64, 40


def fit(path: Path) -> tuple[float, float]:
    for r in read_rows(path):
        if r["setting"] == "default" and r["n_atoms_bin"].startswith("fit"):
            return float(r["fit_prefactor_c"]), float(r["fit_exponent_a"])
    raise ValueError(f"{path}: no fit row for the default setting")


def main(argv=None) -> int:
    import ase.io

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=METALS)
    args = p.parse_args(argv)
    c, a = fit(HERE / "results" / "gfn1_throughput.csv")
    records = []
    for file in sorted(args.data.glob("*.extxyz")):
        frames = ase.io.read(file, ":")
        large = [i for i, f in enumerate(frames) if len(f) > SMALL]
        keep_large = (
            {large[j] for j in np.linspace(0, len(large) - 1, LARGE_PER_FILE).round().astype(int)}
            if large
            else set()
        )
        subset = [i for i, f in enumerate(frames) if len(f) <= SMALL or i in keep_large]
        groups: dict[str, list[int]] = {}
        for i in subset:
            groups.setdefault(frames[i].info["config_type"], []).append(i)
        for config_type, idx in sorted(groups.items()):
            for length in LENGTHS:
                atoms = []
                for i in idx:
                    f = frames[i]
                    s = Structure(f.numbers, f.positions, f.cell.array, f.pbc)
                    n_copies = 1 if length is None else int(np.prod(supercell_repeats(s, length)))
                    atoms.append(len(f) * n_copies)
                atoms = np.array(atoms, float)
                cpu = c * atoms**a
                records.append(
                    {
                        "file": file.name,
                        "config_type": config_type,
                        "min_cell_length_A": "as given" if length is None else length,
                        "n_frames_in_file_group": sum(
                            1 for f in frames if f.info["config_type"] == config_type
                        ),
                        "n_frames_subset": len(idx),
                        "n_atoms_cell_mean": float(np.mean([len(frames[i]) for i in idx])),
                        "n_atoms_labelled_mean": float(atoms.mean()),
                        "n_atoms_labelled_max": int(atoms.max()),
                        "est_cpu_s_per_frame": float(cpu.mean()),
                        "est_cpu_h_total": float(cpu.sum() / 3600),
                    }
                )
    for length in LENGTHS:
        name = "as given" if length is None else length
        rows = [r for r in records if r["min_cell_length_A"] == name]
        records.append(
            {
                "file": "TOTAL",
                "config_type": "all",
                "min_cell_length_A": name,
                "n_frames_subset": sum(r["n_frames_subset"] for r in rows),
                "est_cpu_h_total": sum(r["est_cpu_h_total"] for r in rows),
            }
        )
    out = HERE / "results" / "stage2_cost.csv"
    write_csv(out, records, digits=4)
    print(f"fit cpu_s = {c:.4g} * n^{a:.3f}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
