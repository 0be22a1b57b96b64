"""Cost of a committee MD step: M=4 members in one compiled step (vmapped, and lax.map-ped)
vs one model's step (and 4 single-model steps, the cost of running the members apart).

    python -m benchmarks.committee_step [--out benchmarks/committee_step.csv] [--boxes 4x4x4,7x7x7]
        [--steps 10]

The committed CSV: `--boxes 4x4x4,7x7x7 --steps 5 --repeats 3`, then the rows of
`--boxes 15x15x15 --steps 3 --repeats 2` (10,125 atoms) appended from a second run.

Model: configs/test.py's architecture with untrained random parameters (the cost does not
depend on the values); members differ only in their parameters. System: a periodic box of
water at 1 g/cm³ (`benchmarks.md_step.water_box`; 7x7x7 = 1,029 atoms). What is timed: the
jitted NVT MD (`orbjax.potential.dynamics`, on-device neighbour list) advancing `--steps`
steps in one chunk, after a first chunk that compiles (compile_s); ms_per_step is the
median over `--repeats` chunks; max_force_std_eV_A (committee rows) shows the members
differ. All rows of one box come from one process, one after
another. ratio_vs_single = committee step / single step; ratio_vs_4_singles = committee
step / (4 × single step): below 1, the committee is cheaper than running its members apart.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from benchmarks.md_step import untrained_potential, water_box
from experiments.common.tables import write_csv

ROOT = Path(__file__).resolve().parents[1]
M = 4


def members(n: int):
    """`n` potentials of configs/test.py's architecture with different random parameters."""
    from orbjax.model.build import init_params

    first = untrained_potential("test")
    return [first] + [
        first.replace(variables={**first.variables, **init_params(first.model, seed)})
        for seed in range(1, n)
    ]


def time_md(potential, atoms, n_steps: int, repeats: int) -> tuple[float, float, float]:
    """(first chunk s, median ms per step over `repeats` chunks of `n_steps`, the last
    step's max force spread eV/Å: 0 for one model, > 0 for a committee of different members)."""
    from orbjax.potential.dynamics import MolecularDynamics

    md = MolecularDynamics.create(potential, atoms, "nvt", timestep=0.5, temperature=300)
    state, nbrs = md.initial_state(atoms.positions, md.maxwell_boltzmann(300, seed=0))
    t0 = time.perf_counter()
    for state, nbrs in md.run(state, nbrs, n_steps, n_steps):
        state.positions.block_until_ready()
    first = time.perf_counter() - t0
    times = []
    for k in range(repeats):
        t0 = time.perf_counter()
        for state, nbrs in md.run(state, nbrs, int(state.step) + n_steps, n_steps):
            state.positions.block_until_ready()
        times.append((time.perf_counter() - t0) / n_steps)
    return first, 1e3 * float(np.median(times)), float(state.force_std)


def main(argv=None) -> int:
    from orbjax.potential.committee import Committee
    from orbjax.runtime import tune_cpu

    tune_cpu()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "committee_step.csv"))
    p.add_argument(
        "--boxes", default="4x4x4,7x7x7", help="water molecules per side, comma-separated"
    )
    p.add_argument("--steps", type=int, default=10, help="MD steps per timed chunk")
    p.add_argument("--repeats", type=int, default=3, help="timed chunks (median)")
    args = p.parse_args(argv)
    pots = members(M)
    committees = {
        mode: Committee.create(pots, [f"random {k}" for k in range(M)], mode)
        for mode in ("vmap", "map")
    }
    rows = []
    for spec in args.boxes.split(","):
        atoms = water_box(tuple(int(x) for x in spec.split("x")))
        single_compile, single, _ = time_md(pots[0], atoms, args.steps, args.repeats)
        common = {
            "n_atoms": len(atoms),
            "model": "configs/test.py",
            "steps": args.steps,
            "repeats": args.repeats,
            "device": platform.processor() or platform.machine(),
            "load_avg": round(os.getloadavg()[0], 2),
        }
        rows.append(
            {
                **common,
                "what": "single",
                "members": 1,
                "ms_per_step": single,
                "compile_s": single_compile,
            }
        )
        rows.append(
            {
                **common,
                "what": "4 singles (4 x single)",
                "members": M,
                "ms_per_step": M * single,
                "compile_s": "",
            }
        )
        for mode, committee in committees.items():
            com_compile, com, spread = time_md(committee, atoms, args.steps, args.repeats)
            rows.append(
                {
                    **common,
                    "what": f"committee ({mode})",
                    "members": M,
                    "ms_per_step": com,
                    "compile_s": com_compile,
                    "ratio_vs_single": com / single,
                    "ratio_vs_4_singles": com / (M * single),
                    "max_force_std_eV_A": spread,
                }
            )
            print(
                f"{len(atoms)} atoms: single {single:.1f} ms/step, committee of {M} ({mode}) "
                f"{com:.1f} ms/step "
                f"({com / single:.2f}x one model, {com / (M * single):.2f}x {M} models apart)",
                flush=True,
            )
        write_csv(args.out, rows, digits=4)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
