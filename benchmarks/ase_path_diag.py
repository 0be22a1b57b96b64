"""Why is the ASE-calculator path slower than the jitted MD loop on a GPU? One process, the
default model (untrained, no auxiliary heads), periodic water boxes (`md_scaling.water_box`).

Per size, per edge chunk (`Potential.edge_chunk`: 4096 = the default, 0 = the whole edge
loop) and per stress flag, times the calculator's jitted `predict` on one fixed padded graph
already on the device (median of `--repeats` calls, each synchronised), the host → device
copy of that graph, and the jitted MD path's force call on its on-device neighbour list
(`neighbour_energy_forces_stress`, also synchronised). Writes one CSV row per case:

    python -m benchmarks.ase_path_diag --sizes 10 15 --out ase_path_diag.csv
"""

from __future__ import annotations

import argparse
import csv
import time

import numpy as np

from benchmarks.md_scaling import orbjax_potential, water_box


def median_time(fn, repeats: int) -> tuple[float, float]:
    """(first call s, median of `repeats` later calls s); fn must synchronise."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return first, float(np.median(times))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 15])
    p.add_argument("--chunks", type=int, nargs="+", default=[4096, 0])
    p.add_argument("--config", default="configs/default.py")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    import jax

    from orbjax.potential import OrbjaxCalculator
    from orbjax.potential.core import _cast

    base = orbjax_potential({"config": args.config})
    rows = []
    for n in args.sizes:
        atoms = water_box(n, seed=0)
        for chunk in args.chunks:
            pot = base.replace(edge_chunk=chunk)
            calc = OrbjaxCalculator(pot)
            host_graph = _cast(calc._padded_graph(atoms), pot.dtype)
            t0 = time.perf_counter()
            graph = jax.block_until_ready(jax.device_put(host_graph))
            copy_s = time.perf_counter() - t0
            for stress in (True, False):
                first, med = median_time(
                    lambda: jax.block_until_ready(pot._jitted_predict(pot.params, graph, stress)),
                    args.repeats,
                )
                rows.append(
                    {
                        "path": "ase_predict",
                        "n_atoms": len(atoms),
                        "edge_chunk": chunk,
                        "stress": stress,
                        "n_edge_padded": int(graph.senders.shape[0]),
                        "first_call_s": first,
                        "median_s": med,
                        "us_per_atom": 1e6 * med / len(atoms),
                        "graph_copy_s": copy_s,
                    }
                )
                print(rows[-1], flush=True)
            builder = pot.neighbour_list(atoms.cell.array, atoms.pbc)
            nbrs = builder.allocate(atoms.positions)
            positions = jax.device_put(np.asarray(atoms.positions, np.float32))
            numbers = jax.device_put(atoms.numbers)
            first, med = median_time(
                lambda: jax.block_until_ready(
                    pot.neighbour_energy_forces_stress(positions, numbers, nbrs)
                ),
                args.repeats,
            )
            rows.append(
                {
                    "path": "neighbour_list_efs",
                    "n_atoms": len(atoms),
                    "edge_chunk": chunk,
                    "stress": True,
                    "n_edge_padded": int(nbrs.capacity),
                    "first_call_s": first,
                    "median_s": med,
                    "us_per_atom": 1e6 * med / len(atoms),
                    "graph_copy_s": "",
                }
            )
            print(rows[-1], flush=True)
            # rewritten after every case: a timeout loses nothing
            with open(args.out, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)


if __name__ == "__main__":
    main()
