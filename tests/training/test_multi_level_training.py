"""Training on several levels of theory at once: a batch mixing levels takes each level's loss
from its own labels only; a run with `data.levels` fits one set of statistics and one energy
readout per level, and its model predicts each level; bad level settings are one-line errors."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import orbjax
from orbjax.config import load_config_module
from orbjax.data.batching import PaddingBudget, pad_batch
from orbjax.data.dataset import read_dataset
from orbjax.data.graphs import structure_to_graph
from orbjax.data.readers import CHNO_KEYS, example_path, read_structures
from orbjax.labels.runner import label_structures
from orbjax.training.data import level_names, split_structures
from orbjax.training.loop import train_and_evaluate
from orbjax.training.losses import total_loss

ROOT = Path(__file__).resolve().parents[2]


def _structure(labels, seed):
    from orbjax.data.structures import Structure

    rng = np.random.default_rng(seed)
    positions = np.array([[0.0, 0, 0], [1.0, 0, 0], [0, 1.1, 0]]) + rng.normal(0, 0.05, (3, 3))
    return Structure([8, 1, 1], positions, name=f"water{seed}", labels=labels)


def test_a_batch_mixing_levels_takes_each_levels_loss_from_its_own_labels():
    rng = np.random.default_rng(0)
    dft_only = _structure({"energy": -10.0, "forces": rng.normal(size=(3, 3))}, 1)
    gfn1_only = _structure({"xtb_energy": -5.0, "xtb_forces": rng.normal(size=(3, 3))}, 2)
    graphs = [structure_to_graph(s, 3.0, other_levels=("gfn1",)) for s in (dft_only, gfn1_only)]
    batch = pad_batch(graphs, PaddingBudget(8, 16, 3))
    n_nodes = len(batch.nodes["positions"])

    def loss_terms(energy_pred, gfn1_pred, forces_pred, gfn1_forces_pred):
        predictions = {
            "energy": jnp.asarray(energy_pred),
            "energy_gfn1": jnp.asarray(gfn1_pred),
            "forces": jnp.asarray(forces_pred),
            "forces_gfn1": jnp.asarray(gfn1_forces_pred),
        }
        weights = {"energy": 1.0, "forces": 1.0, "energy_gfn1": 1.0, "forces_gfn1": 1.0}
        return total_loss(batch, predictions, weights)[1]

    forces, gfn1_forces = rng.normal(size=(n_nodes, 3)), rng.normal(size=(n_nodes, 3))
    terms = loss_terms([-9.0, 7.0, 0.0], [123.0, -4.0, 0.0], forces, gfn1_forces)
    # energy per atom, each level from the one structure that carries it
    np.testing.assert_allclose(terms["energy"], ((-9.0 + 10.0) / 3) ** 2, rtol=1e-6)
    np.testing.assert_allclose(terms["energy_gfn1"], ((-4.0 + 5.0) / 3) ** 2, rtol=1e-6)
    np.testing.assert_allclose(
        terms["forces"], np.mean((forces[:3] - dft_only.labels["forces"]) ** 2), rtol=1e-6
    )
    np.testing.assert_allclose(
        terms["forces_gfn1"],
        np.mean((gfn1_forces[3:6] - gfn1_only.labels["xtb_forces"]) ** 2),
        rtol=1e-6,
    )
    # what a structure lacks does not count: change those predictions, nothing moves
    moved_forces, moved_gfn1 = forces.copy(), gfn1_forces.copy()
    moved_forces[3:] += 10.0
    moved_gfn1[:3] += 10.0
    moved_gfn1[6:] += 10.0
    other = loss_terms([-9.0, 1e3, 5.0], [-1e3, -4.0, 5.0], moved_forces, moved_gfn1)
    for name in terms:
        np.testing.assert_allclose(other[name], terms[name], rtol=1e-6)


def _config(train_path, steps=6):
    config = load_config_module(str(ROOT / "configs" / "test.py")).get_config()
    config.data.train_path = str(train_path)
    config.data.key_preset = "default"
    config.train.num_steps = steps
    config.train.eval_every = config.train.checkpoint_every = config.train.log_every = steps
    config.train.n_buckets = 1
    return config


@pytest.fixture(scope="module")
def two_level_file(tmp_path_factory):
    """The example's DFT-labelled structures, GFN1-labelled too (no orbitals)."""
    path = tmp_path_factory.mktemp("levels") / "both.h5"
    structures = read_structures(example_path(), keys=CHNO_KEYS)
    label_structures(structures, path, n_workers=1, orbitals=False, progress=False)
    return path


