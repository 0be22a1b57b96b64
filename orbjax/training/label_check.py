"""Before the first step: the labels each split holds, checked against the weighted targets.

Every loss term is masked to the labelled entries, so a target with a positive weight and no
label in the training split contributes exactly nothing: the run would end normally with a
silently wrong model (an xyz file without energies gave reference energies of 0 eV and an
orbital head trained on nothing). That is an error here, naming the target, the file and the
override that turns it off. Training on forces alone is asked for explicitly with
``loss.weights.energy=0``: the reference energies are then not fitted (``e0_source='none'``
in statistics.json and the model file) and the run says its energies are untrained.
"""

from __future__ import annotations

import dataclasses
import os
import sys

import numpy as np

from orbjax.model.statistics import Statistics, compute_statistics
from orbjax.targets import TARGETS, level_energy_targets, level_targets
from orbjax.training.data import level_names

SPLITS = ("train", "val", "test")
# labels python -m orbjax.label writes
_XTB = ("atomic_charges", "spd_populations", "orbital_populations")


def labelled(graph, target: str) -> bool:
    """Whether a single-structure graph holds at least one label of `target`."""
    record = TARGETS[target]
    where = graph.globals if record.level == "structure" else graph.nodes
    mask = where.get(record.mask)
    return mask is not None and bool(np.any(mask))


def label_counts(graphs) -> dict[str, int]:
    """{target: number of structures holding at least one of its labels}."""
    return {t: sum(labelled(g, t) for g in graphs) for t in TARGETS}


def split_counts(data) -> dict[str, dict[str, int]]:
    """{split: label_counts} for train, val, test and every extra test set of `DataSplits`."""
    splits = {"train": data.train, "val": data.val, "test": data.test, **data.extra_tests}
    return {name: label_counts(graphs) for name, graphs in splits.items()}


def format_counts(
    counts: dict[str, dict[str, int]], weights: dict, n_structures: dict[str, int]
) -> str:
    """The table printed before the first step: one row per weighted or labelled target."""
    names = list(counts)
    rows = [t for t in TARGETS if weights.get(t, 0.0) > 0 or any(counts[s][t] for s in names)]
    width = max([len(t) for t in rows] + [len("structures")])
    cols = [max(len(s), 5) for s in names]
    head = "  ".join(f"{s:>{c}}" for s, c in zip(names, cols))
    lines = [
        "labels per split (structures holding each label):",
        f"  {'target':<{width}}  {'weight':>7}  {head}",
        f"  {'structures':<{width}}  {'':>7}  "
        + "  ".join(f"{n_structures[s]:>{c}}" for s, c in zip(names, cols)),
    ]
    for t in rows:
        cells = "  ".join(f"{counts[s][t]:>{c}}" for s, c in zip(names, cols))
        lines.append(f"  {t:<{width}}  {weights.get(t, 0.0):>7g}  {cells}")
    return "\n".join(lines)


def check_weighted_targets(config, counts: dict[str, dict[str, int]], n_train: int) -> None:
    """Raise ValueError (one line) if a target with weight > 0 has no label in the training
    split."""
    weights = dict(config.loss.weights)
    missing = [t for t, w in weights.items() if w > 0 and t in TARGETS and counts["train"][t] == 0]
    if not missing:
        return
    data = config.data
    what = " and ".join(f"{t} (loss.weights.{t}={weights[t]:g})" for t in missing)
    fixes = "; ".join(f"{t}: {_fix(t, data)}" for t in missing)
    raise ValueError(
        f"{data.train_path}: none of the {n_train} structures of the training split has a "
        "label for "
        f"{what}, so training would fit nothing to it. {fixes}"
    )


def check_levels_weighted(config) -> None:
    """Every other level of `data.levels` needs a positive energy or forces weight: with
    both at 0 its readout would train on nothing and its frames only fill the batches."""
    weights = config.loss.weights
    for level in level_names(config.data)[1:]:
        energy, forces = level_targets(level)
        if weights.get(energy, 0.0) <= 0 and weights.get(forces, 0.0) <= 0:
            raise ValueError(
                f"data.levels={config.data.levels!r} trains the level {level!r}, but "
                f"loss.weights.{energy} and loss.weights.{forces} are 0, so it would fit "
                f"nothing: set --config.loss.weights.{energy}=10 "
                f"--config.loss.weights.{forces}=10, or leave {level!r} out of data.levels"
            )


