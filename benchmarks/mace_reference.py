"""mace-torch on exactly the splits of orbjax's learning-curve experiments (their RESULTS
section 6, and the time-to-accuracy benchmark): the reference row, and validation error against
CPU-seconds.

Two halves, two interpreters (orbjax's venv has no torch; the mace venv has no jax):

  # (a) export, under orbjax's python: the structures `orbjax.training.data.split_structures`
  #     picks for the learning-curve sweep's run (dataset, n_train, seed) as extxyz files
  .venv/bin/python -m benchmarks.mace_reference export --dataset acac --n-train 25 --seed 0

  # (b) train + evaluate, under the mace venv: mace-torch's own `run_train` on one pinned
  #     core (taskset -c CORE, OMP/MKL threads 1, torch.set_num_threads(1)) within a budget,
  #     then the best-by-validation model scored on val/test(/test600)
  nice -n 10 .venv-mace/bin/python -m benchmarks.mace_reference train --dataset acac \
      --n-train 25 --seed 0 --variant orbjax_size --budget-cpu-s 3600

Export writes `data/mace_reference/<dataset>/n<N>/seed<S>/` (git-ignored): `train.xyz`,
`val.xyz`, `test.xyz` (+ `test600.xyz` for acac), energies in eV (`REF_energy`), forces in
eV/Å (`REF_forces`, mace-torch's default keys), and `manifest.json` (the sweep run it
reproduces, structure names per split, the isolated-atom energies E0 orbjax uses, counts
checked against a finished orbjax run's `train.log` when one is found). n_train 0 = the
whole training split (CHNO "all", 503 structures).

Train appends to `benchmarks/mace_reference.csv` one row per scored set (`val`, `test`,
`test600`): errors in orbjax's units and metric names (energy_mae meV/atom = MAE of
(E_pred − E_ref)/n_atoms, energy_per_structure_mae meV, forces_mae meV/Å over force
components), the epochs run, the best epoch, CPU seconds, the settings and the versions;
and to `benchmarks/mace_reference_val_curves.csv` one row per validation pass (epoch,
process CPU seconds, wall seconds, validation errors with the EMA weights): the
time-to-accuracy curve. A (dataset, variant, n_train, seed) already in the CSV is skipped
(resumable; `--force` reruns). An interrupted run restarts from scratch.

Variants (`VARIANTS`): `orbjax_size`: ScaleShiftMACE at orbjax's default model size (as
`benchmarks/train_step.py`: 32 channels, l_max 2, 2 layers, cutoff 5 Å, 8 Bessel
functions, radial MLP [64, 64], readout 16x0e; correlation 3, MACE's) trained with
orbjax's recipe where mace-torch has the same knob (float32, batch 8, lr 5e-3, EMA 0.99,
loss 10·MSE(E/atom) + 10·MSE(F), gradient clip 10); mace-torch's optimizer (AMSGrad, weight
decay 5e-7) and its ReduceLROnPlateau scheduler. `mace_defaults`: the mace-torch CLI's own
defaults (MACE, 128x0e+128x1o, correlation 3, float64, batch 10, lr 0.01, energy weight 1,
forces weight 100, no EMA). `smoke` / `smoke_mace_defaults`: the same settings, for proving the
command on a few epochs (not results).
E0s: the isolated-atom energies orbjax uses (acac), else "average" (least squares on the
training split, as orbjax does without isolated atoms).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import subprocess
import sys
import time

from experiments.common.tables import read_rows  # csv only: imports in mace-torch's venv too

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SWEEPS = {"acac": "configs/sweeps/lc_acac.py", "chno": "configs/sweeps/lc_chno.py"}
RESULTS_CSV = os.path.join(ROOT, "benchmarks", "mace_reference.csv")
CURVES_CSV = os.path.join(ROOT, "benchmarks", "mace_reference_val_curves.csv")
ENERGY_KEY, FORCES_KEY = "REF_energy", "REF_forces"  # mace-torch's default keys

ORBJAX_SIZE = {
    "model": "ScaleShiftMACE",
    "num_channels": 32,
    "max_L": 2,
    "correlation": 3,
    "num_interactions": 2,
    "r_max": 5.0,
    "num_radial_basis": 8,
    "num_cutoff_basis": 6,
    "radial_MLP": "[64, 64]",
    "MLP_irreps": "16x0e",
    "default_dtype": "float32",
    "batch_size": 8,
    "valid_batch_size": 16,
    "lr": 5e-3,
    "ema": True,
    "ema_decay": 0.99,
    "energy_weight": 10.0,
    "forces_weight": 10.0,
    "clip_grad": 10.0,
}
VARIANTS = {
    "orbjax_size": ORBJAX_SIZE,
    "mace_defaults": {"r_max": 5.0},  # everything else: the CLI's defaults
    "smoke": ORBJAX_SIZE,
    "smoke_mace_defaults": {"r_max": 5.0},
}
RESULT_FIELDS = [
    "dataset",
    "variant",
    "n_train",
    "seed",
    "test_set",
    "n_structures",
    "energy_mae",
    "energy_rmse",
    "energy_per_structure_mae",
    "forces_mae",
    "forces_rmse",
    "epochs",
    "best_epoch",
    "train_cpu_s",
    "total_cpu_s",
    "wall_s",
    "budget_cpu_s",
    "max_epochs",
    "stopped_by",
    "n_params",
    "settings",
    "versions",
    "orbjax_run",
    "date",
]
CURVE_FIELDS = [
    "dataset",
    "variant",
    "n_train",
    "seed",
    "epoch",
    "cpu_s",
    "wall_s",
    "energy_mae",
    "energy_rmse",
    "forces_mae",
    "forces_rmse",
    "loss",
]


def export_dir(root: str, dataset: str, n_train: int, seed: int) -> str:
    return os.path.join(root, "data", "mace_reference", dataset, f"n{n_train}", f"seed{seed}")


def run_dir(root: str, dataset: str, variant: str, n_train: int, seed: int) -> str:
    return os.path.join(
        root, "runs", "mace_reference", dataset, variant, f"n{n_train}", f"seed{seed}"
    )


# ----------------------------------------------------------------------------- (a) export


def sweep_spec(dataset: str, n_train: int, seed: int) -> dict:
    """The learning-curve sweep's run (lc_<dataset>.py, kind `curve`, energy-only variant:
    every variant of a (size, seed) trains on the same structures) for (n_train, seed)."""
    from experiments.common.runs import planned_run

    try:
        return planned_run(
            os.path.join(ROOT, SWEEPS[dataset]),
            "energy_only",
            seed=seed,
            **{"data.n_train": n_train},
        )
    except ValueError as error:
        raise SystemExit(f"{error} (n_train 0 = all)") from None


def split_for(dataset: str, n_train: int, seed: int, lc_root: str):
    """(spec, config, StructureSplits, E0s) exactly as orbjax's training would read them; the
    sweep's relative data paths resolve against `lc_root` (where data/learning_curves is)."""
    from orbjax.sweep import build_config
    from orbjax.training.data import split_structures
    from orbjax.training.factories import isolated_atom_energies

    spec = sweep_spec(dataset, n_train, seed)
    config = build_config(spec)
    here = os.getcwd()
    os.chdir(lc_root)
    try:
        splits = split_structures(config.data, config.seed)
        e0s = isolated_atom_energies(config.data)
    finally:
        os.chdir(here)
    return spec, config, splits, e0s


