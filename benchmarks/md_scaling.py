"""MD-step cost (energy + forces through the ASE calculator) for periodic water boxes.

`water_box(n)` puts n³ randomly oriented water molecules on a cubic grid at 1 g/cm³.
A worker (`python md_scaling.py worker SPEC.json`, one fresh process per implementation
and size, so its peak RSS is that size's) builds the calculator, runs warm-up steps
(orbjax: the XLA compilation; timed and reported), then for every ``run`` line on stdin
times MD-like steps: displace every atom by ≤ 0.01 Å and call ``atoms.get_forces()``. Both
calculators compute energy, forces and the stress of the periodic cell on every call.

orbjax steps are also split into the neighbour list + padding (numpy, vesin) and the
jitted model call. The MACE worker runs in its own venv (see train_step.py).

The `orbjax_jit` worker times the fully jitted path instead (orbjax.potential.dynamics):
NVE velocity-Verlet steps from 300 K with the on-device neighbour list updated inside the
loop, `interval` steps per jitted chunk; a step's time is the chunk's over `interval`.
`--ensembles nve nvt npt` times its Langevin NVT and stochastic-cell-rescaling NPT steps too
(NPT computes the stress every step and rescales the cell; water's compressibility):

    python -m benchmarks.md_scaling compare --sizes 7 10 --config configs/energy_only.py \
        --impls orbjax_jit --ensembles nve nvt npt --steps 40 --budget-s 30 --out
            benchmarks/md_ensembles.csv

(the rows were measured with the energy-only config; without `data` the worker builds any
config without its auxiliary heads, which the potential never runs, so the step costs the same)

Side by side without run_all.py (one fresh process per implementation and size, run one
after the other, never pinned):

    python -m benchmarks.md_scaling compare --sizes 4 6 8 10 --config configs/test.py \
        --out benchmarks/md_jitted.csv
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

import numpy as np

from benchmarks.train_step import serve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WATER = np.array([[0.0, 0.0, 0.0], [0.7572, 0.5865, 0.0], [-0.7572, 0.5865, 0.0]])  # Å, O H H
MOLECULE_VOLUME = 18.01528 / 0.602214076  # Å³ per molecule at 1 g/cm³ (≈ 29.9)


def water_box(n: int, seed: int = 0):
    """n³ water molecules (3n³ atoms), random orientations, periodic cubic cell at 1 g/cm³."""
    from ase import Atoms
    from scipy.spatial.transform import Rotation

    spacing = MOLECULE_VOLUME ** (1 / 3)  # Å
    grid = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3) * spacing
    rotations = Rotation.random(len(grid), random_state=seed).as_matrix()  # [n³, 3, 3]
    centred = WATER - WATER.mean(0)
    positions = grid[:, None, :] + np.einsum("mij,aj->mai", rotations, centred) + spacing / 2
    return Atoms(
        "OH2" * len(grid),
        positions=positions.reshape(-1, 3),
        cell=np.eye(3) * n * spacing,
        pbc=True,
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def md_steps(atoms, n_steps: int, budget_s: float, rng, extra=None):
    """Time ≥1 and ≤ n_steps MD-like force calls, stopping once `budget_s` is spent."""
    times, cpu, parts = [], [], []
    start = time.perf_counter()
    for _ in range(n_steps):
        atoms.positions += rng.uniform(-0.01, 0.01, atoms.positions.shape)
        t0, c0 = time.perf_counter(), time.process_time()
        if extra is None:
            atoms.get_forces()
        else:
            parts.append(extra(atoms))
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if time.perf_counter() - start > budget_s:
            break
    return times, cpu, parts


def orbjax_worker(spec: dict) -> None:
    from train_step import tune

    tune(spec)  # before JAX starts
    import jax
    from train_step import orbjax_versions

    from orbjax.potential import OrbjaxCalculator

    atoms = water_box(spec["n"], seed=0)
    rng = np.random.default_rng(0)
    calc0 = OrbjaxCalculator(orbjax_potential(spec))
    atoms.calc = calc0
    t0 = time.perf_counter()
    atoms.get_forces()  # compiles
    compile_s = time.perf_counter() - t0
    md_steps(atoms, 2, 1e9, rng)  # settle

    try:  # the calculator's private halves (names differ between versions of the potential)
        from orbjax.potential.ase_calculator import _cast as cast
    except ImportError:  # the single-file potential.py of older versions
        import orbjax.potential as potential_module

        cast = getattr(potential_module, "_cast", None) or getattr(potential_module, "_to_device")
    jitted = getattr(calc0.potential, "_jitted_predict", None) or getattr(calc0, "_predict")

    def split_step(atoms):
        """The calculator's two halves, timed apart (same work as get_forces)."""
        t0 = time.perf_counter()
        graph = calc0._padded_graph(atoms)
        t1 = time.perf_counter()
        out = jax.device_get(
            jitted(calc0.potential.params, cast(graph, calc0.potential.dtype), True)
        )
        assert np.isfinite(out["energy"]).all()
        return {"neighbour_list_s": t1 - t0, "model_s": time.perf_counter() - t1}

    def run_pass():
        times, cpu, _ = md_steps(atoms, spec["steps"], spec["budget_s"], rng)
        _, _, parts = md_steps(
            atoms, max(1, len(times) // 2), spec["budget_s"] / 2, rng, extra=split_step
        )
        return {
            "step_s": times,
            "cpu_s": cpu,
            "parts": parts,
            "n_compilations": calc0.n_compilations,
            "peak_rss_mb": peak_rss_mb(),
        }

    serve(
        {
            "impl": "orbjax",
            "n_atoms": len(atoms),
            "compile_s": compile_s,
            "budget": str(calc0.budget),
            "n_edges": int(len(calc0._padded_graph(atoms).senders)),
            "versions": orbjax_versions(),
        },
        run_pass,
    )


def orbjax_potential(spec: dict):
    """An untrained potential of `spec["config"]` (the values do not change the cost), with
    the statistics of `spec["data"]` if given, else of a CHNO stand-in."""
    from orbjax.config import load_config_module
    from orbjax.data.graphs import structures_to_graphs
    from orbjax.data.readers import read_structures
    from orbjax.model.build import create_model, init_params
    from orbjax.model.statistics import Statistics, compute_statistics
    from orbjax.potential import Potential

    config = load_config_module(spec["config"]).get_config()
    if spec.get("data"):
        stats = compute_statistics(
            structures_to_graphs(read_structures(spec["data"]), config.model.cutoff)
        )
    else:
        # no auxiliary heads: the potential never evaluates them,
        for head in ("atomic_charges", "dft_charges", "spd_populations", "orbital_populations"):
            config.loss.weights[head] = 0.0
        if "heads" in config.model:  # and the stand-in statistics have no auxiliary means
            config.model.heads = ()
        stats = Statistics(
            species=(1, 6, 7, 8), atomic_energies=(0.0,) * 4, avg_num_neighbors=11.33
        )
    model = create_model(config, stats)
    return Potential.create(model, init_params(model, 0), stats)


def orbjax_jit_worker(spec: dict) -> None:
    """The jitted NVE loop with the on-device neighbour list (see the module docstring)."""
    from train_step import tune

    tune(spec)
    from train_step import orbjax_versions

    from orbjax.potential.barostat import GPA
    from orbjax.potential.dynamics import MolecularDynamics

    atoms = water_box(spec["n"], seed=0)
    interval = int(spec.get("interval", 10))
    ensemble = spec.get("ensemble", "nve")  # NPT: water's compressibility, so the cell moves
    extra = {"compressibility": 0.45 / GPA} if ensemble == "npt" else {}
    md = MolecularDynamics.create(
        orbjax_potential(spec), atoms, ensemble, timestep=0.5, skin=spec.get("skin", 0.5), **extra
    )
    state, nbrs = md.initial_state(atoms.positions, md.maxwell_boltzmann(300.0, seed=0))
    t0 = time.perf_counter()
    for state, nbrs in md.run(state, nbrs, int(state.step) + interval, interval):  # compiles
        state.positions.block_until_ready()
    compile_s = time.perf_counter() - t0
    chunks = iter(())

    def next_chunk():
        nonlocal chunks, state, nbrs
        for state, nbrs in chunks:
            return
        chunks = md.run(state, nbrs, int(state.step) + 100 * interval, interval)
        state, nbrs = next(chunks)

    def run_pass():
        times, cpu = [], []
        start = time.perf_counter()
        while len(times) < spec["steps"] and time.perf_counter() - start < spec["budget_s"]:
            t, c = time.perf_counter(), time.process_time()
            next_chunk()
            state.positions.block_until_ready()
            times += [(time.perf_counter() - t) / interval] * interval
            cpu += [(time.process_time() - c) / interval] * interval
        return {
            "step_s": times,
            "cpu_s": cpu,
            "peak_rss_mb": peak_rss_mb(),
            "n_builds": int(nbrs.n_builds),
            "capacity": nbrs.capacity,
            "reallocations": md.reallocations,
            "step": int(state.step),
            "temperature_K": md.thermo(state)["temperature_K"],
        }

    serve(
        {
            "impl": "orbjax_jit",
            "ensemble": ensemble,
            "n_atoms": len(atoms),
            "compile_s": compile_s,
            "interval": interval,
            "capacity": nbrs.capacity,
            "candidate_capacity": nbrs.candidate_capacity,
            "bin_capacity": nbrs.bin_capacity,
            "n_bins": list(nbrs.n_bins),
            "versions": orbjax_versions(),
        },
        run_pass,
    )


def mace_worker(spec: dict) -> None:
    import logging

    import torch
    from mace.calculators import MACECalculator
    from mace.tools import utils
    from train_step import mace_model, mace_versions

    logging.disable(logging.WARNING)
    torch.set_num_threads(spec["threads"])
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(0)
    z_table = utils.AtomicNumberTable([1, 6, 7, 8])
    model = mace_model(z_table, spec["avg_num_neighbors"], np.zeros(4), spec["correlation"])
    calc = MACECalculator(models=model, device="cpu", default_dtype="float32")
    atoms = water_box(spec["n"], seed=0)
    rng = np.random.default_rng(0)
    atoms.calc = calc
    t0 = time.perf_counter()
    atoms.get_forces()
    warmup_s = time.perf_counter() - t0
    md_steps(atoms, 1, 1e9, rng)

    def run_pass():
        times, cpu, _ = md_steps(atoms, spec["steps"], spec["budget_s"], rng)
        return {"step_s": times, "cpu_s": cpu, "peak_rss_mb": peak_rss_mb()}

    serve(
        {"impl": "mace", "n_atoms": len(atoms), "compile_s": warmup_s, "versions": mace_versions()},
        run_pass,
    )


# -------------------------------------------------------------------------- compare (no run_all.py)

CSV_FIELDS = (
    "impl",
    "ensemble",
    "n_atoms",
    "config",
    "median_step_s",
    "us_per_atom",
    "median_cpu_s",
    "n_steps",
    "compile_s",
    "peak_rss_mb",
    "neighbour_list_s",
    "model_s",
    "capacity",
    "n_builds",
    "load_avg",
)


def compare(argv) -> None:
    """Time the ASE calculator path and the jitted neighbour-list path per size; write a CSV."""
    import argparse
    import subprocess
    import tempfile

    p = argparse.ArgumentParser(prog="md_scaling.py compare")
    p.add_argument(
        "--sizes", type=int, nargs="+", default=[4, 6, 8, 10], help="waters per edge (3n³ atoms)"
    )
    p.add_argument("--config", default="configs/test.py")
    p.add_argument("--impls", nargs="+", default=["orbjax", "orbjax_jit"])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--budget-s", type=float, default=30.0)
    p.add_argument(
        "--ensembles",
        nargs="+",
        default=["nve"],
        choices=["nve", "nvt", "npt"],
        help="the jitted loop's ensembles (the ASE path and mace run NVE)",
    )
    p.add_argument("--out", default="benchmarks/md_jitted.csv")
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            for impl, ensemble in [
                (i, e)
                for i in args.impls
                for e in (args.ensembles if i == "orbjax_jit" else ["nve"])
            ]:
                spec = {
                    "impl": impl,
                    "n": n,
                    "config": args.config,
                    "steps": args.steps,
                    "budget_s": args.budget_s,
                    "ensemble": ensemble,
                }
                path = os.path.join(tmp, f"{impl}_{ensemble}_{n}.json")
                with open(path, "w") as f:
                    json.dump(spec, f)
                done = subprocess.run(
                    [sys.executable, "-m", "benchmarks.md_scaling", "worker", path],
                    input="run\n",
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                )
                lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
                if done.returncode != 0 or len(lines) < 2:
                    raise RuntimeError(f"{impl} at n={n} failed:\n{done.stderr[-3000:]}")
                rows.append(_row(impl, args.config, *lines[:2]))
                print(json.dumps(rows[-1]), flush=True)
                # after every row: a run stopped by a timeout keeps what finished
                write_rows(args.out, rows)
    print(f"wrote {args.out}")


def write_rows(path: str, rows: list[dict]) -> None:
    import csv

    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, CSV_FIELDS)
        w.writeheader()
        w.writerows(rows)


