"""Molecular dynamics on device with a trained potential; resumes from the last state in --out.

    python -m orbjax.md --model model.orbjax --structure box.extxyz --ensemble nvt \\
        --temperature 300 --timestep 0.5 --steps 100000 --out md_run/
    python -m orbjax.md ... --ensemble npt --pressure 0.0 --compressibility 0.01 --barostat-time 1000

Units: timestep fs, temperature K, friction 1/fs; NPT (isotropic stochastic cell rescaling,
Langevin thermostat): pressure GPa, compressibility 1/GPa (≈ 1/bulk modulus; it sets only
how fast the volume relaxes), barostat time fs. Writes thermo.csv, trajectory.extxyz and
state.npz every --interval steps (orbjax/potential/md_run.py); running the same command
again continues the run up to --steps. The logic lives in orbjax.potential.dynamics and
orbjax.potential.md_run; this file only parses the command line.
"""
from __future__ import annotations

import argparse


def parse_args(argv=None) -> argparse.Namespace:
    from orbjax.potential.barostat import COMPRESSIBILITY_PER_GPA, TIME_CONSTANT_FS
    from orbjax.potential.core import EDGE_CHUNK

    p = argparse.ArgumentParser(prog="python -m orbjax.md", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="model file or training workdir")
    p.add_argument("--structure", required=True, help="structure file ASE reads (last frame is used)")
    p.add_argument("--out", required=True, help="output directory (resumed if it holds a run)")
    p.add_argument("--steps", type=int, required=True, help="total number of steps")
    p.add_argument("--ensemble", choices=("nve", "nvt", "npt"), default="nvt")
    p.add_argument("--temperature", type=float, default=300.0, help="K: thermostat, initial velocities")
    p.add_argument("--timestep", type=float, default=0.5, help="fs")
    p.add_argument("--friction", type=float, default=0.01, help="Langevin friction, 1/fs")
    p.add_argument("--pressure", type=float, default=0.0, help="NPT: target pressure, GPa")
    p.add_argument("--compressibility", type=float, default=COMPRESSIBILITY_PER_GPA,
                   help="NPT: 1/GPa, about 1/bulk modulus (metals ~0.005-0.02, water 0.45)")
    p.add_argument("--barostat-time", type=float, default=TIME_CONSTANT_FS, help="NPT: volume relaxation time, fs")
    p.add_argument("--interval", type=int, default=10, help="steps between frames and thermo lines")
    p.add_argument("--skin", type=float, default=0.5, help="Å kept beyond the cutoff in the neighbour list")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=("float32", "float64"), default=None)
    p.add_argument("--edge-chunk", type=int, default=EDGE_CHUNK,
                   help="edges per chunk of the model's edge loop (0: whole; same forces, less memory)")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> None:
    from ase.io import read

    from orbjax.potential import load_potential
    from orbjax.potential.md_run import run_md

    args = parse_args(argv)
    potential = load_potential(args.model, dtype=args.dtype, edge_chunk=args.edge_chunk)
    md = run_md(potential, read(args.structure, index=-1), args.out, args.steps, args.ensemble, args.temperature,
                args.timestep, args.friction, args.interval, args.seed, args.skin, progress=not args.no_progress,
                model=args.model, pressure_gpa=args.pressure, compressibility_per_gpa=args.compressibility,
                barostat_time=args.barostat_time)
    print(f"done: {args.steps} steps in {args.out} ({md.reallocations} neighbour-list reallocations)")


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()
    main()
