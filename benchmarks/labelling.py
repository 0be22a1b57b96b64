"""Labelling throughput on the shared CHNO set (401 small organic molecules).

Measures, on one core, a plain GFN1-xTB single point, the same with tblite keeping the
integrals (``save-integrals``: P and S), and the full orbital labels (plus diag(P·S) and the
shell/atom sums); then the parallel runner on all cores. Prints a table and writes
``benchmarks/labelling.csv``.

    python -m benchmarks.labelling [--data PATH] [--workers N] [--repeat 3]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per core, before tblite loads

import argparse
import tempfile
import time
from pathlib import Path

from experiments.common.paths import CHNO
from experiments.common.tables import write_csv
from orbjax.data.readers import read_structures
from orbjax.labels.runner import _available_cores, label_structures
from orbjax.labels.xtb import label_structure, run_xtb

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = CHNO


def interleaved_times(modes: dict, structures, repeat: int) -> dict[str, float]:
    """Seconds per mode for all structures: per structure, the modes run one after the
    other (rotating order), `repeat` times, keeping each one's fastest. Interleaving makes
    the comparison fair on a machine whose load changes during the run."""
    total = dict.fromkeys(modes, 0.0)
    names = list(modes)
    for k, s in enumerate(structures):
        best = dict.fromkeys(modes, float("inf"))
        for r in range(repeat):
            for name in names[(k + r) % len(names) :] + names[: (k + r) % len(names)]:
                t0 = time.perf_counter()
                modes[name](s)
                best[name] = min(best[name], time.perf_counter() - t0)
        for name in modes:
            total[name] += best[name]
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--workers", type=int, default=_available_cores())
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "labelling.csv")
    args = p.parse_args()
    structures = read_structures(args.data)
    n = len(structures)
    label_structure(structures[0])  # load tblite once

    serial = {
        "serial_plain_singlepoint": lambda s: run_xtb(s, save_integrals=False),
        "serial_save_integrals": lambda s: run_xtb(s, save_integrals=True),
        "serial_orbital_labels": lambda s: label_structure(s, orbitals=True),
    }
    rows = [
        dict(mode=mode, workers=1, n_structures=n, seconds=seconds)
        for mode, seconds in interleaved_times(serial, structures, args.repeat).items()
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for orbitals in (False, True):  # wall time incl. worker start-up and writing; best of 2
            seconds = []
            for k in range(2):
                report = label_structures(
                    structures,
                    Path(tmp) / f"o{orbitals}{k}.h5",
                    n_workers=args.workers,
                    orbitals=orbitals,
                    progress=False,
                )
                assert report.n_failed == 0, report
                seconds.append(report.seconds)
            mode = "runner_orbital_labels" if orbitals else "runner_plain"
            rows.append(dict(mode=mode, workers=args.workers, n_structures=n, seconds=min(seconds)))
    load = os.getloadavg()[0]  # other jobs on the machine distort the runner rows

    plain = rows[0]["seconds"]
    for row in rows:
        row["structures_per_s"] = row["n_structures"] / row["seconds"]
        row["structures_per_s_per_core"] = row["structures_per_s"] / row["workers"]
        row["ms_per_structure_per_core"] = (
            1000 * row["seconds"] * row["workers"] / row["n_structures"]
        )
        row["overhead_vs_plain_pct"] = (
            100 * (row["seconds"] / plain - 1) if row["workers"] == 1 else ""
        )
        row["load_avg_1min"] = load
    write_csv(args.out, rows, digits=4)
    print(
        f"{'mode':<26}{'workers':>8}{'s':>8}{'struct/s':>10}{'/core':>8}"
        f"{'ms/struct·core':>16}{'overhead %':>12}"
    )
    for r in rows:
        over = f"{r['overhead_vs_plain_pct']:.1f}" if r["overhead_vs_plain_pct"] != "" else ""
        print(
            f"{r['mode']:<26}{r['workers']:>8}{r['seconds']:>8.2f}{r['structures_per_s']:>10.1f}"
            f"{r['structures_per_s_per_core']:>8.1f}{r['ms_per_structure_per_core']:>16.2f}{over:>12}"
        )
    print(f"load average (1 min) {load:.2f} on {os.cpu_count()} cpus; wrote {args.out}")


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()  # the settings orbjax's command lines run with (orbjax/runtime.py)
    main()
