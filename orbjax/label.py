"""Command line: label a structure file with GFN1-xTB (or GFN2-xTB) into an orbjax dataset.

    python -m orbjax.label IN OUT [--method GFN1-xTB|GFN2-xTB] [--workers N]
                                  [--no-orbitals] [--limit N] [--chunk-size N]
                                  [--key-preset default|chno|comp6]

IN is anything `orbjax.data.readers.read_structures` reads (extxyz, ASE db, ANI HDF5, an
orbjax dataset). Re-running the same command after an interruption resumes it.
"""
from __future__ import annotations

import argparse
import sys

from orbjax.labels.runner import label_structures
from orbjax.labels.xtb import METHODS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m orbjax.label", description=__doc__.split("\n\n")[0])
    p.add_argument("input", help="structure file to label")
    p.add_argument("output", help="labelled dataset to write (HDF5)")
    p.add_argument("--method", default="GFN1-xTB", choices=METHODS)
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    p.add_argument("--no-orbitals", action="store_true", help="energy, forces (and GFN1 charges) only")
    p.add_argument("--limit", type=int, default=None, help="label only the first N structures")
    p.add_argument("--chunk-size", type=int, default=8, help="structures per task / part file")
    p.add_argument("--key-preset", default="default", help="how labels are named in IN: default | chno | comp6")
    args = p.parse_args(argv)
    orbitals = not args.no_orbitals and args.method == "GFN1-xTB"

    from orbjax.data.readers import KEY_PRESETS, read_structures_with_failures

    if args.key_preset not in KEY_PRESETS:
        p.error(f"--key-preset must be one of {sorted(KEY_PRESETS)}")
    # Frames the reader rejects are recorded as failures; the job goes on with the rest.
    structures, unreadable = read_structures_with_failures(args.input, keys=KEY_PRESETS[args.key_preset])
    if args.limit is not None:
        structures = structures[: args.limit]
    report = label_structures(
        structures, args.output, method=args.method, n_workers=args.workers,
        orbitals=orbitals, chunk_size=args.chunk_size, unreadable=unreadable,
    )
    print(f"labelled {report.n_labelled} of {report.n_structures} structures with {args.method} "
          f"in {report.seconds:.1f} s ({report.n_computed} computed now) -> {report.out_path}")
    if report.n_failed:
        print(f"{report.n_failed} failed: see {report.failures_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
