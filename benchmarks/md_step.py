"""MD-step time (energy + forces) of an orbjax potential: ASE calculator vs jitted dense function.

    python -m benchmarks.md_step [--out benchmarks/md_step.csv] [--steps 30]

Models: configs/test.py and configs/default.py sizes with *untrained* parameters (the cost
does not depend on the values). Systems: an 18-atom CHNO molecule from the bundled example,
and a periodic box of water (64 or 100 molecules at 1 g/cm³; the box is wider than
2×cutoff, so the dense function needs one image per pair). A step moves every atom a little
(so the calculator recomputes its neighbour list) and takes energy and forces; the reported
time is the median over `--steps` steps after compilation (timed separately).

Columns: n_edges is the padded edge budget (calculator) or the number of dense pairs
(jit_dense); compile_s is the first call (compilation included); load_avg is the machine's
1-minute load when measured (timings on a shared machine are inflated by it).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np
from ase import Atoms
from ase.build import molecule

import orbjax
from experiments.common.tables import write_csv
from orbjax.config import load_config_module
from orbjax.data.readers import CHNO_KEYS, example_path, read_structures
from orbjax.model.build import create_model, init_params
from orbjax.model.statistics import Statistics
from orbjax.targets import auxiliary_targets

ROOT = Path(__file__).resolve().parents[1]


def untrained_potential(config_name: str) -> orbjax.Potential:
    config = load_config_module(str(ROOT / "configs" / f"{config_name}.py")).get_config()
    for head in auxiliary_targets():
        config.loss.weights[head] = 0.0  # the potential never evaluates auxiliary heads
    config.model.heads = ()
    stats = Statistics(species=(1, 6, 7, 8), atomic_energies=(0.0,) * 4, avg_num_neighbors=20.0)
    model = create_model(config, stats)
    return orbjax.Potential.create(model, init_params(model, 0), stats)


def chno_molecule() -> Atoms:
    s = max(read_structures(example_path(), keys=CHNO_KEYS), key=lambda s: s.n_atoms)
    return Atoms(numbers=s.atomic_numbers, positions=s.positions)


def water_box(n_per_side: tuple[int, int, int], seed: int = 0) -> Atoms:
    """Randomly oriented waters on a grid, 1 g/cm³ (29.9 Å³ per molecule)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(n_per_side))
    side = (29.9 * n) ** (1 / 3)
    box = Atoms(cell=np.eye(3) * side, pbc=True)
    spacing = side / np.array(n_per_side)
    for idx in np.ndindex(*n_per_side):
        w = molecule("H2O")
        w.rotate(rng.uniform(0, 360), rng.normal(size=3))
        w.positions += (np.array(idx) + 0.5) * spacing
        box += w
    return box


def time_steps(step, n_steps: int) -> tuple[float, float]:
    """(first call s, median ms of the next n_steps)."""
    t0 = time.perf_counter()
    step(0)
    first = time.perf_counter() - t0
    times = []
    for i in range(1, n_steps + 1):
        t0 = time.perf_counter()
        step(i)
        times.append(time.perf_counter() - t0)
    return first, 1e3 * float(np.median(times))


def measure(potential, atoms: Atoms, n_steps: int) -> list[dict]:
    rng = np.random.default_rng(0)
    jiggles = 0.01 * rng.normal(size=(n_steps + 1, len(atoms), 3))  # Å
    rows = []

    calc = orbjax.OrbjaxCalculator(potential)
    work = atoms.copy()
    work.calc = calc

    def ase_step(i):
        work.positions = atoms.positions + jiggles[i]
        work.get_potential_energy(), work.get_forces()

    first, ms = time_steps(ase_step, n_steps)
    rows.append(
        dict(path="ase_calculator", n_edges=calc.budget.n_edge, compile_s=first, ms_per_step=ms)
    )

    z, cell, pbc = atoms.numbers, atoms.cell.array, atoms.pbc
    efs = jax.jit(lambda x: potential.energy_forces_stress(x, z, cell, pbc))
    n_pairs = len(potential.images(cell, pbc)) * len(atoms) ** 2

    def dense_step(i):
        out = efs(atoms.positions + jiggles[i])
        float(out["energy"]), np.asarray(out["forces"])

    first, ms = time_steps(dense_step, n_steps)
    rows.append(dict(path="jit_dense", n_edges=n_pairs, compile_s=first, ms_per_step=ms))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "md_step.csv"))
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    systems = {
        "chno_molecule": chno_molecule(),
        "water_box_192": water_box((4, 4, 4)),
        "water_box_300": water_box((5, 5, 4)),
    }
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"jax {jax.__version__} {jax.default_backend()}"
    )
    rows = []
    for config_name in ("test", "default"):
        potential = untrained_potential(config_name)
        n_params = sum(int(np.size(p)) for p in jax.tree.leaves(potential.params))
        for name, atoms in systems.items():
            for row in measure(potential, atoms, args.steps):
                row = dict(
                    config=config_name,
                    n_params=n_params,
                    system=name,
                    n_atoms=len(atoms),
                    **row,
                    load_avg=round(os.getloadavg()[0], 2),
                    machine=machine,
                )
                print(row, flush=True)
                rows.append(row)
    write_csv(args.out, rows, digits=4)


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()  # the settings orbjax's command lines run with (orbjax/runtime.py)
    main()
