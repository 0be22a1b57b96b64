"""Fine-tuning from a model file: weights loaded, reference energies refitted, frozen parts
fixed, other elements refused, a checkpoint wins over init.model."""

from __future__ import annotations

import csv
from pathlib import Path

import jax
import numpy as np
import pytest

import orbjax
from orbjax.config import load_config_module
from orbjax.data.dataset import read_dataset, write_dataset
from orbjax.data.readers import CHNO_KEYS, example_path, read_structures
from orbjax.labels.runner import label_structures
from orbjax.training.loop import train_and_evaluate

ROOT = Path(__file__).resolve().parents[2]
# eV per element: a "DFT" that is GFN1 plus a composition term
OFFSETS = {1: -0.37, 6: 2.1, 7: -1.3, 8: 0.8}


def _config(train_path, steps):
    config = load_config_module(str(ROOT / "configs" / "test.py")).get_config()
    config.data.train_path = str(train_path)
    config.data.key_preset = "default"
    config.train.num_steps = steps
    config.train.eval_every = config.train.checkpoint_every = config.train.log_every = steps
    config.train.n_buckets = 1
    return config


def _step0_energy_mae(workdir) -> float:
    rows = [r for r in csv.DictReader(open(Path(workdir) / "metrics.csv")) if r["split"] == "val"]
    return float(
        next(r for r in rows if int(r["step"]) == 0 and r["metric"] == "energy_mae")["value"]
    )


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny model trained on the GFN1 labels of the example file, and a 'DFT' data set
    it knows exactly: the same structures labelled with the model's own energies plus
    per-element offsets (a composition term, what a change of level of theory is to first
    order) and its own forces."""
    folder = tmp_path_factory.mktemp("finetune")
    gfn1 = folder / "gfn1.h5"
    label_structures(
        read_structures(example_path(), keys=CHNO_KEYS),
        gfn1,
        n_workers=1,
        orbitals=False,
        progress=False,
    )
    config = _config(gfn1, 30)
    config.data.energy_key, config.data.forces_key = "xtb_energy", "xtb_forces"
    final = train_and_evaluate(config, str(folder / "base"))
    potential = orbjax.load_potential(folder / "base" / "model.orbjax")
    twin = []
    for s in read_dataset(gfn1)[0]:
        out = potential.energy_forces_stress(s.positions, s.atomic_numbers)
        energy = float(out["energy"]) + sum(OFFSETS[int(z)] for z in s.atomic_numbers)
        twin.append(
            s.replace(
                labels={"energy": np.asarray(energy), "forces": np.asarray(out["forces"], float)}
            )
        )
    write_dataset(folder / "dft_like.h5", twin)
    return folder, final


def test_finetuning_starts_where_the_pretrained_model_is_after_the_reference_energy_refit(
    pretrained, tmp_path
):
    """Step 0 of fine-tuning is the file's model with refitted E0s: on data it reproduces up
    to per-element offsets the error is ~0; a scratch model starts far away."""
    folder, _ = pretrained
    config = _config(folder / "dft_like.h5", 4)
    config.init.model = str(folder / "base" / "model.orbjax")
    config.init.freeze = ("network/embedding",)
    config.model.channels = 4  # ignored: the architecture is the file's
    train_and_evaluate(config, str(tmp_path / "ft"))
    start = _step0_energy_mae(tmp_path / "ft")
    assert start < 0.5  # meV/atom: float32 round-off of ~3×10³ eV totals
    scratch = _config(folder / "dft_like.h5", 4)
    train_and_evaluate(scratch, str(tmp_path / "scratch"))
    scratch_start = _step0_energy_mae(tmp_path / "scratch")
    assert scratch_start > 1.0 and scratch_start > 10 * start, (scratch_start, start)
    # frozen parts do not move; the rest does; the statistics are the file's but the E0s
    before, after = (
        orbjax.load_potential(config.init.model),
        orbjax.load_potential(tmp_path / "ft" / "model.orbjax"),
    )
    assert after.model.config.channels == before.model.config.channels
    for a, b in zip(
        jax.tree.leaves(before.variables["params"]["network"]["embedding"]),
        jax.tree.leaves(after.variables["params"]["network"]["embedding"]),
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    moved = [
        np.abs(np.asarray(a) - np.asarray(b)).max()
        for a, b in zip(
            jax.tree.leaves(before.variables["params"]["energy_readout"]),
            jax.tree.leaves(after.variables["params"]["energy_readout"]),
        )
    ]
    assert max(moved) > 0
    s0, s1 = before.statistics, after.statistics
    assert s1.levels == ("dft",) and s0.levels == ("gfn1",)
    assert s1.energy_scale == s0.energy_scale and s1.avg_num_neighbors == s0.avg_num_neighbors
    shift = np.array(s1.atomic_energies[0]) - np.array(s0.atomic_energies[0])
    np.testing.assert_allclose(shift, [OFFSETS[z] for z in s0.species], atol=2e-3)


def test_data_with_other_elements_is_refused_by_name(pretrained, tmp_path):
    folder, _ = pretrained
    structures, _ = read_dataset(folder / "dft_like.h5")
    sulphur = [
        s.replace(atomic_numbers=np.where(s.atomic_numbers == 8, 16, s.atomic_numbers))
        for s in structures
    ]
    write_dataset(tmp_path / "other.h5", sulphur)
    config = _config(tmp_path / "other.h5", 2)
    config.init.model = str(folder / "base" / "model.orbjax")
    with pytest.raises(
        ValueError, match=r"S \(Z=16\), which the model of init.model does not know"
    ):
        train_and_evaluate(config, str(tmp_path / "ft"))


def test_an_unknown_model_name_lists_the_shipped_ones(tmp_path):
    config = _config(example_path(), 2)
    config.init.model = "no-such-model"
    with pytest.raises(FileNotFoundError, match="nor a shipped model"):
        train_and_evaluate(config, str(tmp_path / "ft"))


def test_replaying_the_pretraining_level_keeps_its_readout_and_reference_energies(
    pretrained, tmp_path
):
    """Fine-tuning on DFT with GFN1 frames replayed (`data.levels="dft,gfn1"`,
    `extra_train_path`): the GFN1 level starts from the file's readout and keeps the file's
    reference energies exactly; the DFT level is refitted as without replay."""
    folder, _ = pretrained
    gfn1_only = [  # pretraining frames carry GFN1 labels only
        s.replace(labels={k: v for k, v in s.labels.items() if k not in ("energy", "forces")})
        for s in read_dataset(folder / "gfn1.h5")[0]
    ]
    write_dataset(tmp_path / "gfn1_only.h5", gfn1_only)
    config = _config(folder / "dft_like.h5", 2)
    config.init.model = str(folder / "base" / "model.orbjax")
    config.init.freeze = ("energy_readout_gfn1",)
    config.data.levels = "dft,gfn1"
    config.data.extra_train_path = str(tmp_path / "gfn1_only.h5")
    config.data.extra_train_n = 10
    config.loss.weights.energy_gfn1 = 1.0
    config.loss.weights.forces_gfn1 = 1.0
    train_and_evaluate(config, str(tmp_path / "ft"))
    trained_on = {
        r["metric"]
        for r in csv.DictReader(open(tmp_path / "ft" / "metrics.csv"))
        if r["split"] == "train"
    }
    assert {"mse_energy_gfn1", "mse_forces_gfn1"} <= trained_on  # the replayed level trains
    before = orbjax.load_potential(config.init.model)
    after = orbjax.load_potential(tmp_path / "ft" / "model.orbjax")
    s0, s1 = before.statistics, after.statistics
    assert s1.levels == ("dft", "gfn1")
    assert s1.atomic_energies[1] == s0.atomic_energies[0]
    assert s1.energy_scale == (s0.energy_scale[0],) * 2
    shift = np.array(s1.atomic_energies[0]) - np.array(s0.atomic_energies[0])
    np.testing.assert_allclose(shift, [OFFSETS[z] for z in s0.species], atol=2e-3)
    for a, b in zip(
        jax.tree.leaves(before.variables["params"]["energy_readout"]),
        jax.tree.leaves(after.variables["params"]["energy_readout_gfn1"]),
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
