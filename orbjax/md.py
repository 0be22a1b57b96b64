"""Molecular dynamics on device with a trained potential; resumes from the last state in --out.

    python -m orbjax.md --model model.orbjax --structure box.extxyz --ensemble nvt \\
        --temperature 300 --timestep 0.5 --steps 100000 --out md_run/
    python -m orbjax.md ... --ensemble npt --pressure 0.0 --compressibility 0.01 --barostat-time
        1000
    python -m orbjax.md --model m0.orbjax m1.orbjax m2.orbjax m3.orbjax ... \
        --uncertainty-threshold 0.3 --on-uncertain stop     # committee MD: stop at σ_F > 0.3 eV/Å

Units: timestep fs, temperature K, friction 1/fs; NPT (isotropic stochastic cell rescaling,
Langevin thermostat): pressure GPa, compressibility 1/GPa (≈ 1/bulk modulus; it sets only
how fast the volume relaxes), barostat time fs. Writes thermo.csv, trajectory.extxyz and
state.npz every --interval steps (orbjax/potential/md_run.py); running the same command
again continues the run up to --steps (a run stopped by --uncertainty-threshold stays
stopped: delete its stopped.json to go on). Several --model files run a committee (one compiled
function for all members, mean forces): thermo.csv gains the max force spread per logged
step (eV/Å), and --uncertainty-threshold stops the run (or, with --on-uncertain write,
collects the frames in uncertain.extxyz) when it crosses the threshold. A user's error (missing or
unreadable file, an element the model never saw) is one line and exit status 1, and leaves no empty
--out. The logic lives in orbjax.potential.dynamics and orbjax.potential.md_run; this file only
parses the command line.
"""

from __future__ import annotations

import argparse
import os
import sys

from orbjax import cli


def parse_args(argv=None) -> argparse.Namespace:
    from orbjax.potential.barostat import COMPRESSIBILITY_PER_GPA, TIME_CONSTANT_FS
    from orbjax.potential.core import EDGE_CHUNK

    p = cli.ArgumentParser(prog="python -m orbjax.md", description=__doc__.split("\n")[0])
    p.add_argument(
        "--model",
        required=True,
        nargs="+",
        help="model file or training workdir; several: a committee of one architecture",
    )
    p.add_argument(
        "--structure", required=True, help="structure file ASE reads (last frame is used)"
    )
    p.add_argument("--out", required=True, help="output directory (resumed if it holds a run)")
    p.add_argument("--steps", type=int, required=True, help="total number of steps")
    p.add_argument(
        "--ensemble",
        choices=("nve", "nvt", "npt"),
        default="nvt",
        help="nve: velocity Verlet; nvt: Langevin; npt: Langevin + stochastic cell rescaling",
    )
    p.add_argument(
        "--temperature", type=float, default=300.0, help="K: thermostat, initial velocities"
    )
    p.add_argument("--timestep", type=float, default=0.5, help="fs")
    p.add_argument("--friction", type=float, default=0.01, help="Langevin friction, 1/fs")
    p.add_argument("--pressure", type=float, default=0.0, help="NPT: target pressure, GPa")
    p.add_argument(
        "--compressibility",
        type=float,
        default=COMPRESSIBILITY_PER_GPA,
        help="NPT: 1/GPa, about 1/bulk modulus (metals ~0.005-0.02, water 0.45)",
    )
    p.add_argument(
        "--barostat-time",
        type=float,
        default=TIME_CONSTANT_FS,
        help="NPT: volume relaxation time, fs",
    )
    p.add_argument("--interval", type=int, default=10, help="steps between frames and thermo lines")
    p.add_argument(
        "--skin", type=float, default=0.5, help="Å kept beyond the cutoff in the neighbour list"
    )
    p.add_argument("--seed", type=int, default=0, help="initial velocities and Langevin noise")
    p.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default=None,
        help="default: the model's training dtype",
    )
    p.add_argument(
        "--edge-chunk",
        type=int,
        default=EDGE_CHUNK,
        help="edges per chunk of the model's edge loop (0: whole; same forces, less memory)",
    )
    p.add_argument(
        "--level",
        default=None,
        help="level of theory to run on, for a model trained on several (e.g. gfn1); "
        "default: the model's default level",
    )
    p.add_argument(
        "--uncertainty-threshold",
        type=float,
        default=None,
        help="committee only: eV/Å; a logged step whose max force spread exceeds it is written to "
        "uncertain.extxyz",
    )
    p.add_argument(
        "--on-uncertain",
        choices=("stop", "write"),
        default="stop",
        help="at a step above --uncertainty-threshold: stop the run, or write the frame and go on",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv=None) -> int:
    """Run the command line `argv` (without the program name); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    outputs: list[cli.OutputDirectory] = []
    return cli.run(lambda: _main(argv, outputs), argv, outputs)


def _main(argv, outputs) -> int:
    from orbjax.potential import load_committee, load_potential
    from orbjax.potential.md_run import run_md

    args = parse_args(argv)
    if args.uncertainty_threshold is not None and len(args.model) < 2:
        raise ValueError(
            "--uncertainty-threshold needs a committee: give --model several model files"
        )
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise NotADirectoryError(f"--out {args.out}: exists and is not a directory")
    # a failed first try leaves no empty --out
    outputs.append(cli.OutputDirectory(args.out, done="state.npz"))
    atoms = read_structure(args.structure)  # before the (slower) model load
    if len(args.model) > 1:
        potential = load_committee(
            args.model, dtype=args.dtype, edge_chunk=args.edge_chunk, level=args.level
        )
    else:
        potential = load_potential(
            args.model[0], dtype=args.dtype, edge_chunk=args.edge_chunk, level=args.level
        )
    md = run_md(
        potential,
        atoms,
        args.out,
        args.steps,
        args.ensemble,
        args.temperature,
        args.timestep,
        args.friction,
        args.interval,
        args.seed,
        args.skin,
        progress=not args.no_progress,
        model=args.model[0] if len(args.model) == 1 else args.model,
        pressure_gpa=args.pressure,
        compressibility_per_gpa=args.compressibility,
        barostat_time=args.barostat_time,
        uncertainty_threshold=args.uncertainty_threshold,
        on_uncertain=args.on_uncertain,
    )
    if md.stopped_at is not None:
        print(
            f"stopped at step {md.stopped_at}: max force spread above "
            f"{args.uncertainty_threshold} eV/Å "
            f"(frame in {os.path.join(args.out, 'uncertain.extxyz')})"
        )
        return 0
    print(
        f"done: {args.steps} steps in {args.out} ({md.reallocations} neighbour-list reallocations)"
    )
    return 0


def read_structure(path: str):
    """The last frame of `path` (any format ASE reads), or a one-line error naming the file."""
    from ase.io import read

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such structure file (--structure)")
    try:
        return read(path, index=-1)
    except Exception as err:  # ASE raises many kinds for a file of another kind
        raise ValueError(
            f"{path}: not a structure file ASE can read (--structure): "
            f"{type(err).__name__}: {cli.one_line(err)}"
        ) from err


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()
    sys.exit(main())
