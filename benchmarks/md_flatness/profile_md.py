"""Where an MD call's time goes, per XLA op, for a periodic water box (1 thread).

  GLIBC_TUNABLES=glibc.malloc.hugetlb=1 taskset -c 1 python -m benchmarks.md_flatness.profile_md 7
      [--order morton] [--edge-chunk 32768] [--top 0]

Times the calculator's jitted model call (energy, forces, stress) on `water_box(n)` (3n³ atoms),
then traces three calls with `jax.profiler` and prints the ops with the most time, each with
its output shape and the Flax module it came from (HLO op metadata). `--order` puts the atoms
in another order first (random: what diffusion does to an MD run; morton: a spatial sort).
"""

import argparse
import collections
import glob
import gzip
import json
import os
import re
import tempfile
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

import jax  # noqa: E402  (after XLA_FLAGS)
import numpy as np  # noqa: E402

from benchmarks.md_scaling import water_box  # noqa: E402


def morton_order(positions, cell, bits: int = 10) -> np.ndarray:
    """Atom indices sorted along a Z-order curve of the fractional coordinates."""
    frac = np.linalg.solve(cell.T, positions.T).T % 1.0
    q = np.minimum((frac * (1 << bits)).astype(np.int64), (1 << bits) - 1)
    code = np.zeros(len(positions), np.int64)
    for b in range(bits):
        for d in range(3):
            code |= ((q[:, d] >> b) & 1) << (3 * b + d)
    return np.argsort(code, kind="stable")


def build(n: int, order: str, edge_chunk: int = 0):
    from orbjax.config import load_config_module
    from orbjax.data.graphs import structures_to_graphs
    from orbjax.data.readers import read_structures
    from orbjax.model.build import create_model, init_params
    from orbjax.model.statistics import compute_statistics
    from orbjax.potential import OrbjaxCalculator, Potential

    config = load_config_module(os.path.join(ROOT, "configs", "default.py")).get_config()
    example = os.path.join(ROOT, "orbjax", "examples", "chno_example.extxyz")
    stats = compute_statistics(structures_to_graphs(read_structures(example), config.model.cutoff))
    model = create_model(config, stats)
    atoms = water_box(n)
    if order == "random":
        atoms = atoms[np.random.default_rng(0).permutation(len(atoms))]
    elif order == "morton":
        atoms = atoms[morton_order(atoms.positions, atoms.cell.array)]
    params = init_params(model, 0)
    return atoms, OrbjaxCalculator(Potential.create(model, params, stats, edge_chunk=edge_chunk))


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def op_table(trace_dir: str, hlo_text: str, calls: int, top: int):
    path = sorted(glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True))[-1]
    events = json.load(gzip.open(path))
    events = events["traceEvents"] if isinstance(events, dict) else events
    total = collections.Counter()
    for e in events:
        if e.get("ph") == "X" and not e["name"].startswith(("ThunkExecutor", "$")):
            total[e["name"]] += e["dur"]
    for name, us in total.most_common(top):
        m = re.search(rf"%?{re.escape(name)} = (\S+) .*?op_name=\"([^\"]*)\"", hlo_text)
        shape, where = (m.group(1), m.group(2).split("/", 2)[-1]) if m else ("", "")
        print(f"{us / calls / 1e3:9.2f} ms  {name:36s} {shape:28s} {where[:80]}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("n", type=int, help="water molecules per box edge (3n³ atoms)")
    p.add_argument("--order", choices=("grid", "random", "morton"), default="grid")
    p.add_argument("--calls", type=int, default=5)
    p.add_argument(
        "--top", type=int, default=25, help="ops to list (0: time the call only, no trace)"
    )
    p.add_argument(
        "--edge-chunk", type=int, default=0, help="edges per chunk of the edge loop (0: whole)"
    )
    args = p.parse_args()
    atoms, calc = build(args.n, args.order, args.edge_chunk)
    from orbjax.potential.ase_calculator import _cast

    graph = _cast(calc._padded_graph(atoms), calc.potential.dtype)
    call = calc.potential._jitted_predict
    params = calc.potential.params
    jax.block_until_ready(call(params, graph, True))
    times = []
    for _ in range(args.calls):
        t0 = time.perf_counter()
        jax.block_until_ready(call(params, graph, True))
        times.append(time.perf_counter() - t0)
    real_edges = int((graph.senders != graph.receivers).sum())
    print(
        f"{len(atoms)} atoms ({args.order} order, edge chunk {args.edge_chunk}), budget "
        f"{calc.budget}, real edges "
        f"{real_edges}: model call median {np.median(times) * 1e3:.1f} ms = "
        f"{np.median(times) / len(atoms) * 1e6:.0f} µs/atom, peak RSS {peak_rss_mib():.0f} MiB",
        flush=True,
    )
    if not args.top:
        return
    hlo = jax.jit(lambda p, g: call(p, g, True)).lower(params, graph).compile().as_text()
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
            for _ in range(3):
                jax.block_until_ready(call(params, graph, True))
        op_table(trace_dir, hlo, 3, args.top)


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()  # the settings orbjax's command lines run with (orbjax/runtime.py)
    main()
