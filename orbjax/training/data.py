"""From config to train/val/test graphs (the only place training touches files)."""
from __future__ import annotations

import dataclasses

import numpy as np

from orbjax.data.graphs import structures_to_graphs
from orbjax.data import readers
from orbjax.data.readers import KeyMap, read_structures
from orbjax.data.splits import split_indices


@dataclasses.dataclass
class DataSplits:
    train: list  # numpy jraph.GraphsTuple per structure
    val: list
    test: list
    train_names: list[str]


PRESETS = readers.KEY_PRESETS


def key_map(data_config) -> KeyMap:
    """A named key preset (default, chno, comp6) with `key_overrides` applied."""
    if data_config.key_preset not in PRESETS:
        raise ValueError(f"data.key_preset must be one of {sorted(PRESETS)}, not {data_config.key_preset!r}")
    overrides = dict(data_config.get("key_overrides") or {})
    return PRESETS[data_config.key_preset].replace(**overrides)


def read(path: str, data_config, limit: int | None = None):
    structures = read_structures(path, keys=key_map(data_config))
    return structures[:limit] if limit else structures


def load_splits(data_config, cutoff: float, seed: int) -> DataSplits:
    """Read the data, split it (molecule-disjoint by default) and build graphs."""
    graph_kw = dict(energy_key=data_config.energy_key, forces_key=data_config.forces_key)
    structures = read(data_config.train_path, data_config, data_config.get("limit"))
    if data_config.get("val_path"):
        train_idx = np.arange(len(structures))
        if data_config.get("n_train"):
            train_idx = split_indices(structures, fractions=(1.0, 0.0, 0.0), seed=seed,
                                      by=data_config.split_by, n_train=data_config.n_train)[0]
        train = [structures[i] for i in train_idx]
        val = read(data_config.val_path, data_config)
        test = read(data_config.test_path, data_config) if data_config.get("test_path") else []
    else:
        fractions = (1.0 - data_config.val_fraction - data_config.test_fraction,
                     data_config.val_fraction, data_config.test_fraction)
        idx = split_indices(structures, fractions=fractions, seed=seed, by=data_config.split_by,
                            n_train=data_config.get("n_train") or None)
        train, val, test = ([structures[i] for i in part] for part in idx)
    if not train or not val:
        raise ValueError(f"{data_config.train_path}: empty training or validation split "
                         f"({len(train)} train, {len(val)} val structures)")
    return DataSplits(
        train=structures_to_graphs(train, cutoff, **graph_kw),
        val=structures_to_graphs(val, cutoff, **graph_kw),
        test=structures_to_graphs(test, cutoff, **graph_kw),
        train_names=[s.name for s in train])