def test_a_two_level_run_fits_each_level_and_its_model_predicts_each(two_level_file, tmp_path):
    config = _config(two_level_file)
    config.data.levels = "dft,gfn1"
    config.loss.weights.energy_gfn1 = 1.0
    config.loss.weights.forces_gfn1 = 10.0
    final = train_and_evaluate(config, str(tmp_path / "run"))
    assert "energy_gfn1_mae" in final and "forces_gfn1_mae" in final
    potential = orbjax.load_potential(tmp_path / "run" / "model.orbjax")
    gfn1 = orbjax.load_potential(tmp_path / "run" / "model.orbjax", level="gfn1")
    stats = potential.statistics
    assert stats.levels == ("dft", "gfn1") and stats.e0_source == ("least_squares",) * 2
    # the two levels' reference energies are each level's own fit (DFT ωB97X vs GFN1 differ
    # by hundreds of eV per heavy atom)
    assert np.abs(np.subtract(*stats.atomic_energies)).max() > 10.0
    s = read_dataset(two_level_file)[0][0]
    dft_energy = float(potential.energy_forces_stress(s.positions, s.atomic_numbers)["energy"])
    gfn1_energy = float(gfn1.energy_forces_stress(s.positions, s.atomic_numbers)["energy"])
    # each level lands near its own labels (per-atom error far below the levels' gap)
    gap = abs(float(s.labels["energy"]) - float(s.labels["xtb_energy"]))
    assert abs(dft_energy - float(s.labels["energy"])) < 0.1 * gap
    assert abs(gfn1_energy - float(s.labels["xtb_energy"])) < 0.1 * gap
    # evaluation scores the level asked for, against that level's labels
    from orbjax.evaluation import evaluate_model

    report = evaluate_model(
        str(tmp_path / "run" / "model.orbjax"),
        str(two_level_file),
        str(tmp_path / "ev"),
        plots=False,
        level="gfn1",
    )
    assert report["level"] == "gfn1"
    scored = np.load(tmp_path / "ev" / "predictions.npz")
    np.testing.assert_allclose(scored["energy_pred"][0], gfn1_energy, atol=1e-4)
    np.testing.assert_allclose(scored["energy_label"][0], float(s.labels["xtb_energy"]), atol=1e-6)
    # MD runs on the level asked for, and a run of one level does not resume at another
    import ase
    import ase.io

    from orbjax.md import main as md_main
    from tests.potential.test_dynamics import read_thermo

    start = ase.Atoms(numbers=s.atomic_numbers, positions=s.positions)
    ase.io.write(tmp_path / "start.extxyz", start)
    md = ["--model", str(tmp_path / "run" / "model.orbjax"), "--structure"]
    md += [str(tmp_path / "start.extxyz"), "--ensemble", "nve", "--interval", "1"]
    md += ["--steps", "1", "--out", str(tmp_path / "md"), "--no-progress"]
    assert md_main(md + ["--level", "gfn1"]) == 0
    thermo = read_thermo(tmp_path / "md" / "thermo.csv")
    np.testing.assert_allclose(thermo[0]["potential_energy_eV"], gfn1_energy, atol=1e-3)
    assert md_main(md + ["--steps", "2"]) != 0  # default level: refused, names the settings
    assert len(read_thermo(tmp_path / "md" / "thermo.csv")) == 2  # nothing lost


