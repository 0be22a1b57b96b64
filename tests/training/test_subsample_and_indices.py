"""data.subsample_seed (committee members share or not share their training subsample) and
data.train_indices (train on a chosen list of structures: active learning)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orbjax.config import load_config_module
from orbjax.training.data import read, split_structures

ROOT = Path(__file__).resolve().parents[2]


def _config(**data):
    config = load_config_module(str(ROOT / "configs" / "test.py")).get_config()
    config.data.train_path = str(ROOT / config.data.train_path)
    config.data.split_seed = 0  # the same validation molecules for every seed
    for key, value in data.items():
        config.data[key] = value
    return config


def _names(config, seed):
    splits = split_structures(config.data, seed)
    return [s.name for s in splits.train], [s.name for s in splits.val]


def test_subsample_seed_draws_the_subsample_and_seed_keeps_the_rest():
    by_seed = _config(n_train=10)
    # default (-1): `seed` draws it, as before
    assert _names(by_seed, 0)[0] != _names(by_seed, 1)[0]
    shared = _config(n_train=10, subsample_seed=7)
    a, b = _names(shared, 0), _names(shared, 1)  # two committee members, one subsample
    assert a == b and len(a[0]) == 10
    # another subsample seed: other data
    assert _names(_config(n_train=10, subsample_seed=8), 0)[0] != a[0]
    assert _names(by_seed, 7)[0] == a[0]  # subsample_seed=s is what seed=s drew before
    assert _names(by_seed, 0)[1] == a[1]  # validation unchanged


def test_train_indices_trains_on_exactly_those_structures(tmp_path):
    config = _config()
    structures = read(config.data.train_path, config.data)
    _, val = _names(config, 0)
    free = [i for i, s in enumerate(structures) if s.name not in set(val)]
    chosen = free[1:6] + [free[8]]
    path = tmp_path / "chosen.txt"
    path.write_text("# picked by orbjax.select\n" + "\n".join(map(str, chosen[::-1])) + "\n")
    train, val_again = _names(_config(train_indices=str(path)), 0)
    assert train == [structures[i].name for i in chosen] and val_again == val
    for seed in (0, 3):  # the initialisation seed does not change the list
        assert _names(_config(train_indices=str(path), split_seed=0), seed)[0] == train


def test_train_indices_errors_name_the_file(tmp_path):
    config = _config()
    n = len(read(config.data.train_path, config.data))
    _, val = _names(config, 0)
    in_val = next(
        i for i, s in enumerate(read(config.data.train_path, config.data)) if s.name in set(val)
    )
    cases = [
        ("0 1 x", "'x' is not a structure index"),
        (f"0 {n}", re.escape(f"indices [{n}] are outside 0…{n - 1}")),
        (str(in_val), "validation/test split"),
        ("", "no structure indices"),
    ]
    for text, message in cases:
        path = tmp_path / "i.txt"
        path.write_text(text)
        with pytest.raises(ValueError, match=message) as err:
            split_structures(_config(train_indices=str(path)).data, 0)
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    path.write_text("0 1")
    with pytest.raises(ValueError, match="n_train=5 both"):
        split_structures(_config(train_indices=str(path), n_train=5).data, 0)
    with pytest.raises(FileNotFoundError, match="data.train_indices"):
        split_structures(_config(train_indices=str(tmp_path / "none.txt")).data, 0)