def to_atoms(structure, energy_key: str, forces_key: str):
    from ase import Atoms

    atoms = Atoms(
        numbers=structure.atomic_numbers,
        positions=structure.positions,
        cell=structure.cell,
        pbc=structure.pbc,
    )
    atoms.info[ENERGY_KEY] = float(structure.labels[energy_key])  # eV
    atoms.arrays[FORCES_KEY] = structure.labels[forces_key].astype(float)  # eV/Å
    atoms.info["name"] = str(structure.name)
    atoms.info["mol_id"] = str(structure.mol_id)
    atoms.info["config_type"] = "Default"
    return atoms


def orbjax_run_counts(spec: dict, lc_root: str) -> dict | None:
    """{'train': n, 'val': m} from the first line of a finished orbjax run's train.log, if any."""
    rel = os.path.relpath(spec["workdir"], ROOT)
    for base in (lc_root, ROOT):
        log = os.path.join(base, rel, "train.log")
        if os.path.exists(log):
            with open(log) as f:
                m = re.search(r"(\d+) train / (\d+) val graphs", f.readline())
            if m:
                return {"train": int(m.group(1)), "val": int(m.group(2)), "log": log}
    return None


def export(args) -> str:
    from ase.io import write

    spec, config, splits, e0s = split_for(args.dataset, args.n_train, args.seed, args.lc_root)
    out = args.out or export_dir(ROOT, args.dataset, args.n_train, args.seed)
    os.makedirs(out, exist_ok=True)
    sets = {"train": splits.train, "val": splits.val, "test": splits.test, **splits.extra_tests}
    names = {}
    for name, structures in sets.items():
        atoms = [to_atoms(s, config.data.energy_key, config.data.forces_key) for s in structures]
        write(os.path.join(out, f"{name}.xyz.tmp"), atoms, format="extxyz")
        os.replace(os.path.join(out, f"{name}.xyz.tmp"), os.path.join(out, f"{name}.xyz"))
        names[name] = [str(s.name) for s in structures]
    check = orbjax_run_counts(spec, args.lc_root)
    if check and (check["train"], check["val"]) != (len(splits.train), len(splits.val)):
        raise SystemExit(
            f"export: {len(splits.train)} train / {len(splits.val)} val, but {check['log']} "
            f"trained on {check['train']} / {check['val']}"
        )
    manifest = {
        "dataset": args.dataset,
        "n_train": args.n_train,
        "seed": args.seed,
        "sweep": SWEEPS[args.dataset],
        "orbjax_run": spec["name"],
        "overrides": spec["overrides"],
        "lc_root": os.path.abspath(args.lc_root),
        "orbjax_commit": git_commit(),
        "counts": {k: len(v) for k, v in sets.items()},
        "names": names,
        "mol_ids": {k: sorted({str(s.mol_id) for s in v}) for k, v in sets.items()},
        "e0s": {str(z): e for z, e in sorted(e0s.items())} if e0s else "average",
        "skipped": [list(x) for x in splits.skipped],
        "checked_against": check,
        "units": {"energy": "eV", "forces": "eV/Å", "keys": [ENERGY_KEY, FORCES_KEY]},
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(
        f"{out}: "
        + ", ".join(f"{k} {v}" for k, v in manifest["counts"].items())
        + (
            f"; counts match {check['log']}"
            if check
            else "; no finished orbjax run to check against"
        )
    )
    return out


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


# ----------------------------------------------------------------------------- (b) train


def mace_argv(
    variant: str,
    data: str,
    manifest: dict,
    work: str,
    seed: int,
    max_epochs: int,
    eval_interval: int,
) -> list[str]:
    """mace-torch `run_train` arguments: the variant's settings, the exported files, E0s."""
    argv = [
        "--name",
        "mace",
        "--seed",
        str(seed),
        "--device",
        "cpu",
        "--train_file",
        os.path.join(data, "train.xyz"),
        "--valid_file",
        os.path.join(data, "val.xyz"),
        "--energy_key",
        ENERGY_KEY,
        "--forces_key",
        FORCES_KEY,
        "--E0s",
        manifest["e0s"]
        if manifest["e0s"] == "average"
        else "{" + ", ".join(f"{z}: {e!r}" for z, e in manifest["e0s"].items()) + "}",
        "--max_num_epochs",
        str(max_epochs),
        "--eval_interval",
        str(eval_interval),
        "--error_table",
        "PerAtomMAE",
        "--plot",
        "False",
        "--save_cpu",
        "--num_workers",
        "0",
        "--work_dir",
        work,
        "--model_dir",
        work,
        "--log_dir",
        os.path.join(work, "logs"),
        "--checkpoints_dir",
        os.path.join(work, "checkpoints"),
        "--results_dir",
        os.path.join(work, "results"),
    ]
    for key, value in VARIANTS[variant].items():
        if value is True:
            argv.append(f"--{key}")
        else:
            argv += [f"--{key}", str(value)]
    return argv


class _Budget(Exception):
    pass


def child(spec_path: str) -> None:
    """Runs pinned, in the mace venv: mace-torch's run_train with timing hooks, then eval."""
    import torch

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    with open(spec_path) as f:
        spec = json.load(f)
    t_wall0 = time.time()
    import mace.tools as mtools
    import mace.tools.train  # noqa: F401  (the submodule; `mace.tools.train` the attribute is the function)
    from mace.cli import run_train

    tmod = sys.modules["mace.tools.train"]
    curve = []
    budget, state = spec["budget_cpu_s"], {"epochs": 0, "stopped_by": "max_epochs"}
    original_log, original_epoch, original_train = (
        tmod.valid_err_log,
        tmod.train_one_epoch,
        mtools.train,
    )

    def valid_err_log(
        valid_loss, eval_metrics, logger, log_errors, epoch=None, valid_loader_name="Default"
    ):
        row = {
            "epoch": -1 if epoch is None else int(epoch) + 1,
            "cpu_s": time.process_time(),
            "wall_s": time.time() - t_wall0,
            "loss": float(valid_loss),
        }
        for k_out, k_in in (
            ("energy_mae", "mae_e_per_atom"),
            ("energy_rmse", "rmse_e_per_atom"),
            ("forces_mae", "mae_f"),
            ("forces_rmse", "rmse_f"),
        ):
            if eval_metrics.get(k_in) is not None:
                row[k_out] = 1e3 * float(eval_metrics[k_in])  # meV/atom, meV/Å
        curve.append(row)
        with open(os.path.join(spec["work"], "val_curve.jsonl"), "a") as f:
            f.write(json.dumps(row) + "\n")
        return original_log(valid_loss, eval_metrics, logger, log_errors, epoch, valid_loader_name)

    def train_one_epoch(*a, **k):
        if budget and time.process_time() >= budget:
            state["stopped_by"] = "budget_cpu_s"
            raise _Budget()
        state["epochs"] += 1
        return original_epoch(*a, **k)

    def train(*a, **k):
        try:
            original_train(*a, **k)
        except _Budget:
            pass
        state["train_cpu_s"], state["train_wall_s"] = time.process_time(), time.time() - t_wall0

    tmod.valid_err_log, tmod.train_one_epoch, mtools.train = valid_err_log, train_one_epoch, train
    sys.argv = ["mace_run_train"] + spec["argv"]
    run_train.main()
    model_path = os.path.join(spec["work"], "mace.model")
    results = {"curve": curve, **state, "scores": {}, "versions": mace_versions()}
    model = torch.load(model_path, map_location="cpu", weights_only=False)
    results["n_params"] = int(sum(p.numel() for p in model.parameters()))
    dtype = spec["dtype"]
    for name in spec["test_sets"]:
        results["scores"][name] = score(model, os.path.join(spec["data"], f"{name}.xyz"), dtype)
    results["total_cpu_s"], results["wall_s"] = time.process_time(), time.time() - t_wall0
    best = [r for r in curve if r["epoch"] >= 0]
    results["best_epoch"] = min(best, key=lambda r: r["loss"])["epoch"] if best else 0
    with open(os.path.join(spec["work"], "results.json"), "w") as f:
        json.dump(results, f, indent=1)


def score(model, path: str, dtype: str) -> dict:
    """orbjax's metrics (evaluation.compute_metrics) of `model` on an exported extxyz file."""
    import ase.io
    import numpy as np
    import torch
    from mace import data as mdata
    from mace.tools import torch_geometric, utils

    torch.set_default_dtype(getattr(torch, dtype))
    model = model.to(getattr(torch, dtype))
    atoms = ase.io.read(path, ":")
    keys = mdata.KeySpecification(
        info_keys={"energy": ENERGY_KEY}, arrays_keys={"forces": FORCES_KEY}
    )
    z_table = utils.AtomicNumberTable([int(z) for z in model.atomic_numbers])
    heads = getattr(model, "heads", None)
    data = [
        mdata.AtomicData.from_config(
            mdata.config_from_atoms(a, key_specification=keys),
            z_table=z_table,
            cutoff=float(model.r_max),
            heads=heads,
        )
        for a in atoms
    ]
    e_pred, f_pred = [], []
    for batch in torch_geometric.dataloader.DataLoader(data, batch_size=16, shuffle=False):
        out = model(batch.to_dict(), training=False, compute_force=True)
        e_pred.append(out["energy"].detach().double().numpy())
        f_pred.append(out["forces"].detach().double().numpy())
    e_pred, f_pred = np.concatenate(e_pred), np.concatenate(f_pred)
    n = np.array([len(a) for a in atoms])
    e_ref = np.array([a.info[ENERGY_KEY] for a in atoms])
    f_ref = np.concatenate([a.arrays[FORCES_KEY] for a in atoms])
    de, df = (e_pred - e_ref) / n, f_pred - f_ref
    return {
        "n_structures": len(atoms),
        "energy_mae": 1e3 * float(np.mean(np.abs(de))),
        "energy_rmse": 1e3 * float(np.sqrt(np.mean(de**2))),
        "energy_per_structure_mae": 1e3 * float(np.mean(np.abs(e_pred - e_ref))),
        "forces_mae": 1e3 * float(np.mean(np.abs(df))),
        "forces_rmse": 1e3 * float(np.sqrt(np.mean(df**2))),
    }


def mace_versions() -> dict:
    """The versions `train_step.py` records for its MACE worker, plus the CPU."""
    from benchmarks.train_step import mace_versions as versions  # imports no jax

    return {**versions(), "cpu": platform.processor() or platform.machine()}


def append_rows(path: str, fields: list[str], rows: list[dict]) -> None:
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerows(rows)


def train(args) -> None:
    key = (args.dataset, args.variant, str(args.n_train), str(args.seed))
    done = [
        r
        for r in read_rows(RESULTS_CSV)
        if (r["dataset"], r["variant"], r["n_train"], r["seed"]) == key
    ]
    if done and not args.force:
        print(
            f"{RESULTS_CSV}: {'/'.join(key)} already scored ({len(done)} rows), skipped "
            "(--force reruns)"
        )
        return
    data = export_dir(ROOT, args.dataset, args.n_train, args.seed)
    if not os.path.exists(os.path.join(data, "manifest.json")):
        if not args.orbjax_python:
            raise SystemExit(
                f"{data}: not exported; run the export step under orbjax's python first"
            )
        subprocess.run(
            [
                args.orbjax_python,
                "-m",
                "benchmarks.mace_reference",
                "export",
                "--dataset",
                args.dataset,
                "--n-train",
                str(args.n_train),
                "--seed",
                str(args.seed),
                "--lc-root",
                args.lc_root,
            ],
            check=True,
            cwd=ROOT,
        )
    with open(os.path.join(data, "manifest.json")) as f:
        manifest = json.load(f)
    work = run_dir(ROOT, args.dataset, args.variant, args.n_train, args.seed)
    if os.path.exists(work):
        import shutil

        shutil.rmtree(work)  # an interrupted run restarts from scratch
    os.makedirs(work)
    settings = dict(VARIANTS[args.variant])
    counts = manifest["counts"]
    eval_interval = args.eval_interval or max(1, round(counts["val"] / counts["train"]))
    if args.e0s == "average":
        manifest["e0s"] = "average"
    spec = {
        "work": work,
        "data": data,
        "budget_cpu_s": args.budget_cpu_s,
        "argv": mace_argv(
            args.variant, data, manifest, work, args.seed, args.max_epochs, eval_interval
        ),
        "dtype": settings.get("default_dtype", "float64"),
        "test_sets": ["val"] + [k for k in manifest["counts"] if k not in ("train", "val")],
    }
    with open(os.path.join(work, "spec.json"), "w") as f:
        json.dump(spec, f, indent=1)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.mace_reference",
        "_child",
        os.path.join(work, "spec.json"),
    ]
    if args.core is not None:
        cmd = ["taskset", "-c", str(args.core)] + cmd
    print(" ".join(cmd), flush=True)
    with open(os.path.join(work, "child.log"), "w") as log:
        proc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(f"mace training failed (rc {proc.returncode}); see {work}/child.log")
    with open(os.path.join(work, "results.json")) as f:
        res = json.load(f)
    head = {
        "dataset": args.dataset,
        "variant": args.variant,
        "n_train": args.n_train,
        "seed": args.seed,
    }
    append_rows(
        CURVES_CSV,
        CURVE_FIELDS,
        [{**head, **{k: _fmt(v) for k, v in r.items()}} for r in res["curve"]],
    )
    settings.update(
        eval_interval=eval_interval,
        budget=args.budget_cpu_s,
        max_epochs=args.max_epochs,
        e0s="isolated_atoms" if manifest["e0s"] != "average" else "average",
        core=args.core,
    )
    rows = [
        {
            **head,
            "test_set": name,
            **{k: _fmt(v) for k, v in s.items()},
            "epochs": res["epochs"],
            "best_epoch": res["best_epoch"],
            "train_cpu_s": _fmt(res.get("train_cpu_s")),
            "total_cpu_s": _fmt(res["total_cpu_s"]),
            "wall_s": _fmt(res["wall_s"]),
            "budget_cpu_s": args.budget_cpu_s,
            "max_epochs": args.max_epochs,
            "stopped_by": res["stopped_by"],
            "n_params": res["n_params"],
            "settings": json.dumps(settings, sort_keys=True),
            "versions": json.dumps(res["versions"], sort_keys=True),
            "orbjax_run": manifest["orbjax_run"],
            "date": time.strftime("%Y-%m-%d"),
        }
        for name, s in res["scores"].items()
    ]
    append_rows(RESULTS_CSV, RESULT_FIELDS, rows)
    for r in rows:
        print(
            f"{args.dataset} {args.variant} n={args.n_train} seed={args.seed} {r['test_set']}: "
            f"energy {r['energy_mae']} meV/atom, forces {r['forces_mae']} meV/Å "
            f"({r['epochs']} epochs, best {r['best_epoch']}, train {r['train_cpu_s']} CPU s)"
        )