def test_extra_training_structures_and_repeats_enter_the_training_split_only(two_level_file):
    config = _config(example_path())
    config.data.key_preset = "chno"
    config.data.split_seed = 0
    plain = split_structures(config.data, seed=0)
    config.data.extra_train_path = str(two_level_file)
    config.data.extra_train_n = 5
    config.data.train_repeat = 3
    mixed = split_structures(config.data, seed=0)
    assert len(mixed.train) == 3 * len(plain.train) + 5
    assert [s.name for s in mixed.val] == [s.name for s in plain.val]
    assert [s.name for s in mixed.test] == [s.name for s in plain.test]
    # a shuffled-target control shuffles the extra structures' labels too
    config.data.shuffle_targets = "xtb_charges"
    shuffled = split_structures(config.data, seed=0)
    before, after = (
        (np.concatenate([s.labels["xtb_charges"] for s in x.train[-5:]]), x.train[-5:])
        for x in (mixed, shuffled)
    )
    assert [s.name for s in after[1]] == [s.name for s in before[1]]
    z = np.concatenate([s.atomic_numbers for s in after[1]])
    assert not np.allclose(before[0], after[0])
    for element in np.unique(z):
        np.testing.assert_allclose(
            np.sort(before[0][z == element]), np.sort(after[0][z == element])
        )
    config.data.shuffle_targets = ""
    config.data.extra_train_n = 10_000
    with pytest.raises(ValueError, match="extra_train_n=10000 but the file has"):
        split_structures(config.data, seed=0)


def test_level_weights_are_config_fields_of_the_command_line_and_of_sweeps():
    from orbjax.sweep import build_config
    from orbjax.train import parse

    config = parse(
        [
            "--config=configs/energy_only.py",
            "--config.data.levels=dft,gfn1",
            "--config.loss.weights.energy_gfn1=1",
            "--config.loss.weights.forces_gfn1=10",
        ]
    )[0]
    assert config.loss.weights.energy_gfn1 == 1.0 and config.loss.weights.forces_gfn1 == 10.0
    from orbjax.targets import LEVEL_KEYS, level_targets

    for level in LEVEL_KEYS:  # every level's weights are fields (0 unless asked for)
        assert set(level_targets(level)) <= set(config.loss.weights)
    spec = {
        "config_path": str(ROOT / "configs" / "energy_only.py"),
        "overrides": {"data.levels": "dft,gfn1", "loss.weights.forces_gfn1": 10.0},
    }
    assert build_config(spec).loss.weights.forces_gfn1 == 10.0


def test_an_element_without_a_levels_energy_labels_has_no_reference_energy_at_that_level():
    """DFT water and GFN1-only ammonia: N is known to the GFN1 level only; the DFT level
    refuses it (NaN E0) instead of predicting with E0 = 0."""
    from orbjax.data.structures import Structure
    from orbjax.model.statistics import compute_statistics

    rng = np.random.default_rng(1)
    waters = [
        _structure({"energy": -2080.0 + rng.normal(), "forces": np.zeros((3, 3))}, k)
        for k in range(3)
    ]
    ammonia = Structure(
        [7, 1, 1, 1],
        [[0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]],
        name="nh3",
        labels={"xtb_energy": -4.0, "xtb_forces": np.zeros((4, 3))},
    )
    graphs = [structure_to_graph(s, 3.0, other_levels=("gfn1",)) for s in waters + [ammonia]]
    stats = compute_statistics(graphs, level="dft", other_levels=("gfn1",))
    assert stats.known_species("dft") == (1, 8)
    assert stats.known_species("gfn1") == (1, 7)  # O: no GFN1-labelled structure
    assert np.isnan(stats.atomic_energies[0][stats.species.index(7)])


def test_bad_level_settings_are_one_line_errors(two_level_file, tmp_path):
    config = _config(two_level_file)
    config.loss.weights.energy_gfn1 = 1.0
    with pytest.raises(ValueError, match='--config.data.levels="dft,gfn1"'):
        train_and_evaluate(config, str(tmp_path / "a"))
    config.data.levels = "dft,gfn1"
    config.loss.weights.energy_gfn1 = 0.0
    with pytest.raises(ValueError, match="so it would fit nothing"):
        train_and_evaluate(config, str(tmp_path / "b"))
    config.data.levels = "gfn1,dft"
    with pytest.raises(ValueError, match="put 'dft' first"):
        level_names(config.data)
    config.data.levels = "dft,ccsd"
    with pytest.raises(ValueError, match="must be distinct names of"):
        level_names(config.data)
