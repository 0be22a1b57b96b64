"""Training-step throughput: orbjax (energy-only and with the orbital head) vs mace-torch.

Both sides train on the *same* batches of the shared CHNO set (same structures in the same
order, `batch_size` structures per step): orbjax pads them to its bucket budgets, MACE
collates them without padding (torch has dynamic shapes). A step is what the training loop
runs per batch: host→device transfer, forward, forces by autograd, loss, backward,
gradient clipping, Adam and the EMA update, synchronised at the end (the loop reads a flag).

This file is run as a *worker* (`python train_step.py worker SPEC.json`): it builds its
model, compiles / warms up (timed, reported once), then for every ``run`` line on stdin it
times one pass over all batches and prints a JSON line. `run_all.py` starts one worker per
implementation and alternates their passes, so each ratio is measured side by side while
the other worker is idle. The MACE worker runs in its own venv and imports no jax.
"""

from __future__ import annotations

import json
import os
import sys
import time

# ----------------------------------------------------------------------------- protocol


def serve(setup, run_pass) -> None:
    """Print setup info as one JSON line, then answer `run` lines until `quit` / EOF."""
    print(json.dumps(setup), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        print(json.dumps(run_pass()), flush=True)


# ----------------------------------------------------------------------------- orbjax


def tune(spec: dict) -> None:
    """Before JAX starts: the process settings orbjax's command lines run with
    (`runtime.tune_cpu`: XLA flags and glibc mallopt), or with `spec["malloc"] == "glibc"`
    the XLA flags only, so that the allocator is glibc's default, as for the MACE workers."""
    from orbjax.runtime import configure_xla_flags, tune_cpu

    if spec.get("malloc", "orbjax") == "glibc":
        configure_xla_flags()
    else:
        tune_cpu()


def orbjax_worker(spec: dict) -> None:
    tune(spec)
    import jax
    import numpy as np

    from orbjax.config import load_config_module
    from orbjax.data.batching import compute_budgets, pad_batch, plan_batches
    from orbjax.data.graphs import structures_to_graphs
    from orbjax.data.readers import read_structures
    from orbjax.model.build import create_model, init_params, statistics_variables
    from orbjax.model.statistics import compute_statistics
    from orbjax.training.batches import to_device
    from orbjax.training.factories import create_optimizer
    from orbjax.training.state import TrainState
    from orbjax.training.step import make_train_step

    config = load_config_module(spec["config"]).get_config()
    config.train.batch_size = spec["batch_size"]
    for key, value in spec.get("overrides", {}).items():  # "model.x": value
        section, name = key.split(".")
        config[section][name] = value
    structures = read_structures(spec["data"])
    graphs = structures_to_graphs(
        structures,
        config.model.cutoff,
        energy_key=config.data.energy_key,
        forces_key=config.data.forces_key,
    )
    bs = config.train.batch_size
    budgets = compute_budgets(graphs, bs, config.train.n_buckets, seed=config.seed)
    plan = plan_batches(graphs, bs, budgets, seed=spec["seed"], epoch=0)
    assert [list(map(int, idx)) for idx, _ in plan] == spec["batches"], (
        "batch plan differs from run_all's"
    )
    t0 = time.perf_counter()
    batches = [pad_batch([graphs[i] for i in idx], b) for idx, b in plan]
    pad_s = time.perf_counter() - t0
    dtype = np.float32
    statistics = compute_statistics(graphs)
    model = create_model(config, statistics)
    tx = create_optimizer(config, 10_000)
    weights = dict(config.loss.weights)
    state = TrainState.create(init_params(model, config.seed), tx, jax.random.PRNGKey(0))
    step = make_train_step(
        model,
        tx,
        weights,
        config.train.ema_decay,
        compute_stress=False,
        statistics=statistics_variables(model, statistics, dtype),
    )
    n_params = int(sum(x.size for x in jax.tree.leaves(state.params)))

    # Compile: one per bucket, timed as the first step of each bucket (lower + compile + run).
    compile_s = {}
    for idx, b in plan:
        key = f"{b.n_node}n/{b.n_edge}e"
        if key in compile_s:
            continue
        t0 = time.perf_counter()
        state, metrics = step(state, to_device(pad_batch([graphs[i] for i in idx], b), dtype))
        bool(metrics["finite"])
        compile_s[key] = time.perf_counter() - t0
    holder = {"state": state}

    def run_pass():
        s = holder["state"]
        times, cpu = [], []
        for batch in batches:
            t0, c0 = time.perf_counter(), time.process_time()
            s, metrics = step(s, to_device(batch, dtype))
            bool(metrics["finite"])  # the training loop syncs on this flag every step
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        holder["state"] = s
        return {
            "step_s": times,
            "cpu_s": cpu,
            "n_compilations": step._cache_size(),
            "loss": float(metrics["loss"]),
        }

    serve(
        {
            "impl": "orbjax",
            "variant": spec["variant"],
            "n_params": n_params,
            "heads": list(model.config.heads),
            "compile_s": compile_s,
            "pad_batches_s": pad_s,
            "budgets": [f"{b.n_node}n/{b.n_edge}e" for b in budgets],
            "versions": orbjax_versions(),
        },
        run_pass,
    )


def orbjax_versions() -> dict:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0], "XLA_FLAGS": os.environ.get("XLA_FLAGS", "")}
    for name in ("jax", "jaxlib", "flax", "e3nn-jax", "optax", "numpy", "ase", "vesin"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


# ----------------------------------------------------------------------------- mace


def mace_model(
    z_table,
    avg_num_neighbors: float,
    atomic_energies,
    correlation: int,
    channels: int = 32,
    l_max: int = 2,
    n_layers: int = 2,
    cutoff: float = 5.0,
    n_basis: int = 8,
):
    """A ScaleShiftMACE matched to orbjax's default model (see RESULTS.md for the matching)."""
    import numpy as np
    from e3nn import o3
    from mace import modules

    hidden = "+".join(f"{channels}x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(l_max + 1))
    return modules.ScaleShiftMACE(
        r_max=cutoff,
        num_bessel=n_basis,
        num_polynomial_cutoff=6,
        max_ell=l_max,
        interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        num_interactions=n_layers,
        num_elements=len(z_table),
        hidden_irreps=o3.Irreps(hidden),
        MLP_irreps=o3.Irreps("16x0e"),
        atomic_energies=np.asarray(atomic_energies, float),
        avg_num_neighbors=avg_num_neighbors,
        atomic_numbers=list(z_table.zs),
        correlation=correlation,
        gate=__import__("torch").nn.functional.silu,
        radial_MLP=[64, 64],
        atomic_inter_scale=1.0,
        atomic_inter_shift=0.0,
    )


def mace_versions() -> dict:
    import importlib.metadata as md

    import torch

    out = {"python": sys.version.split()[0], "torch_threads": torch.get_num_threads()}
    for name in ("torch", "mace-torch", "e3nn", "numpy", "ase"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def mace_worker(spec: dict) -> None:
    import ase.io
    import numpy as np
    import torch
    from mace import data as mace_data
    from mace.tools import torch_geometric, utils
    from torch_ema import ExponentialMovingAverage

    torch.set_num_threads(spec["threads"])
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(0)
    atoms_list = ase.io.read(spec["data"], ":")
    zs = sorted({int(z) for a in atoms_list for z in a.numbers})
    z_table = utils.AtomicNumberTable(zs)
    keyspec = mace_data.KeySpecification(
        info_keys={"energy": "energy"}, arrays_keys={"forces": "forces"}
    )
    configs = []
    for a in atoms_list:
        if a.calc is not None:  # ASE may move energy/forces into a SinglePointCalculator
            energy, forces = a.calc.get_potential_energy(), a.calc.get_forces()
            a = a.copy()
            a.info["energy"], a.arrays["forces"] = energy, forces
        configs.append(mace_data.config_from_atoms(a, key_specification=keyspec))
    data = [
        mace_data.AtomicData.from_config(c, z_table=z_table, cutoff=spec["cutoff"]) for c in configs
    ]
    avg_nn = float(np.mean([d.edge_index.shape[1] / d.positions.shape[0] for d in data]))
    model = mace_model(
        z_table, avg_nn, np.zeros(len(zs)), spec["correlation"], cutoff=spec["cutoff"]
    )
    n_params = int(sum(p.numel() for p in model.parameters()))
    t0 = time.perf_counter()
    batches = [
        torch_geometric.Batch.from_data_list([data[i] for i in idx]) for idx in spec["batches"]
    ]
    collate_s = time.perf_counter() - t0
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    ema = ExponentialMovingAverage(model.parameters(), decay=0.99)

    def step(batch):
        d = batch.to_dict()
        out = model(d, training=True, compute_force=True)
        n_atoms = (d["ptr"][1:] - d["ptr"][:-1]).to(out["energy"].dtype)
        e_loss = torch.mean(((out["energy"] - d["energy"]) / n_atoms) ** 2)
        f_loss = torch.mean((out["forces"] - d["forces"]) ** 2)
        loss = e_loss + 10.0 * f_loss  # orbjax's default weights
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        ema.update()
        return bool(torch.isfinite(loss))  # sync, like orbjax's loop

    model.train()
    t0 = time.perf_counter()
    for batch in batches[:3]:  # first calls: lazy init, allocator warm-up
        step(batch)
    warmup_s = time.perf_counter() - t0

    def run_pass():
        times, cpu = [], []
        for batch in batches:
            t0, c0 = time.perf_counter(), time.process_time()
            step(batch)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        return {"step_s": times, "cpu_s": cpu}

    serve(
        {
            "impl": "mace",
            "variant": f"correlation{spec['correlation']}",
            "n_params": n_params,
            "compile_s": {"warmup_3_steps": warmup_s},
            "collate_s": collate_s,
            "avg_num_neighbors": avg_nn,
            "versions": mace_versions(),
        },
        run_pass,
    )


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "worker":
        sys.exit("usage: train_step.py worker SPEC.json  (run benchmarks/run_all.py instead)")
    with open(sys.argv[2]) as f:
        spec = json.load(f)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    {"orbjax": orbjax_worker, "mace": mace_worker}[spec["impl"]](spec)
