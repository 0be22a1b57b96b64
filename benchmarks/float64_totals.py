"""What forming total energies in float64 on the host costs in molecular dynamics.

    python -m benchmarks.float64_totals [--sides 7 15] [--steps 20] [--out
        benchmarks/float64_totals.csv]

The jitted MD (`orbjax.potential.dynamics`) integrates with the network's energy alone (the
reference energies Σ E0 are a constant: no force); `MolecularDynamics.thermo` adds Σ E0 in
float64 when a step is logged, and the ASE calculator adds it on every call. Per water box
(configs/test.py architecture, random weights, CHNO-like E0s, float32 compute) this times a
jitted NVE step (chunks of 10 steps), one `thermo` call (device→host copy, kinetic energy and
the float64 sum) and the float64 sum alone (`Potential.reference_energy`), and writes the
ratio (step + sum) / step: the cost of exact totals when every step is logged. Before this
change the sum was part of the jitted step in float32 (one gather and add per atom), so the
step itself did not get slower.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import time

import numpy as np


def water_box(n_molecules_per_side: int):
    from ase.build import molecule

    water = molecule("H2O")
    spacing = 3.1  # Å, about liquid density
    atoms = water.copy()
    atoms = atoms[[]]
    for i in range(n_molecules_per_side):
        for j in range(n_molecules_per_side):
            for k in range(n_molecules_per_side):
                w = water.copy()
                w.translate(np.array([i, j, k]) * spacing)
                atoms += w
    atoms.cell = np.eye(3) * spacing * n_molecules_per_side
    atoms.pbc = True
    return atoms


def potential():
    from pathlib import Path

    import orbjax
    from orbjax.config import load_config_module
    from orbjax.model.build import create_model, init_params
    from orbjax.model.statistics import Statistics

    root = Path(__file__).resolve().parents[1]
    config = load_config_module(str(root / "configs" / "test.py")).get_config()
    statistics = Statistics(
        species=(1, 6, 7, 8),
        atomic_energies=(-13.6, -1029.0, -1484.0, -2041.0),
        energy_scale=1.0,
        avg_num_neighbors=20.0,
    )
    model = create_model(config, statistics)
    return orbjax.Potential.create(model, init_params(model, 0), statistics)


def measure(n_side: int, pot, steps: int) -> dict:
    from orbjax.potential.dynamics import MolecularDynamics

    atoms = water_box(n_side)
    md = MolecularDynamics.create(pot, atoms, "nve", timestep=0.5)
    state, nbrs = md.initial_state(atoms.positions, md.maxwell_boltzmann(300.0, seed=0))
    for state, nbrs in md.run(state, nbrs, 10, 10):  # compile
        state.positions.block_until_ready()
    t = time.perf_counter()
    for state, nbrs in md.run(state, nbrs, 10 + steps, 10):
        state.positions.block_until_ready()
    step_s = (time.perf_counter() - t) / steps
    reps = 20
    t = time.perf_counter()
    for _ in range(reps):
        md.thermo(state)
    thermo_s = (time.perf_counter() - t) / reps
    t = time.perf_counter()
    for _ in range(reps):
        pot.reference_energy(md.atomic_numbers)
    sum_s = (time.perf_counter() - t) / reps
    total = md.thermo(state)["potential_energy_eV"]
    return {
        "n_atoms": len(atoms),
        "md_step_s": step_s,
        "thermo_s": thermo_s,
        "float64_sum_s": sum_s,
        "ratio_step_plus_sum": (step_s + sum_s) / step_s,
        "ratio_step_plus_thermo": (step_s + thermo_s) / step_s,
        "potential_energy_eV": total,
        "steps_timed": steps,
        "machine": platform.processor() or platform.machine(),
        "load_avg_1min": os.getloadavg()[0],
    }


def main() -> None:
    from orbjax.runtime import tune_cpu

    tune_cpu()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--sides",
        type=int,
        nargs="+",
        default=[7, 15],
        help="water molecules per box side (7: 1,029 atoms; 15: 10,125)",
    )
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "float64_totals.csv"))
    args = p.parse_args()
    pot = potential()
    rows = []
    for side in args.sides:
        rows.append(measure(side, pot, args.steps))
        print(rows[-1], flush=True)
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
