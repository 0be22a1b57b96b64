"""The shipped pretrained model: it loads by name, its card's validation errors are what it
gives on the shipped validation structures, and it is a starting point for fine-tuning."""
from __future__ import annotations

import json

import pytest

import orbjax
from orbjax import pretrained
from orbjax.data.dataset import read_dataset
from orbjax.evaluation import compute_metrics, predict_structures
from orbjax.model.io import load_model_file

NAMES = pretrained.available()
ELEMENTS = {"H": 1, "C": 6, "N": 7, "O": 8}


def test_a_model_is_shipped():
    assert "chno-gfn1" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_the_card_numbers_are_what_the_shipped_model_gives(name):
    card = json.loads((pretrained.HERE / f"{name}.json").read_text())
    structures, _ = read_dataset(pretrained.validation_path(name))
    metrics, _ = compute_metrics(predict_structures(load_model_file(pretrained.model_path(name)), structures))
    for key, value in card["validation"].items():
        if key != "n_structures":
            assert metrics[key] == pytest.approx(value, rel=1e-4), key
    assert card["validation"]["n_structures"] == len(structures)
    potential = orbjax.load_pretrained(name)
    assert potential.level_name == card["level"]
    assert potential.statistics.species == tuple(ELEMENTS[e] for e in card["elements"])


def test_an_unknown_name_lists_the_shipped_ones():
    with pytest.raises(FileNotFoundError, match="shipped: chno-gfn1"):
        orbjax.load_pretrained("no-such-model")
