"""Command line: label a structure file with GFN1-xTB (or GFN2-xTB) into an orbjax dataset.

    python -m orbjax.label IN OUT.h5 [--method GFN1-xTB|GFN2-xTB] [--workers N]
                                     [--no-orbitals] [--limit N] [--chunk-size N]
                                     [--key-preset default|chno|comp6] [--refuse-close-atoms]
                                     [--electronic-temperature KELVIN] [--min-cell-length Å]

IN is anything `orbjax.data.readers.read_structures` reads (extxyz, ASE db, ANI HDF5, an
orbjax dataset); OUT must be named *.h5 or *.hdf5. Re-running the same command after an
interruption resumes it; after it finished, it is a no-op. Problems with IN or OUT (missing,
unreadable, empty) or a bad option end the command with a one-line message and exit status 1
(`--debug` or ORBJAX_DEBUG=1: the traceback).
"""

from __future__ import annotations

import argparse
import sys

from orbjax import cli
from orbjax.data.readers import NumberedStructures, read_structures_numbered
from orbjax.labels.runner import check_output_name, label_structures
from orbjax.labels.xtb import METHODS


def main(argv: list[str] | None = None) -> int:
    """Run the command line `argv` (without the program name); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Bad input or output (missing, unreadable, empty, a bad option): one line, exit status 1.
    return cli.run(lambda: _label(_parser().parse_args(argv)), argv)


def _parser() -> argparse.ArgumentParser:
    p = cli.ArgumentParser(prog="python -m orbjax.label", description=__doc__.split("\n\n")[0])
    p.add_argument("input", help="structure file to label")
    p.add_argument("output", help="labelled dataset to write (HDF5: *.h5 or *.hdf5)")
    p.add_argument(
        "--method",
        default="GFN1-xTB",
        choices=METHODS,
        help="xTB method (orbital labels: GFN1 only)",
    )
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    p.add_argument(
        "--no-orbitals", action="store_true", help="energy, forces (and GFN1 charges) only"
    )
    p.add_argument(
        "--limit", type=int, default=None, help="label only the first N structures of IN"
    )
    p.add_argument("--chunk-size", type=int, default=8, help="structures per task / part file")
    p.add_argument(
        "--key-preset", default="default", help="how labels are named in IN: default | chno | comp6"
    )
    p.add_argument(
        "--refuse-close-atoms",
        action="store_true",
        help="record structures with atoms closer than 0.5 × the sum of their covalent radii as "
        "failures (default: label them with a warning)",
    )
    p.add_argument(
        "--electronic-temperature",
        type=float,
        default=None,
        metavar="KELVIN",
        help="Fermi smearing of the xTB occupations in kelvin (default: tblite's, 300 K)"
        "; recorded in OUT's metadata as electronic_temperature_K",
    )
    p.add_argument(
        "--min-cell-length",
        type=float,
        default=None,
        metavar="Å",
        help="label each periodic cell as a supercell at least this wide in every periodic "
        "direction "
        "and fold the labels back (tblite is Γ-point only; small metal cells need it, see "
        "experiments/metals/RESULTS.md); default: cells as given; recorded as min_cell_length_A",
    )
    return p


def _label(args) -> int:
    from orbjax.data.readers import KEY_PRESETS

    if args.key_preset not in KEY_PRESETS:
        raise ValueError(
            f"--key-preset must be one of {sorted(KEY_PRESETS)}, not {args.key_preset!r}"
        )
    check_output_name(args.output)  # before reading a possibly large input
    numbered = read_structures_numbered(args.input, keys=KEY_PRESETS[args.key_preset])
    if args.limit is not None:
        numbered = numbered.first(args.limit)
    _check_not_empty(args.input, numbered)
    report = label_structures(
        numbered.structures,
        args.output,
        method=args.method,
        n_workers=args.workers,
        orbitals=not args.no_orbitals and args.method == "GFN1-xTB",
        chunk_size=args.chunk_size,
        unreadable=numbered.unreadable,
        source_indices=numbered.positions,
        close_atoms="refuse" if args.refuse_close_atoms else "warn",
        electronic_temperature=args.electronic_temperature,
        min_cell_length=args.min_cell_length,
    )
    if report.already_done:
        print(
            f"already labelled: {report.n_labelled} of {report.n_structures} structures in "
            f"{report.out_path} "
            f"(same input and options; nothing to do; delete it to label again)"
        )
    else:
        print(
            f"labelled {report.n_labelled} of {report.n_structures} structures with {args.method} "
            f"in {report.seconds:.1f} s ({report.n_computed} computed now) -> {report.out_path}"
        )
    if report.n_failed:
        print(
            f"{report.n_failed} failed ({report.n_unreadable} unreadable): see "
            f"{report.failures_path}"
        )
    return 0


def _check_not_empty(path, numbered: NumberedStructures) -> None:
    if not numbered.structures and not numbered.unreadable:
        raise ValueError(f"{path}: no structures to label (the input is empty)")
    if not numbered.structures:
        first = numbered.unreadable[0][2]
        raise ValueError(
            f"{path}: none of its {len(numbered.unreadable)} structure(s) could be read "
            f"(first: {first})"
        )


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()  # before JAX starts its backend (orbjax/runtime.py)
    sys.exit(main())
