"""Command line: cheap pretraining data, GFN1-xTB Langevin MD of many molecules.

    python -m orbjax.sample IN OUT.h5 [--temperatures 300,500,800] [--frames 5]
                                      [--interval 40] [--equilibrate 40] [--timestep 0.5]
                                      [--limit N] [--workers N] [--max-chunks N] [--collect]

IN: a SMILES file (``mol_id<TAB>SMILES`` or one SMILES per line; ``.txt``/``.smi``), embedded
with RDKit ETKDG + MMFF, or any structure file orbjax reads (MD starts from each structure).
OUT: an orbjax HDF5 dataset with the GFN1-xTB labels `orbjax.label` writes (xtb_energy eV,
xtb_forces eV/Å, charges and populations e), float32, compressed. The same command resumes
an interrupted run. ``--collect [DEST]`` writes OUT (or DEST) from the chunks finished so far
(marked incomplete) and exits, while the job may go on.
"""

from __future__ import annotations

import argparse
import sys

from orbjax import cli


def main(argv: list[str] | None = None) -> int:
    """Run the command line `argv` (without the program name); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Bad input or settings (missing file, another job's parts): one line, exit status 1.
    return cli.run(lambda: _sample(_parser().parse_args(argv)), argv)


def _parser() -> argparse.ArgumentParser:
    from orbjax.labels.sampler import SampleSettings

    d = SampleSettings()
    p = cli.ArgumentParser(prog="python -m orbjax.sample", description=__doc__.split("\n\n")[0])
    p.add_argument("input", help="SMILES file (.txt/.smi) or structure file")
    p.add_argument("output", help="dataset to write (HDF5: *.h5 or *.hdf5)")
    p.add_argument(
        "--temperatures",
        default=",".join(f"{t:g}" for t in d.temperatures),
        help="K, comma-separated; each molecule draws one",
    )
    p.add_argument("--frames", type=int, default=d.n_frames, help="frames kept per molecule")
    p.add_argument("--interval", type=int, default=d.interval, help="MD steps between kept frames")
    p.add_argument(
        "--equilibrate", type=int, default=d.n_equilibrate, help="MD steps before the first frame"
    )
    p.add_argument("--timestep", type=float, default=d.timestep_fs, help="fs")
    p.add_argument(
        "--friction",
        type=float,
        default=d.friction,
        help="Langevin friction, ASE inverse time units",
    )
    p.add_argument("--no-orbitals", action="store_true", help="energy, forces and charges only")
    p.add_argument(
        "--seed", type=int, default=0, help="draws each molecule's temperature and noise"
    )
    p.add_argument(
        "--limit",
        type=int,
        default=None,
        help="only the first N molecules of IN (with --collect: the job's first N molecules "
        "in its chunk order, rounded up to whole chunks: a fixed snapshot)",
    )
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    p.add_argument("--chunk-size", type=int, default=20, help="molecules per task / part file")
    p.add_argument(
        "--max-chunks", type=int, default=None, help="stop after N new chunks (resume later)"
    )
    p.add_argument("--key-preset", default="default", help="how labels are named in a structure IN")
    p.add_argument(
        "--collect",
        nargs="?",
        const="",
        default=None,
        metavar="DEST",
        help="write OUT (or DEST) from the chunks finished so far, marked incomplete, and exit",
    )
    return p


def _sample(args) -> int:
    from orbjax.labels.runner import check_output_name
    from orbjax.labels.sample_job import collect, read_molecules, sample_molecules
    from orbjax.labels.sampler import SampleSettings

    check_output_name(args.output)
    if args.collect is not None:
        report = collect(args.output, dest=args.collect or None, first=args.limit)
    else:
        temperatures = tuple(float(t) for t in args.temperatures.split(",") if t.strip())
        settings = SampleSettings(
            temperatures=temperatures,
            timestep_fs=args.timestep,
            friction=args.friction,
            n_equilibrate=args.equilibrate,
            n_frames=args.frames,
            interval=args.interval,
            orbitals=not args.no_orbitals,
        )
        molecules = read_molecules(args.input, args.limit, args.key_preset)
        report = sample_molecules(
            molecules,
            args.output,
            settings,
            seed=args.seed,
            n_workers=args.workers,
            chunk_size=args.chunk_size,
            max_chunks=args.max_chunks,
        )
    where = (
        f"written to {report.out_path}"
        if report.out_path
        else f"{args.output} not written yet (run again to resume)"
    )
    print(
        f"{report.n_done}/{report.n_molecules} molecules done ({report.n_failed} failed), "
        f"{report.n_frames} frames; {where}; {report.seconds:.0f} s"
    )
    return 0


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()
    sys.exit(main())
