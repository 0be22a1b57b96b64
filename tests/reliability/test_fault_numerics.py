"""Numerical faults: a NaN loss/gradient never reaches the parameters (skip or stop), bad
training structures are left out and named, and SCF failures are retried before recorded."""

import json
import re

import numpy as np
import pytest
from faultkit import BAD_FRAMES, example_frames, leaves_equal, poison, raw_checkpoint, tiny_config

from orbjax.data.structures import Structure
from orbjax.training.data import load_splits
from orbjax.training.loop import train_and_evaluate

POISONED_CALL = 5  # the 5th train step gets a NaN position
N_STEPS = 8


@pytest.fixture(scope="module")
def skip_run(tmp_path_factory):
    """8 steps on a file with bad frames (data.on_error="skip"), one poisoned step
    (nonfinite="skip")."""
    tmp = tmp_path_factory.mktemp("skip_run")
    frames = example_frames()[:12]
    frames[3:3] = [BAD_FRAMES["overlap"][0]]  # → mixed.extxyz:3
    frames[7:7] = [BAD_FRAMES["Z=0"][0]]  # → mixed.extxyz:7
    path = tmp / "mixed.extxyz"
    path.write_text("".join(frames) + BAD_FRAMES["truncated"][0])  # → mixed.extxyz:14
    config = tiny_config(path, N_STEPS, nonfinite="skip")
    config.data.on_error = "skip"
    with pytest.MonkeyPatch.context() as mp:
        steps = poison(mp, [POISONED_CALL])
        final = train_and_evaluate(config, str(tmp / "run"))
    return dict(config=config, workdir=tmp / "run", step=steps[0], final=final)


def test_skip_mode_drops_the_nonfinite_update_and_goes_on(skip_run):
    step = skip_run["step"]
    k = POISONED_CALL - 1
    assert step.calls == N_STEPS and step.finite == [i != k for i in range(N_STEPS)]
    assert leaves_equal(step.params_after[k], step.params_before[k])  # nothing applied
    # later steps learn
    assert not leaves_equal(step.params_after[k + 1], step.params_before[k + 1])
    _, state = raw_checkpoint(skip_run["workdir"])
    assert int(state["n_skipped"]) == 1
    assert all(
        np.isfinite(x).all() for x in _leaves(state["params"]) + _leaves(state["ema_params"])
    )
    assert all(np.isfinite(v) for v in skip_run["final"].values())


def test_skipped_update_still_counts_as_a_consumed_batch(skip_run):
    step, state = raw_checkpoint(skip_run["workdir"])
    assert step == N_STEPS and int(state["step"]) == N_STEPS


def test_bad_training_structures_are_left_out_and_named(skip_run):
    data = load_splits(
        skip_run["config"].data, skip_run["config"].model.cutoff, skip_run["config"].seed
    )
    reasons = dict(data.skipped)
    assert sorted(reasons) == ["mixed.extxyz:14", "mixed.extxyz:3", "mixed.extxyz:7"]
    assert "overlapping" in reasons["mixed.extxyz:3"] and "Z=0" in reasons["mixed.extxyz:7"]
    assert "truncated" in reasons["mixed.extxyz:14"]
    assert len(data.train) + len(data.val) == 12  # every good structure kept (limit 12)
    assert (skip_run["workdir"] / "final_metrics.json").exists()  # and the run trained on them


def test_training_records_skipped_structures_in_the_workdir(skip_run):
    lines = (skip_run["workdir"] / "skipped_structures.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["name"] for line in lines) == [
        "mixed.extxyz:14",
        "mixed.extxyz:3",
        "mixed.extxyz:7",
    ]


def test_bad_structure_stops_training_with_on_error_raise(tmp_path):
    frames = example_frames()[:12]
    frames[5] = BAD_FRAMES["nan"][0]
    (tmp_path / "bad.extxyz").write_text("".join(frames))
    config = tiny_config(tmp_path / "bad.extxyz")
    config.data.on_error = "raise"  # the default is "skip" (recorded in skipped_structures.jsonl)
    with pytest.raises(ValueError, match=r"bad\.extxyz:5.*non-finite"):
        load_splits(config.data, config.model.cutoff, config.seed)


