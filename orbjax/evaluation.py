"""Evaluate a trained run on a structure file: metrics, predictions and parity plots.

The library behind `python -m orbjax.evaluate` (that module is only its command line).
The file is read with the run's key preset (or `key_preset`; the run's `key_overrides`
then no longer apply) and turned into graphs with the run's cutoff and energy/forces keys.
Predictions come from the same `predict` as training, jit-compiled once per padding bucket.
Every error is computed in float64 numpy against the float64 labels, with the units of the
training log: energy meV/atom and meV/structure, forces meV/Å (per component), stress
meV/Å³, charges and populations me. A structure without a label is masked for that metric
only. Outputs in the output directory:

  metrics.json      {"metrics": {name: value}, "units", "counts", run and file info}
  metrics.csv       target, statistic, value, unit, n (labelled entries)
  predictions.npz   per structure and per atom labels, predictions and masks
  parity_*.png      one parity plot per target
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Sequence

import jax
import jraph
import numpy as np

from orbjax.data.batching import compute_budgets, pad_batch, plan_batches
from orbjax.data.graphs import structures_to_graphs
from orbjax.data.structures import Structure
from orbjax.model.predict import predict
from orbjax.model.statistics import UnknownElementError, check_elements  # noqa: F401 (imported from here too)
from orbjax.orbitals import SHELL_LETTERS, orbital_slot_table, shell_l_table
from orbjax.runtime import precision
from orbjax.targets import LEVEL_KEYS, TARGETS, auxiliary_targets, metric_units
from orbjax.training.batches import to_device


def evaluate_workdir(
    workdir: str,
    data_path: str,
    out_dir: str | None = None,
    which: str = "best",
    key_preset: str | None = None,
    batch_size: int | None = None,
    plots: bool = True,
    level: str | None = None,
) -> dict:
    """Evaluate the `which` checkpoint of the run in `workdir` on `data_path`; write outputs.

    Args:
      workdir: a training workdir (checkpoints, config).
      data_path: any structure file `orbjax.data.readers` reads.
      out_dir: where to write; default `workdir/eval_<file stem>`.
      which: "best" (by validation loss) or "latest" checkpoint.
      key_preset: how labels are named in the file (default, chno, comp6); default the run's.
      batch_size: structures per batch; default the run's.
      plots: write the parity PNGs.
      level: the level of theory to score (e.g. "gfn1" against the file's xtb_energy /
        xtb_forces); None: the model's default level against the run's energy/forces keys.

    Returns:
      The content of metrics.json: metrics (MAE/RMSE), units, counts, step, paths.
    """
    from orbjax.model.io import load_trained, read_run_info

    if not os.path.isdir(os.path.join(workdir, "checkpoints")):
        raise FileNotFoundError(f"{workdir}: not a training workdir (no checkpoints/ folder)")
    config, statistics = read_run_info(workdir, which)
    # Read and check the data before the (slower) model restore, so bad input fails fast.
    structures = read_structures_for(config, data_path, key_preset)
    check_elements(structures, statistics.known_species(level))
    with precision(config.dtype):
        trained = load_trained(workdir, which)
        out_dir = out_dir or os.path.join(workdir, f"eval_{Path(data_path).stem}")
        return _evaluate(
            trained, workdir, data_path, structures, out_dir, which, batch_size, plots, level
        )


def evaluate_model(
    model: str,
    data_path: str,
    out_dir: str | None = None,
    which: str = "best",
    key_preset: str | None = None,
    batch_size: int | None = None,
    plots: bool = True,
    level: str | None = None,
) -> dict:
    """`evaluate_workdir` for a model file (``model.orbjax``) or a training workdir.

    A model file is scored as it is (`which` is ignored); the default output directory is
    `eval_<data stem>` beside it. Anything else is refused before the data are read.
    """
    from orbjax.model.file import is_model_file

    if os.path.isdir(model):
        return evaluate_workdir(
            model, data_path, out_dir, which, key_preset, batch_size, plots, level
        )
    if not os.path.exists(model):
        raise FileNotFoundError(f"{model}: no such model file or training workdir")
    if not is_model_file(model):
        raise ValueError(
            f"{model}: not an orbjax model file (model.orbjax, python -m orbjax.export) nor a "
            "training "
            "workdir; the structures to score go to --data"
        )
    import ml_collections

    from orbjax.model.file import read_model_file
    from orbjax.model.io import build_trained
    from orbjax.model.statistics import Statistics

    f = read_model_file(model)
    # Read and check the data before the (slower) model build, so bad input fails fast.
    structures = read_structures_for(ml_collections.ConfigDict(f.config), data_path, key_preset)
    check_elements(structures, Statistics.from_json(f.statistics).known_species(level))
    trained = build_trained(f.config, f.statistics, f.params, f.step, where=model)
    out_dir = out_dir or os.path.join(
        os.path.dirname(os.path.abspath(model)), f"eval_{Path(data_path).stem}"
    )
    with precision(trained.config.dtype):
        return _evaluate(
            trained, model, data_path, structures, out_dir, "file", batch_size, plots, level
        )


def _evaluate(
    trained, source, data_path, structures, out_dir, which, batch_size, plots, level=None
):
    result = predict_structures(trained, structures, batch_size, level)
    metrics, counts = compute_metrics(result)
    os.makedirs(out_dir, exist_ok=True)
    report = dict(
        workdir=os.path.abspath(source),
        data=os.path.abspath(data_path),
        which=which,
        step=trained.step,
        n_structures=len(structures),
        n_atoms=int(result["atomic_numbers"].shape[0]),
        metrics=metrics,
        counts=counts,
        units={k: metric_units()[_base(k)][0] for k in metrics},
        n_compilations=int(result.pop("n_compilations")),
        out_dir=os.path.abspath(out_dir),
        level=trained.statistics.levels[trained.statistics.level_index(level)],
        energies_trained=trained.statistics.e0_source[trained.statistics.level_index(level)]
        != "none",
    )
    np.savez_compressed(os.path.join(out_dir, "predictions.npz"), **result)
    write_metrics(report, out_dir)
    if plots:
        report["plots"] = parity_plots(result, metrics, out_dir)
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump(report, f, indent=1)
    return report


def read_structures_for(config, data_path: str, key_preset: str | None = None) -> list[Structure]:
    """Read `data_path` as the run reads data (its preset and overrides unless `key_preset`)."""
    import ml_collections

    from orbjax.training.data import read

    data_config = config.data.to_dict()
    if key_preset is not None and key_preset != data_config["key_preset"]:
        data_config.update(key_preset=key_preset, key_overrides={})
    structures = read(str(data_path), ml_collections.ConfigDict(data_config))
    if not structures:
        raise ValueError(f"{data_path}: no structures to evaluate")
    return structures


def predict_structures(
    trained, structures: Sequence[Structure], batch_size: int | None = None, level=None
) -> dict:
    """Labels, predictions and masks of every structure and atom, in file order (numpy).

    Per structure: names, n_atoms, energy_{label,pred} eV, energy_mask, e0_sum eV (Σ of the
    model's reference energies), stress_{label,pred} [3,3] eV/Å³ + stress_mask when any
    structure has a stress. Per atom: atomic_numbers, structure (index), forces_{label,pred}
    eV/Å + forces_mask, and `<target>_{label,pred,mask}` for each auxiliary head of the model
    that the data label somewhere. `level`: the level of theory scored (None: the model's
    default, against the run's energy/forces keys; another level against its `LEVEL_KEYS`).
    """
    config = trained.config
    index = trained.statistics.level_index(level)
    energy_key, forces_key = (
        (config.data.energy_key, config.data.forces_key)
        if index == 0
        else LEVEL_KEYS[trained.statistics.levels[index]]
    )
    graphs = structures_to_graphs(
        structures, config.model.cutoff, energy_key=energy_key, forces_key=forces_key
    )
    labels = jraph.batch_np(graphs)
    # stress labels are the default level's ("stress"): another level is scored without them
    compute_stress = index == 0 and bool(labels.globals["stress_mask"].any())
    heads = [t for t in trained.model.config.heads if labels.nodes[TARGETS[t].mask].any()]
    batch_size = batch_size or config.train.batch_size
    budgets = compute_budgets(graphs, batch_size, config.train.n_buckets, seed=config.seed)
    predict_fn = jax.jit(
        lambda params, graph: _predictions(
            trained.model, params, graph, compute_stress, heads, index
        )
    )
    outputs = []
    for indices, budget in plan_batches(
        graphs, batch_size, budgets, shuffle=False, names=[s.name for s in structures]
    ):
        batch = pad_batch([graphs[i] for i in indices], budget)
        out = jax.device_get(predict_fn(trained.variables, to_device(batch, trained.model.dtype)))
        n_graph, n_node = len(indices), int(sum(graphs[i].n_node[0] for i in indices))
        outputs.append(
            {
                k: (v[:n_graph] if k in ("network_energy", "stress") else v[:n_node])
                for k, v in out.items()
            }
        )
    pred = {k: np.concatenate([o[k] for o in outputs]).astype(np.float64) for k in outputs[0]}
    result = _labels(
        structures, labels, trained.statistics, compute_stress, heads, energy_key, index
    )
    pred["energy"] = pred.pop("network_energy") + result["e0_sum"]  # totals formed in float64
    result.update({f"{k}_pred": v for k, v in pred.items()})
    result["n_compilations"] = predict_fn._cache_size()
    return result


def _predictions(model, params, graph, compute_stress, heads, level: int = 0) -> dict:
    out = predict(
        model, params, graph, with_heads=bool(heads), compute_stress=compute_stress, level=level
    )
    keep = ["network_energy", "forces"] + (["stress"] if compute_stress else []) + list(heads)
    return {k: out[k] for k in keep}


def _labels(
    structures,
    labels: jraph.GraphsTuple,
    statistics,
    compute_stress: bool,
    heads,
    energy_key: str = "energy",
    level: int = 0,
) -> dict:
    n_atoms = labels.n_node.astype(np.int64)
    e0 = np.asarray(statistics.atomic_energies[level])[
        statistics.z_to_species()[labels.nodes["atomic_numbers"]]
    ]
    structure = np.repeat(np.arange(len(n_atoms)), n_atoms)
    out = dict(
        names=np.array([str(s.name) for s in structures]),
        n_atoms=n_atoms,
        atomic_numbers=labels.nodes["atomic_numbers"].astype(np.int64),
        structure=structure,
        e0_sum=np.bincount(structure, e0, minlength=len(n_atoms)),  # [n_structures] eV
        energy_label=_energy_labels(structures, energy_key, labels.globals["energy"]),
        energy_mask=labels.globals["energy_mask"],
        forces_label=labels.nodes["forces"].astype(np.float64),
        forces_mask=labels.nodes["forces_mask"],
    )
    if compute_stress:
        out.update(
            stress_label=labels.globals["stress"].astype(np.float64),
            stress_mask=labels.globals["stress_mask"],
        )
    for t in heads:
        out.update(
            {
                f"{t}_label": labels.nodes[t].astype(np.float64),
                f"{t}_mask": labels.nodes[TARGETS[t].mask],
            }
        )
    return out


def compute_metrics(result: dict) -> tuple[dict[str, float], dict[str, int]]:
    """MAE and RMSE of every target with at least one label, in the units of
    `targets.metric_units()`.

    Returns ({"<target>_mae"/"_rmse": value}, {target: number of labelled entries}); the
    energy is per atom ("energy") and per structure ("energy_per_structure").
    """
    n_atoms = result["n_atoms"]
    errors = {
        "energy": (
            (result["energy_pred"] - result["energy_label"]) / n_atoms,
            result["energy_mask"],
        ),
        "energy_per_structure": (
            result["energy_pred"] - result["energy_label"],
            result["energy_mask"],
        ),
    }
    for target in ("forces", "stress") + auxiliary_targets():
        if f"{target}_pred" in result:
            errors[target] = (
                result[f"{target}_pred"] - result[f"{target}_label"],
                result[f"{target}_mask"],
            )
    metrics, counts = {}, {}
    for name, (error, mask) in errors.items():
        mask = np.broadcast_to(
            mask.reshape(mask.shape + (1,) * (error.ndim - mask.ndim)), error.shape
        )
        if not mask.any():
            continue
        e, factor = error[mask], metric_units()[name][1]
        metrics[f"{name}_mae"] = float(factor * np.mean(np.abs(e)))
        metrics[f"{name}_rmse"] = float(factor * np.sqrt(np.mean(e**2)))
        counts[name] = int(mask.sum())
    return metrics, counts


def _base(metric: str) -> str:
    return metric.rsplit("_", 1)[0]


def write_metrics(report: dict, out_dir: str) -> None:
    """metrics.csv: one row per (target, statistic)."""
    with open(os.path.join(out_dir, "metrics.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["target", "statistic", "value", "unit", "n"])
        for name, value in report["metrics"].items():
            target, stat = name.rsplit("_", 1)
            w.writerow(
                [target, stat, f"{value:.8g}", report["units"][name], report["counts"][target]]
            )


# ----------------------------------------------------------------------------- plots


def parity_plots(result: dict, metrics: dict, out_dir: str) -> list[str]:
    """One parity PNG per target present; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")

    paths = []
    for target, (label, pred, mask, colour) in _plot_data(result).items():
        if f"{target}_mae" not in metrics:
            continue
        path = os.path.join(out_dir, f"parity_{target}.png")
        _parity(
            label[mask], pred[mask], None if colour is None else colour[mask], target, metrics, path
        )
        paths.append(path)
    return paths


def _plot_data(result: dict) -> dict:
    """target → (label, prediction, mask, shell type or None), flattened to entries."""
    n_atoms = result["n_atoms"]
    ref = result["e0_sum"]
    data = {
        "energy": (
            (result["energy_label"] - ref) / n_atoms,
            (result["energy_pred"] - ref) / n_atoms,
            result["energy_mask"],
            None,
        )
    }
    for target in ("forces", "stress") + auxiliary_targets():
        if f"{target}_pred" not in result:
            continue
        label, pred, mask = (
            result[f"{target}_label"],
            result[f"{target}_pred"],
            result[f"{target}_mask"],
        )
        mask = np.broadcast_to(
            mask.reshape(mask.shape + (1,) * (label.ndim - mask.ndim)), label.shape
        )
        colour = _shell_l(result["atomic_numbers"], target)
        data[target] = (
            label.ravel(),
            pred.ravel(),
            mask.ravel(),
            None if colour is None else colour.ravel(),
        )
    return data


def _shell_l(atomic_numbers: np.ndarray, target: str) -> np.ndarray | None:
    """[n_atoms, width] angular momentum of each entry of a shell/orbital target."""
    if target == "spd_populations":
        return np.broadcast_to(np.arange(3), (len(atomic_numbers), 3))
    if target == "orbital_populations":
        slot_shell, _ = orbital_slot_table()
        l_table = shell_l_table()
        shells = slot_shell[atomic_numbers]  # [n_atoms, 9]
        return np.where(
            shells >= 0, np.take_along_axis(l_table[atomic_numbers], np.maximum(shells, 0), 1), -1
        )
    return None


def _parity(label, pred, shell_l, target, metrics, path) -> None:
    import matplotlib.pyplot as plt

    title, quantity, unit = TARGETS[target].plot
    mae_unit = metric_units()[target][0].replace("/A", "/Å")
    fig, ax = plt.subplots(figsize=(4.8, 4.6), dpi=120)
    if shell_l is None:
        ax.scatter(label, pred, s=6, alpha=0.5, lw=0, rasterized=True)
    else:
        for l in sorted(set(shell_l.tolist()) - {-1}):
            sel = shell_l == l
            ax.scatter(
                label[sel], pred[sel], s=6, alpha=0.5, lw=0, rasterized=True, label=SHELL_LETTERS[l]
            )
        ax.legend(title="shell", markerscale=2)
    lo, hi = float(min(label.min(), pred.min())), float(max(label.max(), pred.max()))
    pad = 0.03 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    ax.set_xlabel(f"reference {quantity} ({unit})")
    ax.set_ylabel(f"predicted {quantity} ({unit})")
    ax.set_title(
        f"{title}\nMAE {metrics[f'{target}_mae']:.4g} {mae_unit}, "
        f"RMSE {metrics[f'{target}_rmse']:.4g} {mae_unit} (n={len(label)})",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _energy_labels(structures, energy_key: str, graph_energies: np.ndarray) -> np.ndarray:
    """[n_structures] eV in float64 from the structures themselves (the graphs hold float32,
    whose steps at 10⁴ eV are ~1 meV); the graphs' value where a structure has none."""
    out = graph_energies.astype(np.float64).reshape(-1)
    for i, s in enumerate(structures):
        value = s.labels.get(energy_key)
        if value is not None and np.ndim(value) == 0 and np.isfinite(value):
            out[i] = float(value)
    return out
