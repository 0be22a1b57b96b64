"""Train/validation/test splits, molecule-disjoint by default.

Several conformers of one molecule in both train and test would measure interpolation
between near-duplicates, not generalisation, so `by="mol_id"` keeps every molecule in a
single split. Everything is a pure function of `seed`; the training subsample for learning
curves (`n_train`) is nested: a smaller `n_train` picks a subset of a larger one.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
from ase.data import chemical_symbols

from orbjax.data.structures import Structure


class SplitError(ValueError):
    """A split left empty: too few groups (molecules, or structures) for the fractions asked.

    Attributes: split ("train", "val" or "test"), n_groups, by, targets (structures per split).
    """

    def __init__(self, split: str, n_groups: int, by: str, targets):
        super().__init__(
            f"{split} split is empty: {n_groups} groups ({by}) are too few for {targets}"
        )
        self.split, self.n_groups, self.by, self.targets = split, n_groups, by, targets


def split_indices(
    items: Sequence[Structure] | Sequence[str | None],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    sizes: Sequence[int] | None = None,
    seed: int = 0,
    by: str = "mol_id",
    n_train: int | None = None,
    subsample_seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) sorted index arrays into `items`.

    Args:
      items: structures, or one molecule id per structure.
      fractions: target share of structures per split; must sum to 1.
      sizes: target number of structures per split instead (sum ≤ len(items); the rest
        is left out). With `by="mol_id"` sizes are met to within one molecule.
      seed: all randomness derives from it.
      by: "mol_id" (molecule-disjoint; a structure with mol_id None is grouped by its
        formula, a None id in a plain id list stands alone) or "structure".
      n_train: keep only this many training structures, nested across values.
      subsample_seed: seed of the `n_train` subsample (default `seed`). Learning curves fix
        `seed` (the same validation and test molecules for every run) and vary this one.
    """
    groups = _group_keys(items, by)
    targets = _targets(len(groups), fractions, sizes)
    rng = np.random.default_rng([seed, 0])
    unique, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    order = rng.permutation(len(unique))
    # Place each group where the middle of its run of structures falls among the targets.
    middle = np.cumsum(counts[order]) - counts[order] / 2
    split_of_group = np.empty(len(unique), np.int64)
    split_of_group[order] = np.searchsorted(np.cumsum(targets), middle, side="right")
    split_of_item = split_of_group[inverse]
    train, val, test = (np.flatnonzero(split_of_item == k) for k in range(3))
    for name, idx, target in zip(("train", "val", "test"), (train, val, test), targets):
        if target > 0 and len(idx) == 0:
            raise SplitError(name, len(unique), by, targets)
    if n_train is not None:
        train = _nested_subsample(
            train, n_train, seed if subsample_seed is None else subsample_seed
        )
    return train, val, test


def n_groups(items: Sequence[Structure] | Sequence[str | None], by: str = "mol_id") -> int:
    """How many groups `split_indices` would distribute over the splits (molecules for
    "mol_id": mol_id, else SMILES, else formula; structures for "structure")."""
    return len(set(_group_keys(items, by).tolist()))


def _group_keys(items, by: str) -> np.ndarray:
    if by == "structure":
        return np.arange(len(items)).astype(str)
    if by != "mol_id":
        raise ValueError(f"by must be 'mol_id' or 'structure', not {by!r}")
    keys = []
    for i, item in enumerate(items):
        if isinstance(item, Structure):
            keys.append(
                f"id:{item.mol_id}"
                if item.mol_id is not None
                else f"formula:{formula(item.atomic_numbers)}"
            )
        else:
            keys.append(f"id:{item}" if item is not None else f"alone:{i}")
    return np.array(keys, dtype=object).astype(str)


def formula(atomic_numbers: np.ndarray) -> str:
    """Hill formula (C, H, then alphabetical), e.g. "C2H6O"."""
    counts = Counter(chemical_symbols[int(z)] for z in atomic_numbers)
    first = [e for e in ("C", "H") if e in counts] if "C" in counts else []
    order = first + sorted(e for e in counts if e not in first)
    return "".join(f"{e}{counts[e] if counts[e] > 1 else ''}" for e in order)


def _targets(n: int, fractions, sizes) -> np.ndarray:
    """[3] target structure counts."""
    if sizes is not None:
        targets = np.asarray(sizes, np.float64)
        if len(targets) != 3 or (targets < 0).any() or targets.sum() > n:
            raise ValueError(f"sizes {tuple(sizes)} must be 3 non-negative counts summing to ≤ {n}")
        return targets
    fractions = np.asarray(fractions, np.float64)
    if len(fractions) != 3 or (fractions < 0).any() or abs(fractions.sum() - 1) > 1e-6:
        raise ValueError(
            f"fractions {tuple(fractions)} must be 3 non-negative numbers summing to 1"
        )
    return fractions * n


def _nested_subsample(train: np.ndarray, n_train: int, seed: int) -> np.ndarray:
    """First `n_train` of a fixed permutation of `train`: nested across `n_train`."""
    if not 0 < n_train <= len(train):
        raise ValueError(f"n_train={n_train} must be in 1…{len(train)} (the training split)")
    perm = np.random.default_rng([seed, 1]).permutation(len(train))
    return np.sort(train[perm[:n_train]])