def test_validation_element_unknown_to_the_training_split_is_named(tmp_path):
    """Without this check the model would silently treat sulfur as hydrogen (species 0)."""
    frames = example_frames()[:12]
    path = tmp_path / "sulfur.extxyz"
    config = tiny_config(path)
    config.data.split_by = "structure"
    path.write_text("".join(frames))
    val_names = _val_names(config)
    k = next(i for i, f in enumerate(frames) if f"sulfur.extxyz:{i}" in val_names and "\nO " in f)
    frames[k] = frames[k].replace("\nO ", "\nS ", 1)
    path.write_text("".join(frames))
    config.data.on_error = "raise"
    with pytest.raises(
        ValueError, match=rf"training split.* only: S \(Z=16\) in sulfur\.extxyz:{k}"
    ):
        load_splits(config.data, config.model.cutoff, config.seed)
    config.data.on_error = "skip"
    data = load_splits(config.data, config.model.cutoff, config.seed)
    assert [name for name, _ in data.skipped] == [f"sulfur.extxyz:{k}"]
    assert len(data.val) == len(val_names) - 1


def _val_names(config):
    from orbjax.data.splits import split_indices
    from orbjax.training.data import read

    structures = read(config.data.train_path, config.data, config.data.limit)
    f = config.data
    idx = split_indices(
        structures,
        fractions=(1 - f.val_fraction - f.test_fraction, f.val_fraction, f.test_fraction),
        seed=config.seed,
        by=f.split_by,
    )
    return {structures[i].name for i in idx[1]}


def test_stop_mode_raises_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    frames = example_frames()[:12]
    (tmp_path / "ok.extxyz").write_text("".join(frames))
    config = tiny_config(tmp_path / "ok.extxyz", N_STEPS, nonfinite="stop")
    steps = poison(monkeypatch, [3])
    with pytest.raises(
        FloatingPointError, match=r"step 3: non-finite.*not applied.*stopping.*checkpoint is intact"
    ):
        train_and_evaluate(config, str(tmp_path / "run"))
    step = steps[0]
    assert step.calls == 3 and step.finite == [True, True, False]
    assert leaves_equal(step.params_after[2], step.params_before[2])
    saved, state = raw_checkpoint(tmp_path / "run")
    assert saved == 2 and int(state["step"]) == 2
    assert leaves_equal(state["params"], step.params_after[1])  # exactly the state after step 2
    assert sorted(
        int(p.name)
        for p in (tmp_path / "run" / "checkpoints" / "latest").iterdir()
        if p.name.isdigit()
    ) == [2]


# ----------------------------------------------------------------------------- SCF retries
def test_scf_failure_is_retried_with_damping_then_recorded(monkeypatch):
    """The worker function of the labelling job, with tblite failing on a schedule."""
    from tblite.exceptions import TBLiteRuntimeError

    import orbjax.labels.xtb as xtb
    from orbjax.labels.runner import _failure_lines, _label_chunk

    water = [[0.0, 0.0, 0.119], [0.0, 0.763, -0.477], [0.0, -0.763, -0.477]]
    names = ["easy", "slow", "stubborn"]
    structures = [
        Structure([8, 1, 1], np.array(water) + 0.01 * i, name=n) for i, n in enumerate(names)
    ]
    real, calls = xtb._singlepoint, []

    def flaky(s, method, save_integrals, max_iter, damping):
        calls.append((s.name, max_iter, damping))
        if s.name == "stubborn" or (s.name == "slow" and damping is None):
            raise TBLiteRuntimeError(f"SCF not converged in {max_iter} cycles")
        return real(s, method, save_integrals, max_iter, damping)

    monkeypatch.setattr(xtb, "_singlepoint", flaky)
    done = _label_chunk([0, 1, 2], structures, "GFN1-xTB", True)
    schedule = [(250, None)] + [(n, d) for d, n in xtb.DEFAULT_RETRIES]
    assert [c[1:] for c in calls if c[0] == "easy"] == schedule[:1]
    assert [c[1:] for c in calls if c[0] == "slow"] == schedule[:2]
    assert [c[1:] for c in calls if c[0] == "stubborn"] == schedule
    monkeypatch.setattr(xtb, "_singlepoint", real)
    reference = xtb.label_structure(structures[1])
    # the damped retry converges to the same SCF solution (within its convergence threshold)
    np.testing.assert_allclose(done[1].labels["xtb_energy"], reference["xtb_energy"], atol=1e-6)
    np.testing.assert_allclose(
        done[1].labels["xtb_orbital_populations"], reference["xtb_orbital_populations"], atol=1e-4
    )
    assert done[0].reason is None and done[1].reason is None
    record = json.loads(_failure_lines(done, positions=[0, 1, 2])[0])  # input-file positions
    assert record["index"] == 2 and record["name"] == "stubborn"
    assert re.fullmatch(
        r"SCF not converged \(max-iter 250 damping default, max-iter 500 damping 0.2, "
        r"max-iter 1000 damping 0.05\)",
        record["reason"],
    ), record


def _leaves(tree):
    import jax

    return jax.tree.leaves(tree)
