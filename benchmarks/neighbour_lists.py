"""Host-side neighbour lists for the ASE calculator: vesin (orbjax's) against matscipy.

Both build the full list (i→j and j→i, periodic shifts) of periodic water boxes at 1 g/cm³
(`md_scaling.water_box`) and of a bcc Mo supercell (metal density, ~2× the edges per atom
at the same cutoff); the pairs are checked to be the same set. Median wall and process-CPU
time over repeats, one thread (run it pinned: `taskset -c 1`).

    .venv/bin/pip install -e ".[bench]"   # matscipy
    OMP_NUM_THREADS=1 taskset -c 1 .venv/bin/python -m benchmarks.neighbour_lists
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from importlib.metadata import version

import numpy as np

from benchmarks.md_scaling import water_box

HERE = os.path.dirname(os.path.abspath(__file__))


def systems(water_sizes, mo_sizes):
    from ase.build import bulk

    for n in water_sizes:
        yield f"water_{3 * n**3}", water_box(n)
    for n in mo_sizes:
        yield f"bcc_Mo_{2 * n**3}", bulk("Mo", "bcc", a=3.147, cubic=True).repeat(n)


def matscipy_pairs(atoms, cutoff):
    from matscipy.neighbours import neighbour_list

    return neighbour_list(
        "ijS", positions=atoms.positions, cell=np.asarray(atoms.cell), pbc=atoms.pbc, cutoff=cutoff
    )


def vesin_pairs(atoms, cutoff):
    from vesin import NeighborList

    return NeighborList(cutoff=cutoff, full_list=True).compute(
        points=atoms.positions,
        box=np.asarray(atoms.cell),
        periodic=atoms.pbc.tolist(),
        quantities="ijS",
    )


def timed(fn, repeats):
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return out, float(np.median(wall)), float(np.median(cpu))


def pair_set(i, j, shifts):
    return set(zip(i.tolist(), j.tolist(), map(tuple, np.asarray(shifts).tolist())))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cutoff", type=float, default=5.0, help="Å (orbjax's default model)")
    p.add_argument(
        "--water", type=int, nargs="+", default=[3, 5, 7, 10, 15, 22], help="waters per edge"
    )
    p.add_argument(
        "--mo", type=int, nargs="+", default=[4, 8, 16, 25], help="cubic bcc cells per edge"
    )
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--out", default=os.path.join(HERE, "neighbour_lists.csv"))
    args = p.parse_args()
    rows = []
    for name, atoms in systems(args.water, args.mo):
        ref, m_wall, m_cpu = timed(lambda: matscipy_pairs(atoms, args.cutoff), args.repeats)
        got, v_wall, v_cpu = timed(lambda: vesin_pairs(atoms, args.cutoff), args.repeats)
        same = pair_set(*ref) == pair_set(*got)
        rows.append(
            dict(
                system=name,
                n_atoms=len(atoms),
                cutoff_A=args.cutoff,
                n_pairs=len(ref[0]),
                same_pairs=same,
                matscipy_wall_s=m_wall,
                matscipy_cpu_s=m_cpu,
                vesin_wall_s=v_wall,
                vesin_cpu_s=v_cpu,
                speedup_wall=m_wall / v_wall,
                speedup_cpu=m_cpu / v_cpu,
                repeats=args.repeats,
                matscipy=version("matscipy"),
                vesin=version("vesin"),
                load_avg=os.getloadavg()[0],
            )
        )
        print(
            ", ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                for k, v in rows[-1].items()
                if k not in ("matscipy", "vesin")
            ),
            flush=True,
        )
        if not same:
            sys.exit(f"{name}: vesin and matscipy disagree")
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
