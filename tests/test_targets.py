"""The target registry: a target added in one place (`targets.register`) flows through graphs,
statistics, the model's heads, the loss, metrics, checkpoints and the model file."""

import json
from pathlib import Path

import numpy as np
import pytest

from orbjax import targets
from orbjax.config import load_config_module
from orbjax.data.graphs import structure_to_graph
from orbjax.data.structures import Structure
from orbjax.model.build import model_config
from orbjax.model.statistics import Statistics

ONE_ELEMENT = Statistics(species=(1,), atomic_energies=(0.0,))

ROOT = Path(__file__).resolve().parents[1]
TOY = "toy_charges"


@pytest.fixture
def toy_target():
    """Twice the DFT charges of the example file, as a new per-atom target."""

    def node_label(s):
        values, mask = targets.masked_label(s.labels.get("dft_charges"), (s.n_atoms,))
        return 2 * values, mask

    targets.register(
        targets.Target(
            TOY, "atom", f"{TOY}_mask", "me", 1e3, ("Toy", "q", "e"), node_label=node_label
        )
    )
    yield
    del targets.TARGETS[TOY]


def _config():
    config = load_config_module(str(ROOT / "configs" / "test.py")).get_config()
    config.data.limit = 16
    config.train.num_steps = 6
    config.train.eval_every = 3
    config.train.checkpoint_every = 3
    config.train.eval_at_start = True
    config.train.n_buckets = 1
    return config


def test_a_registered_target_trains_end_to_end(toy_target, tmp_path):
    from orbjax import load_potential
    from orbjax.training.loop import train_and_evaluate

    water = Structure(
        [8, 1, 1],
        [[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]],
        name="w",
        labels={"dft_charges": np.array([-0.8, 0.4, 0.4])},
    )
    graph = structure_to_graph(water, cutoff=3.0)
    assert (
        graph.nodes[TOY].tolist() == pytest.approx([-1.6, 0.8, 0.8])
        and graph.nodes[f"{TOY}_mask"].all()
    )

    config = _config()
    config.loss.weights[TOY] = 1.0
    config.model.heads = (TOY,)
    final = train_and_evaluate(config, str(tmp_path))
    assert np.isfinite(final[f"{TOY}_mae"]) and final[f"{TOY}_mae"] > 0
    stats = json.loads((tmp_path / "statistics.json").read_text())
    assert TOY in dict(stats["aux_means"]) and TOY in dict(stats["aux_scales"])
    rows = (tmp_path / "metrics.csv").read_text()
    assert f"mse_{TOY}" in rows and f"{TOY}_mae" in rows
    # The head exists in the trained parameters and is left out at inference.
    potential = load_potential(str(tmp_path / "model.orbjax"))
    assert any(TOY in str(k) for k in potential.params["params"]), list(potential.params["params"])
    assert potential.model.config.heads == (TOY,)


def test_weighted_target_without_head_is_an_error_naming_the_fix():
    config = _config()
    config.loss.weights.spd_populations = 1.0  # test.py has no heads
    with pytest.raises(ValueError, match=r"spd_populations.*model\.heads"):
        model_config(config, ONE_ELEMENT)
    config.loss.weights["no_such_target"] = 1.0
    with pytest.raises(ValueError, match="unknown targets"):
        model_config(config, ONE_ELEMENT)


def test_configs_saved_before_model_heads_keep_their_heads():
    """Old run configs had no model.heads: one head per weighted auxiliary target."""
    config = _config()
    del config.model["heads"]
    config.loss.weights.orbital_populations = 100.0
    assert model_config(config, ONE_ELEMENT).heads == ("orbital_populations",)


def test_registry_is_consistent():
    for name, target in targets.TARGETS.items():
        assert target.name == name
        assert target.reference == (name in ("energy", "forces", "stress"))
    assert set(targets.metric_units()) >= set(targets.TARGETS)
    with pytest.raises(ValueError, match="node_label"):
        targets.Target("bad", "atom", "bad_mask", "me", 1e3, ("", "", ""))