def _fix(target: str, data) -> str:
    off = f"--config.loss.weights.{target}=0"
    label = (
        f"label the file with GFN1-xTB first (python -m orbjax.label {data.train_path} "
        "OUT.h5, then "
        f"--config.data.train_path=OUT.h5)"
    )
    if target in ("energy", "forces"):
        key = data.get(f"{target}_key", target)
        name = (
            f"name the file's {target} key with --config.data.key_overrides.{target}=<key> "
            "(key preset "
            f"{data.key_preset!r})"
            if key == target
            else f"data.{target}_key={key!r}: {label}"
        )
        if target == "energy":
            return f"{name}, or train on forces only with {off} (energies then untrained)"
        return f"{name}, or turn it off with {off}"
    level = TARGETS[target].of_level
    if level and level not in level_names(data)[1:]:
        levels = ",".join((*level_names(data), level))
        return f'train the level with --config.data.levels="{levels}", or turn it off with {off}'
    if level:
        return (
            f"add structures with {level} labels (data.extra_train_path), or turn it off with {off}"
        )
    if target in ("dft_charges", "stress"):
        return (
            f"name the file's key with --config.data.key_overrides.{target}=<key>, or turn it off "
            f"with {off}"
        )
    if target in _XTB:
        return f"{label}, or turn it off with {off}"
    return f"turn it off with {off}"


def report_and_check(config, data, say=print) -> None:
    """Print the label counts per split and target, then refuse weighted targets without labels.

    `data` is the run's `DataSplits`. Called before the statistics are fitted and before any
    compilation, so a wrong data set costs seconds, and the workdir gets no files.
    """
    counts = split_counts(data)
    n = {
        "train": len(data.train),
        "val": len(data.val),
        "test": len(data.test),
        **{k: len(v) for k, v in data.extra_tests.items()},
    }
    say(format_counts(counts, dict(config.loss.weights), n))
    check_levels_weighted(config)
    check_weighted_targets(config, counts, len(data.train))
    if config.loss.weights.get("energy", 0.0) <= 0:
        trained = [t for t, w in config.loss.weights.items() if w > 0]
        only = " + ".join(trained) or "nothing"
        print(
            f"warning: loss.weights.energy=0: training on {only} only; the model's energies "
            "are untrained "
            "(reference energies not fitted, e0_source='none')",
            file=sys.stderr,
            flush=True,
        )


def fit_statistics(config, train_graphs) -> Statistics:
    """`compute_statistics` of the training split, with reference energies left unfitted
    (zeros, e0_source='none') when the energy is not trained, unless isolated-atom energies
    are given: energies fitted by least squares would look trained and are not."""
    from orbjax.training.factories import isolated_atom_energies

    path = config.data.get("isolated_atoms_path")
    if path and not os.path.exists(path):
        raise FileNotFoundError(
            f"{path}: no such file (data.isolated_atoms_path; empty: reference energies "
            "by least squares)"
        )
    levels = level_names(config.data)
    statistics = compute_statistics(
        train_graphs,
        isolated_atom_energies=isolated_atom_energies(config.data),
        level=levels[0],
        other_levels=levels[1:],
    )
    weights = config.loss.weights
    untrained = [
        k
        for k, name in enumerate(level_energy_targets(levels))
        if weights.get(name, 0.0) <= 0 and statistics.e0_source[k] != "isolated_atoms"
    ]
    if untrained:
        statistics = dataclasses.replace(
            statistics,
            atomic_energies=tuple(
                (0.0,) * statistics.n_species if k in untrained else row
                for k, row in enumerate(statistics.atomic_energies)
            ),
            e0_source=tuple(
                "none" if k in untrained else src for k, src in enumerate(statistics.e0_source)
            ),
        )
    return statistics