def _fmt(v):
    return f"{v:.6g}" if isinstance(v, float) else v


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("export", "train"):
        s = sub.add_parser(name)
        s.add_argument("--dataset", choices=sorted(SWEEPS), required=True)
        s.add_argument(
            "--n-train", type=int, required=True, help="the sweep's data.n_train (0: all)"
        )
        s.add_argument("--seed", type=int, default=0)
        s.add_argument(
            "--lc-root",
            default=ROOT,
            help="checkout holding data/learning_curves (prepare.py's "
            "output) and data/public (experiments.data.fetch); default: this one",
        )
    sub.choices["export"].add_argument("--out", default=None)
    t = sub.choices["train"]
    t.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    t.add_argument(
        "--budget-cpu-s",
        type=float,
        default=3600.0,
        help="no new epoch starts after this many CPU seconds of the training process",
    )
    t.add_argument("--max-epochs", type=int, default=2048)
    t.add_argument(
        "--eval-interval",
        type=int,
        default=0,
        help="validate every N epochs (0: round(n_val / n_train), at least 1, so that "
        "validation costs at most about as much as training)",
    )
    t.add_argument(
        "--e0s",
        choices=("orbjax", "average"),
        default="orbjax",
        help="orbjax: the isolated-atom energies orbjax uses (acac), else least squares; "
        "average: least squares on the training split (mace-torch's `--E0s average`)",
    )
    t.add_argument("--core", type=int, default=1, help="taskset core (-1: no pinning)")
    t.add_argument(
        "--orbjax-python", default=None, help="export first with this interpreter if needed"
    )
    t.add_argument(
        "--force", action="store_true", help="rerun a scored (dataset, variant, n_train, seed)"
    )
    c = sub.add_parser("_child")
    c.add_argument("spec")
    args = p.parse_args(argv)
    if args.cmd == "export":
        export(args)
    elif args.cmd == "train":
        args.core = None if args.core is not None and args.core < 0 else args.core
        train(args)
    else:
        child(args.spec)


if __name__ == "__main__":
    main()
