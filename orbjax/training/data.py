"""From config to train/val/test graphs (the only place training touches files)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from collections import Counter

import numpy as np

from orbjax.data import readers
from orbjax.data.graphs import structures_to_graphs
from orbjax.data.readers import KeyMap, read_structures, read_structures_with_failures
from orbjax.data.shuffle import shuffle_within_element
from orbjax.data.splits import SplitError, formula, n_groups, split_indices
from orbjax.model.statistics import UnknownElementError, check_elements
from orbjax.targets import LEVEL_KEYS, level_of_key

log = logging.getLogger(__name__)
ON_ERROR = ("raise", "skip")


@dataclasses.dataclass
class DataSplits:
    train: list  # numpy jraph.GraphsTuple per structure
    val: list
    test: list
    train_names: list[str]
    # (structure, reason) left out
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    # name → graphs (data.extra_tests)
    extra_tests: dict[str, list] = dataclasses.field(default_factory=dict)


PRESETS = readers.KEY_PRESETS


def key_map(data_config) -> KeyMap:
    """A named key preset (default, chno, comp6) with `key_overrides` applied."""
    if data_config.key_preset not in PRESETS:
        raise ValueError(
            f"data.key_preset must be one of {sorted(PRESETS)}, not {data_config.key_preset!r}"
        )
    overrides = dict(data_config.get("key_overrides") or {})
    return PRESETS[data_config.key_preset].replace(**overrides)


def on_error(data_config) -> str:
    """`data.on_error`: "raise" at the first bad structure, or "skip" it and record it.

    configs/default.py (and so every shipped config) sets "skip"; "raise" is only the
    fallback for a config without the field.
    """
    mode = data_config.get("on_error", "raise")
    if mode not in ON_ERROR:
        raise ValueError(f"data.on_error must be one of {ON_ERROR}, not {mode!r}")
    return mode


def read(path: str, data_config, limit: int | None = None, skipped: list | None = None):
    """Structures of `path`; with ``data.on_error="skip"`` bad ones are left out and
    appended to `skipped` as (structure name, reason)."""
    keys = key_map(data_config)
    if on_error(data_config) == "raise":
        structures = read_structures(path, keys=keys)
    else:
        structures, bad = read_structures_with_failures(path, keys=keys)
        if bad:
            log.warning("%s: left out %d bad structure(s), e.g. %s", path, len(bad), bad[0][1])
        if skipped is not None:
            skipped.extend(bad)
    return structures[:limit] if limit else structures


def write_skipped(path: str, skipped: list[tuple[str, str]]) -> None:
    """One JSON line {"name", "reason"} per structure left out, written atomically; no file if
    none."""
    if not skipped:
        if os.path.exists(path):
            os.remove(path)
        return
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(
            json.dumps({"name": str(n), "reason": r}, ensure_ascii=False) + "\n" for n, r in skipped
        )
    os.replace(tmp, path)


def _known_elements_only(train, others, mode: str, skipped: list) -> list:
    """`others` (val/test) without structures holding elements the training split lacks:
    the model would silently treat those as another element."""
    known = sorted({int(z) for s in train for z in s.atomic_numbers})
    if mode == "raise":
        try:
            check_elements(others, known, _TRAINING_SPLIT)
        except UnknownElementError as e:
            raise UnknownElementError(
                f"{e} (set data.on_error='skip' to leave such structures out)"
            ) from None
        return list(others)
    keep = []
    for s in others:
        try:
            check_elements([s], known, _TRAINING_SPLIT)
            keep.append(s)
        except UnknownElementError as e:
            skipped.append((s.name, str(e)))
    return keep


# val/test elements must occur in training
_TRAINING_SPLIT = "the model, whose training split holds"


@dataclasses.dataclass
class StructureSplits:
    """The structures of each split, before graphs are built (what `load_splits` trains on)."""

    train: list  # Structure; `data.shuffle_targets` already applied
    val: list
    test: list
    extra_tests: dict[str, list]  # name → structures (data.extra_tests)
    skipped: list[tuple[str, str]]  # (structure, reason) left out


def split_structures(data_config, seed: int) -> StructureSplits:
    """Read the data and split it (molecule-disjoint by default): the one definition of which
    structures a run trains, validates and is tested on.

    `data.split_seed` (≥ 0) fixes the validation and test molecules whatever the run's
    `seed`, which then draws only the `n_train` subsample (learning curves: the same test
    set for every run, paired by seed). `data.subsample_seed` (≥ 0) draws that subsample
    instead of `seed`, so committee members (seeds) can share their training data.
    `data.train_indices` (a text file of 0-based indices into the structures read from
    `train_path`, whitespace- or comma-separated, `#` comments) trains on exactly those
    structures (active learning); validation and test come from val_path/test_path or from
    the split of the rest, and an index that falls in them is a one-line error.
    `data.shuffle_targets` (comma-separated labels)
    permutes those labels among same-element atoms of the training split (`data/shuffle.py`).
    Bad structures raise, or with ``data.on_error="skip"`` are left out and listed in
    `skipped`; so are validation/test structures with elements the training split lacks.
    A file of one molecule is split by structure (`split_by`); a split that cannot be made
    is a one-line error naming the override that makes it.
    """
    skipped: list[tuple[str, str]] = []
    split_seed = data_config.get("split_seed", -1)
    split_seed = seed if split_seed is None or split_seed < 0 else split_seed
    subsample_seed = data_config.get("subsample_seed", -1)
    subsample_seed = seed if subsample_seed is None or subsample_seed < 0 else subsample_seed
    path = data_config.train_path
    structures = read(_existing(path, "train_path"), data_config, data_config.get("limit"), skipped)
    chosen = read_train_indices(data_config, len(structures))
    if data_config.get("val_path"):
        train_idx = np.arange(len(structures)) if chosen is None else chosen
        if data_config.get("n_train"):
            train_idx = split_indices(
                structures,
                fractions=(1.0, 0.0, 0.0),
                seed=seed,
                by=data_config.split_by,
                n_train=data_config.n_train,
                subsample_seed=subsample_seed,
            )[0]
        train = [structures[i] for i in train_idx]
        val = read(_existing(data_config.val_path, "val_path"), data_config, skipped=skipped)
        test = (
            read(_existing(data_config.test_path, "test_path"), data_config, skipped=skipped)
            if data_config.get("test_path")
            else []
        )
    else:
        fractions = (
            1.0 - data_config.val_fraction - data_config.test_fraction,
            data_config.val_fraction,
            data_config.test_fraction,
        )
        by = split_by(structures, data_config)
        try:
            idx = split_indices(
                structures,
                fractions=fractions,
                seed=split_seed,
                by=by,
                n_train=data_config.get("n_train") or None,
                subsample_seed=subsample_seed,
            )
        except SplitError as err:
            raise ValueError(_split_advice(err, path, len(structures), fractions)) from None
        if chosen is not None:
            held_out = np.intersect1d(chosen, np.concatenate(idx[1:]))
            if len(held_out):
                raise ValueError(
                    f"{data_config.train_indices}: structure(s) {held_out[:5].tolist()} of "
                    f"{path} are in the validation/test split (split_seed {split_seed}); "
                    f"leave them out or set --config.data.val_path=FILE"
                )
            idx = (chosen, idx[1], idx[2])
        train, val, test = ([structures[i] for i in part] for part in idx)
    mode = on_error(data_config)
    val = _known_elements_only(train, val, mode, skipped)
    test = _known_elements_only(train, test, mode, skipped)
    if not train or not val:
        why = f"; {len(skipped)} left out, first: {skipped[0][1]}" if skipped else ""
        raise ValueError(
            f"{data_config.train_path}: empty training or validation split "
            f"({len(train)} train, {len(val)} val structures){why}"
        )
    shuffled = tuple(
        t.strip() for t in (data_config.get("shuffle_targets") or "").split(",") if t.strip()
    )
    extra = {
        name: _known_elements_only(train, read(path, data_config, skipped=skipped), mode, skipped)
        for name, path in extra_test_paths(data_config).items()
    }
    held_out = {s.mol_id for s in val + test if s.mol_id is not None}
    more = read_extra_train(data_config, subsample_seed, skipped, held_out)
    if shuffled:  # over the extra structures too: a shuffled-label control learns no labels
        both = shuffle_within_element(train + more, shuffled, seed)
        train, more = both[: len(train)], both[len(train) :]
    train = train * _train_repeat(data_config) + more
    return StructureSplits(train, val, test, extra, skipped)


def _train_repeat(data_config) -> int:
    repeat = data_config.get("train_repeat", 1)
    if not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"data.train_repeat must be an integer ≥ 1, not {repeat!r}")
    return repeat


def read_extra_train(data_config, seed: int, skipped: list, held_out=frozenset()) -> list:
    """The structures of `data.extra_train_path` (all, or `extra_train_n` drawn with `seed`):
    training structures only (e.g. GFN1 frames for multi-fidelity training or replay).
    Structures of a molecule (`mol_id`) in `held_out` (the validation and test molecules)
    are left out and recorded in `skipped`: they would leak those molecules into training."""
    path = data_config.get("extra_train_path") or ""
    if not path:
        return []
    structures = read(_existing(path, "extra_train_path"), data_config, skipped=skipped)
    leaked = [s for s in structures if s.mol_id is not None and s.mol_id in held_out]
    if leaked:
        log.warning(
            "%s: left out %d extra training structure(s) of validation/test molecules",
            path,
            len(leaked),
        )
        skipped.extend(
            (s.name, f"data.extra_train_path: molecule {s.mol_id} is in the validation/test split")
            for s in leaked
        )
        structures = [s for s in structures if s.mol_id is None or s.mol_id not in held_out]
    n = data_config.get("extra_train_n") or 0
    if n > len(structures):
        raise ValueError(
            f"{path}: data.extra_train_n={n} but the file has {len(structures)} structures; "
            f"set --config.data.extra_train_n={len(structures)} or 0 (all)"
        )
    if n:
        keep = np.sort(np.random.default_rng(seed).choice(len(structures), n, replace=False))
        structures = [structures[i] for i in keep]
    return structures


def level_names(data_config) -> tuple[str, ...]:
    """The run's levels of theory: `data.levels` ("dft,gfn1"), or the one level of
    `data.energy_key`. The first is the default level, the one `energy_key` names."""
    default = level_of_key(data_config.energy_key)
    names = tuple(x.strip() for x in (data_config.get("levels") or "").split(",") if x.strip())
    if not names:
        return (default,)
    if names[0] != default:
        raise ValueError(
            f"data.levels={data_config.levels!r} starts with {names[0]!r}, but data.energy_key="
            f"{data_config.energy_key!r} is the level {default!r}: the first level is the default "
            f"one, read from energy_key/forces_key; put {default!r} first"
        )
    unknown = [x for x in names[1:] if x not in LEVEL_KEYS]
    if unknown or len(set(names)) != len(names):
        raise ValueError(
            f"data.levels={data_config.levels!r}: the other levels must be distinct names of "
            f"{sorted(LEVEL_KEYS)} (their labels: {LEVEL_KEYS})"
        )
    return names


def read_train_indices(data_config, n_structures: int) -> np.ndarray | None:
    """The sorted indices of `data.train_indices` (None when it is empty); one-line errors
    naming the file for a missing file, a bad entry, an index out of range, or n_train set too."""
    path = data_config.get("train_indices") or ""
    if not path:
        return None
    _existing(path, "train_indices")
    text = "\n".join(line.split("#")[0] for line in open(path, encoding="utf-8"))
    tokens = text.replace(",", " ").split()
    try:
        indices = np.asarray([int(t) for t in tokens], np.int64)
    except ValueError:
        bad = next(t for t in tokens if not t.lstrip("-").isdigit())
        raise ValueError(
            f"{path}: {bad!r} is not a structure index (data.train_indices: 0-based integers)"
        ) from None
    if not len(indices):
        raise ValueError(f"{path}: no structure indices (data.train_indices)")
    if indices.min() < 0 or indices.max() >= n_structures:
        wrong = indices[(indices < 0) | (indices >= n_structures)][:5].tolist()
        raise ValueError(
            f"{path}: indices {wrong} are outside 0…{n_structures - 1}, the structures read from "
            f"{data_config.train_path} (data.train_indices)"
        )
    if data_config.get("n_train"):
        raise ValueError(
            f"{path}: data.train_indices and data.n_train={data_config.n_train} both choose the "
            f"training structures; set --config.data.n_train=0"
        )
    return np.unique(indices)


def _existing(path: str, setting: str) -> str:
    """`path`, or a one-line error naming the config field that gave it."""
    if not path:
        raise ValueError(f"data.{setting} is empty: set --config.data.{setting}=FILE")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path}: no such file (data.{setting}; set --config.data.{setting}=FILE)"
        )
    return path


def split_by(structures, data_config) -> str:
    """`data.split_by`, except that a file of one molecule falls back to "structure" (with a
    one-line warning): a molecule-disjoint split of one molecule has no validation set, and
    held-out conformers of that molecule are what such a data set (an MD trajectory) can offer."""
    by = data_config.split_by
    if by != "mol_id" or len(structures) < 2 or n_groups(structures, by) >= 2:
        return by
    s, name = structures[0], formula(structures[0].atomic_numbers)
    # The readers fall back from mol_id to SMILES to the chemical formula (ASE's order).
    which = (
        f"mol_id {s.mol_id!r}"
        if s.mol_id is not None and Counter(s.mol_id) != Counter(name)
        else f"{name}, no mol_id or SMILES in the file"
    )
    print(
        f"warning: {data_config.train_path}: all {len(structures)} structures are one "
        f"molecule ({which}), "
        "so a molecule-disjoint split has no validation set; validating on held-out "
        "structures instead "
        f"(--config.data.split_by=structure says so and silences this)",
        file=sys.stderr,
        flush=True,
    )
    return "structure"


def _split_advice(err: SplitError, path: str, n_structures: int, fractions) -> str:
    """One line: why the split cannot be made and the override that makes it."""
    share = f"{fractions[('train', 'val', 'test').index(err.split)]:.0%}"
    what = f"{err.n_groups} molecules" if err.by == "mol_id" else f"{n_structures} structures"
    fixes = (
        ["--config.data.split_by=structure (held-out conformers instead of molecules)"]
        if err.by == "mol_id"
        else []
    )
    if err.split in ("val", "test"):
        fixes.append(
            f"--config.data.{err.split}_fraction=" + ("0" if err.split == "test" else "<larger>")
        )
    fixes.append("--config.data.val_path=FILE")
    return (
        f"{path}: {what} are too few for a {err.split} split of {share} (split_by={err.by}): "
        f"set {' or '.join(fixes)}"
    )


def load_splits(data_config, cutoff: float, seed: int) -> DataSplits:
    """`split_structures`, as graphs with neighbour lists of `cutoff` (Å)."""
    splits = split_structures(data_config, seed)

    other_levels = level_names(data_config)[1:]

    def graphs(structures):
        return structures_to_graphs(
            structures,
            cutoff,
            energy_key=data_config.energy_key,
            forces_key=data_config.forces_key,
            other_levels=other_levels,
        )

    return DataSplits(
        train=graphs(splits.train),
        val=graphs(splits.val),
        test=graphs(splits.test),
        train_names=[s.name for s in splits.train],
        skipped=splits.skipped,
        extra_tests={name: graphs(s) for name, s in splits.extra_tests.items()},
    )


def extra_test_paths(data_config) -> dict[str, str]:
    """`data.extra_tests` = "name=path,name=path": more test sets, scored like `test`."""
    spec = data_config.get("extra_tests") or ""
    out = {}
    for item in filter(None, (x.strip() for x in spec.split(","))):
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"data.extra_tests: {item!r} is not name=path")
        out[name.strip()] = path.strip()
    return out
