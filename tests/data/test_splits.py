"""Molecule-disjoint, deterministic, nested splits."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbjax.data.splits import formula, split_indices
from orbjax.data.structures import Structure


def mol_ids(n_mol=60, seed=0):
    """Molecules with 1–6 conformers each, shuffled so a molecule's structures are scattered."""
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"m{k}" for k in range(n_mol)], rng.integers(1, 7, n_mol))
    return list(rng.permutation(ids))


def check_partition(ids, train, val, test):
    everything = np.concatenate([train, val, test])
    assert sorted(everything.tolist()) == list(range(len(ids)))  # each structure exactly once
    sets = [{ids[i] for i in part} for part in (train, val, test)]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2]), (
        "a molecule is in two splits"
    )


@settings(max_examples=20, deadline=None)
@given(st.integers(20, 80), st.integers(0, 10**6))
def test_molecule_disjoint_cover_everything_once(n_mol, seed):
    ids = mol_ids(n_mol, seed)
    train, val, test = split_indices(ids, seed=seed)
    check_partition(ids, train, val, test)
    # Sizes within a molecule (≤ 6 structures) of the 80/10/10 targets.
    for part, frac in zip((train, val, test), (0.8, 0.1, 0.1)):
        assert abs(len(part) - frac * len(ids)) <= 6


def test_deterministic_and_seed_dependent():
    ids = mol_ids()
    a = split_indices(ids, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, split_indices(ids, seed=1)))
    assert not np.array_equal(a[1], split_indices(ids, seed=2)[1])


def test_nested_n_train():
    ids = mol_ids()
    train_full, val, test = split_indices(ids, seed=3)
    previous = set()
    for n in (5, 20, 50, len(train_full)):
        train, val_n, test_n = split_indices(ids, seed=3, n_train=n)
        assert len(train) == n and previous <= set(train.tolist()) <= set(train_full.tolist())
        assert np.array_equal(val_n, val) and np.array_equal(test_n, test)  # evaluation sets fixed
        previous = set(train.tolist())
    with pytest.raises(ValueError, match="n_train"):
        split_indices(ids, seed=3, n_train=len(train_full) + 1)


def test_sizes_and_by_structure():
    ids = ["same"] * 50  # one molecule: only a per-structure split is possible
    train, val, test = split_indices(ids, sizes=(30, 10, 5), by="structure", seed=0)
    assert (len(train), len(val), len(test)) == (30, 10, 5)
    assert len(set(np.concatenate([train, val, test]).tolist())) == 45
    with pytest.raises(ValueError, match="empty"):
        split_indices(ids, by="mol_id")


def test_structures_without_mol_id_are_grouped_by_formula():
    water = [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]
    ammonia = [[0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]
    structures = []
    for k in range(40):
        z, pos = ([8, 1, 1], water) if k % 2 else ([7, 1, 1, 1], ammonia)
        mol_id = None if k < 20 else f"other{k // 4}"
        structures.append(
            Structure(z, np.asarray(pos) * (1 + 0.01 * k), name=f"s{k}", mol_id=mol_id)
        )
    keys = [s.mol_id or formula(s.atomic_numbers) for s in structures]
    assert formula(np.array([8, 1, 1])) == "H2O" and formula(np.array([6, 1, 1, 1, 8, 1])) == "CH4O"
    for seed in range(5):
        check_partition(keys, *split_indices(structures, fractions=(0.6, 0.2, 0.2), seed=seed))


def test_subsample_seed_keeps_the_evaluation_sets_and_redraws_the_training_subsample():
    ids = mol_ids()
    base = split_indices(ids, seed=0, n_train=20, subsample_seed=0)
    other = split_indices(ids, seed=0, n_train=20, subsample_seed=1)
    assert np.array_equal(base[1], other[1]) and np.array_equal(base[2], other[2])  # val/test fixed
    assert not np.array_equal(base[0], other[0])  # the training draw changes with the run's seed
    full_train = split_indices(ids, seed=0)[0]
    assert set(other[0].tolist()) <= set(full_train.tolist())
    assert set(other[0].tolist()) <= set(
        split_indices(ids, seed=0, n_train=40, subsample_seed=1)[0].tolist()
    )