def rows_from_log(argv) -> None:
    """`md_scaling.py from-log LOG OUT.csv`: the rows `compare` printed (one JSON line each) as
    its CSV, for a log whose run was stopped before it wrote the file."""
    log, out = argv
    with open(log) as f:
        rows = [json.loads(x) for x in f if x.startswith('{"impl"')]
    write_rows(out, rows)
    print(f"{len(rows)} rows -> {out}")


def _row(impl: str, config: str, setup: dict, result: dict) -> dict:
    steps = result["step_s"]
    parts = result.get("parts") or []
    median = float(np.median(steps))
    return {
        "impl": impl,
        "ensemble": setup.get("ensemble", "nve"),
        "n_atoms": setup["n_atoms"],
        "config": config,
        "median_step_s": median,
        "us_per_atom": 1e6 * median / setup["n_atoms"],
        "median_cpu_s": float(np.median(result["cpu_s"])),
        "n_steps": len(steps),
        "compile_s": setup["compile_s"],
        "peak_rss_mb": result["peak_rss_mb"],
        "neighbour_list_s": float(np.median([q["neighbour_list_s"] for q in parts]))
        if parts
        else "",
        "model_s": float(np.median([q["model_s"] for q in parts])) if parts else "",
        "capacity": result.get("capacity", setup.get("budget", "")),
        "n_builds": result.get("n_builds", ""),
        "load_avg": os.getloadavg()[0],
    }


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] in ("compare", "from-log"):
        {"compare": compare, "from-log": rows_from_log}[sys.argv[1]](sys.argv[2:])
        sys.exit(0)
    if len(sys.argv) != 3 or sys.argv[1] != "worker":
        sys.exit(
            "usage: md_scaling.py worker SPEC.json | md_scaling.py compare [...] | "
            "md_scaling.py from-log LOG OUT.csv  (or run benchmarks/run_all.py)"
        )
    with open(sys.argv[2]) as f:
        spec = json.load(f)
    {"orbjax": orbjax_worker, "orbjax_jit": orbjax_jit_worker, "mace": mace_worker}[spec["impl"]](
        spec
    )
