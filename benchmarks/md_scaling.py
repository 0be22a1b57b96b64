"""MD-step cost (energy + forces through the ASE calculator) for periodic water boxes.

`water_box(n)` puts n³ randomly oriented water molecules on a cubic grid at 1 g/cm³.
A worker (`python md_scaling.py worker SPEC.json`, one fresh process per implementation
and size, so its peak RSS is that size's) builds the calculator, runs warm-up steps
(orbjax: the XLA compilation; timed and reported), then for every ``run`` line on stdin
times MD-like steps: displace every atom by ≤ 0.01 Å and call ``atoms.get_forces()``. Both
calculators compute energy, forces and the stress of the periodic cell on every call.

orbjax steps are also split into the neighbour list + padding (numpy, matscipy) and the
jitted model call. The MACE worker runs in its own venv (see train_step.py).
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import serve  # noqa: E402

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
    return Atoms("OH2" * len(grid), positions=positions.reshape(-1, 3), cell=np.eye(3) * n * spacing, pbc=True)


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
    from orbjax.runtime import tune_cpu

    tune_cpu()  # before JAX starts: the settings orbjax's command lines run with
    import jax

    from orbjax.config import load_config_module
    from orbjax.data.graphs import structures_to_graphs
    from orbjax.data.readers import read_structures
    from orbjax.model.statistics import compute_statistics
    from orbjax.potential import OrbjaxCalculator, Potential
    from orbjax.training.batches import to_device
    from orbjax.training.factories import create_model, init_params

    from train_step import orbjax_versions

    config = load_config_module(spec["config"]).get_config()
    stats = compute_statistics(structures_to_graphs(read_structures(spec["data"]), config.model.cutoff))
    model = create_model(config, stats)
    atoms = water_box(spec["n"], seed=0)
    rng = np.random.default_rng(0)
    calc0 = OrbjaxCalculator(Potential.create(model, _init(model, atoms, init_params, to_device), stats))
    atoms.calc = calc0
    t0 = time.perf_counter()
    atoms.get_forces()  # compiles
    compile_s = time.perf_counter() - t0
    md_steps(atoms, 2, 1e9, rng)  # settle

    import orbjax.potential as potential_module

    # The calculator's private halves (names differ between versions of potential.py).
    jitted = getattr(calc0.potential, "_jitted_predict", None) or getattr(calc0, "_predict")
    cast = getattr(potential_module, "_cast", None) or getattr(potential_module, "_to_device")

    def split_step(atoms):
        """The calculator's two halves, timed apart (same work as get_forces)."""
        t0 = time.perf_counter()
        graph = calc0._padded_graph(atoms)
        t1 = time.perf_counter()
        out = jax.device_get(jitted(calc0.potential.params, cast(graph, calc0.potential.dtype), True))
        assert np.isfinite(out["energy"]).all()
        return {"neighbour_list_s": t1 - t0, "model_s": time.perf_counter() - t1}

    def run_pass():
        times, cpu, _ = md_steps(atoms, spec["steps"], spec["budget_s"], rng)
        _, _, parts = md_steps(atoms, max(1, len(times) // 2), spec["budget_s"] / 2, rng, extra=split_step)
        return {"step_s": times, "cpu_s": cpu, "parts": parts, "n_compilations": calc0.n_compilations,
                "peak_rss_mb": peak_rss_mb()}

    serve({"impl": "orbjax", "n_atoms": len(atoms), "compile_s": compile_s, "budget": str(calc0.budget),
           "n_edges": int(len(calc0._padded_graph(atoms).senders)), "versions": orbjax_versions()}, run_pass)


def _init(model, atoms, init_params, to_device):
    """Parameters from a small graph (the values do not change the cost)."""
    from orbjax.data.batching import PaddingBudget, pad_batch
    from orbjax.data.graphs import structures_to_graphs
    from orbjax.data.structures import Structure

    small = water_box(2)
    s = Structure(small.numbers, small.positions, cell=small.cell.array, pbc=np.array([True] * 3), name="init")
    graph = pad_batch(structures_to_graphs([s], model.config.cutoff), PaddingBudget(64, 2048, 2))
    return init_params(model, to_device(graph, np.float32), 0)


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

    serve({"impl": "mace", "n_atoms": len(atoms), "compile_s": warmup_s, "versions": mace_versions()}, run_pass)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "worker":
        sys.exit("usage: md_scaling.py worker SPEC.json  (run benchmarks/run_all.py instead)")
    with open(sys.argv[2]) as f:
        spec = json.load(f)
    {"orbjax": orbjax_worker, "mace": mace_worker}[spec["impl"]](spec)
