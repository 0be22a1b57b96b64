"""The MD-stability measurement (experiments/common/md_stability.py): events are found at the
frame they happen and only there, bonds come from covalent radii, and a stability run
reports consistent fields and is not redone when run again."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from scipy.spatial.transform import Rotation

import orbjax
from experiments.common.md_stability import (
    bonded_pairs,
    first_event,
    run_stability,
    summarise_run,
)
from experiments.common.stats import wilson_interval


def _water_frames(n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """n identical frames of a water molecule and its atomic numbers."""
    water = molecule("H2O")
    return np.repeat(water.positions[None], n, axis=0), water.numbers


def test_bonded_pairs_of_water_and_methane():
    water, methane = molecule("H2O"), molecule("CH4")
    assert bonded_pairs(water.numbers, water.positions).tolist() == [[0, 1], [0, 2]]
    assert bonded_pairs(methane.numbers, methane.positions).tolist() == [
        [0, j] for j in (1, 2, 3, 4)
    ]


def test_a_bond_stretched_at_a_known_frame_is_found_there():
    frames, numbers = _water_frames()
    bonds = bonded_pairs(numbers, frames[0])
    o_h = frames[0, 1] - frames[0, 0]
    for t, factor in enumerate(np.linspace(1.0, 2.0, 10)):  # 1.6 is crossed after frame 6
        frames[t, 1] = frames[0, 0] + factor * o_h
    assert 1.0 + 6 / 9 > 1.6 > 1.0 + 5 / 9
    assert first_event(frames, numbers, bonds) == 6
    assert first_event(frames, numbers, bonds, stretch=2.5) is None


def test_a_pair_closing_below_the_minimum_distance_is_found():
    """A second water slides rigidly onto the first (no bond changes): found at the first
    frame where some intermolecular pair is closer than 0.6 Å."""
    frames, numbers = _water_frames(10)
    pair = np.concatenate([frames, frames + [4.0, 0.0, 0.3]], axis=1)
    pair[:, 3:] -= np.linspace(0, 4, 10)[:, None, None] * [1.0, 0.0, 0.0]
    numbers = np.concatenate([numbers, numbers])
    closest = np.linalg.norm(pair[:, :3, None] - pair[:, None, 3:], axis=-1).min(axis=(1, 2))
    expected = int(np.flatnonzero(closest < 0.6)[0])
    assert 0 < expected < 9 and closest[expected - 1] > 0.6
    assert first_event(pair, numbers, bonded_pairs(numbers, pair[0])) == expected


def test_a_rigidly_moving_molecule_has_no_event():
    frames, numbers = _water_frames(20)
    rotations = Rotation.random(20, random_state=0).as_matrix()
    frames = np.einsum("tij,nj->tni", rotations, frames[0]) + 3.0 * np.arange(20)[:, None, None]
    assert first_event(frames, numbers, bonded_pairs(numbers, frames[0])) is None


def test_non_bonded_pairs_moving_apart_are_not_events():
    """Two waters drift 20 Å apart: the O···O distance grows far beyond 1.6×, no event."""
    frames, numbers = _water_frames(10)
    pair = np.concatenate([frames, frames + [3.0, 0.0, 0.0]], axis=1)
    pair[:, 3:] += np.linspace(0, 20, 10)[:, None, None] * [1.0, 0.0, 0.0]
    numbers = np.concatenate([numbers, numbers])
    bonds = bonded_pairs(numbers, pair[0])
    assert len(bonds) == 4  # only the O–H bonds
    assert first_event(pair, numbers, bonds) is None


def test_a_run_summary_dates_its_event_and_names_it():
    frames, numbers = _water_frames(5)
    frames[3:, 2] = frames[0, 0] + 2.0 * (frames[0, 2] - frames[0, 0])  # O–H doubled at frame 3
    steps = np.arange(5) * 100
    r = summarise_run(frames, steps, numbers, timestep_fs=0.5)
    assert (r["physical"], r["event"], r["first_event_ps"]) == (False, "stretched", 0.15)
    assert (r["steps"], r["simulated_ps"], r["n_atoms"]) == (400, 0.2, 3)
    frames[2:, 2] = np.nan  # a blown-up run: stretched from its first non-finite frame
    assert summarise_run(frames, steps, numbers, 0.5)["first_event_ps"] == 0.1


def test_frames_of_the_wrong_shape_are_refused():
    frames, numbers = _water_frames()
    with pytest.raises(ValueError, match="frames must be"):
        first_event(frames[:, :2], numbers, bonded_pairs(numbers, frames[0]))


def test_wilson_interval_contains_the_fraction_and_stays_in_bounds():
    assert wilson_interval(0, 20)[0] == 0.0 and 0.1 < wilson_interval(0, 20)[1] < 0.2
    low, high = wilson_interval(15, 20)
    assert low < 0.75 < high and high < 1.0


@pytest.fixture(scope="module")
def potential():
    """The shipped CHNO model (0.5 MB): loads in seconds, no training to wait for."""
    return orbjax.load_pretrained("chno-gfn1")


def _methane() -> Atoms:
    """A methane start with no velocities (the runs draw them)."""
    methane = molecule("CH4")
    return Atoms(methane.numbers, methane.positions)


def _fail_write_at(monkeypatch, call: int, error: Exception) -> list:
    """Make run_md's frame writer raise `error` at its `call`-th call (frames before it are
    written); returns the list that counts the calls."""
    from orbjax.potential import md_run

    write, calls = md_run._write, []

    def failing_write(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise error
        return write(*args, **kwargs)

    monkeypatch.setattr(md_run, "_write", failing_write)
    return calls


def test_run_stability_reports_consistent_fields_and_a_rerun_is_a_no_op(potential, tmp_path):
    start = _methane()
    settings = dict(temperature=500.0, timestep_fs=0.5, steps=40, interval=10, seed=3)
    results = run_stability(potential, [start], out_dir=tmp_path, **settings)
    (r,) = results
    assert r["run"] == 0 and r["n_atoms"] == 5 and r["cpu_s"] > 0
    assert r["physical"] == (r["event"] is None) == (r["first_event_ps"] is None)
    assert r["steps"] == 40 and r["simulated_ps"] == pytest.approx(0.02)  # run to the end
    assert r["physical"]  # 20 fs at 500 K: methane stays intact
    run = json.loads((tmp_path / "run0" / "run.json").read_text())
    assert (run["seed"], run["temperature"], run["interval"]) == (3, 500.0, 10)

    trajectory = tmp_path / "run0" / "trajectory.extxyz"
    before = trajectory.stat().st_mtime_ns
    assert run_stability(potential, [start], out_dir=tmp_path, **settings) == results
    assert trajectory.stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="other settings"):  # not the 500 K runs, silently
        run_stability(potential, [start], out_dir=tmp_path, **{**settings, "temperature": 600.0})
    shorter = run_stability(potential, [start], out_dir=tmp_path, **{**settings, "steps": 20})
    assert shorter[0]["steps"] == 20 and trajectory.stat().st_mtime_ns == before


def test_a_run_stops_at_its_first_event(potential, tmp_path):
    """Methane at 100,000 K comes apart within a few hundred steps: the run ends at the first
    written frame that shows it (not at `steps`), and a rerun does not simulate further."""
    start = _methane()
    settings = dict(temperature=1e5, timestep_fs=0.5, steps=4000, interval=10, seed=0)
    (r,) = run_stability(potential, [start], out_dir=tmp_path, **settings)
    assert not r["physical"] and r["event"] in ("stretched", "close")
    assert r["steps"] < 4000 and r["first_event_ps"] == pytest.approx(r["simulated_ps"])
    assert json.loads((tmp_path / "run0" / "stopped.json").read_text())["step"] == r["steps"]
    (again,) = run_stability(potential, [start], out_dir=tmp_path, **settings)
    assert again == r


def test_the_study_summary_counts_physical_runs_and_times_only_the_events():
    from experiments.pretraining.md_stability import summary

    rows = [
        {"physical": True, "first_event_ps": None, "simulated_ps": 20.0, "cpu_s": 360.0},
        {"physical": False, "first_event_ps": 2.0, "simulated_ps": 20.0, "cpu_s": 360.0},
        {"physical": False, "first_event_ps": 4.0, "simulated_ps": 20.0, "cpu_s": 360.0},
    ]
    s = summary("scratch", 50, rows)
    assert (s["runs"], s["physical"], s["median_first_event_ps"]) == (3, 1, 3.0)
    assert s["wilson_low"] < 1 / 3 < s["wilson_high"] and s["fraction_physical"] == 1 / 3
    assert (s["simulated_ps"], s["cpu_hours"]) == (60.0, 0.3)


def test_an_md_that_fails_between_frames_counts_as_unphysical_not_as_an_abort(
    potential, tmp_path, monkeypatch
):
    """A run whose MD raises after writing frames that show no event (e.g. a state gone
    non-finite between two frames) is unphysical at its last frame; the study goes on, and a
    rerun reports the same without simulating again. One that fails before any frame raises."""
    calls = _fail_write_at(monkeypatch, 3, FloatingPointError("non-finite positions"))
    start = _methane()
    settings = dict(temperature=300.0, timestep_fs=0.5, steps=100, interval=10, seed=0)
    (r,) = run_stability(potential, [start], out_dir=tmp_path / "a", **settings)
    assert not r["physical"] and r["event"] == "md_error"
    assert r["first_event_ps"] == r["simulated_ps"] == pytest.approx(r["steps"] * 0.5e-3)
    assert r["steps"] < 100
    record = json.loads((tmp_path / "a" / "run0" / "stability.json").read_text())
    assert "FloatingPointError" in record["error"]
    calls.clear()
    assert run_stability(potential, [start], out_dir=tmp_path / "a", **settings) == [r]
    longer = run_stability(potential, [start], out_dir=tmp_path / "a", **{**settings, "steps": 200})
    assert longer == [r] and not calls  # finished: not simulated again, even for more steps

    monkeypatch.undo()
    _fail_write_at(monkeypatch, 1, FloatingPointError("non-finite positions"))
    with pytest.raises(FloatingPointError):
        run_stability(potential, [start], out_dir=tmp_path / "b", **settings)


def test_a_machine_error_mid_run_raises_and_the_run_is_retried(potential, tmp_path, monkeypatch):
    """Not every error is a blown-up molecule: a disk or code failure after some frames is
    raised, not recorded, and the next call runs the MD again (here to its end)."""
    _fail_write_at(monkeypatch, 3, OSError("No space left on device"))
    start = _methane()
    settings = dict(temperature=300.0, timestep_fs=0.5, steps=60, interval=10, seed=0)
    with pytest.raises(OSError, match="No space"):
        run_stability(potential, [start], out_dir=tmp_path, **settings)
    assert not (tmp_path / "run0" / "stability.json").exists()
    (r,) = run_stability(potential, [start], out_dir=tmp_path, **settings)
    assert r["physical"] and r["steps"] == 60
