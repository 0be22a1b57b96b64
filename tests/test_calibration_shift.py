"""The temperature-shift committees of the calibration study: only ≤ 500 K frames are
kept for training and validation, a frame without its MD temperature is refused, and the
scorer finds a committee wherever ≥ 4 members are committed."""

from types import SimpleNamespace

import pytest

from experiments.calibration import score, temperature_shift


def _frame(name, temperature=None):
    info = {} if temperature is None else {"md_temperature": temperature}
    return SimpleNamespace(name=name, info=info)


def test_cool_keeps_the_300_and_500_k_frames_and_refuses_an_unknown_temperature():
    frames = [_frame("a", 300.0), _frame("b", 800.0), _frame("c", 500.0)]
    assert [f.name for f in temperature_shift.cool(frames)] == ["a", "c"]
    with pytest.raises(ValueError, match="^d: no md_temperature"):
        temperature_shift.cool([*frames, _frame("d")])


def test_the_scorer_finds_committees_of_four_or_more_members(tmp_path, monkeypatch):
    for n, seeds in ((200, 5), (761, 3)):
        for s in range(seeds):
            path = tmp_path / f"n{n}" / f"seed{s}" / "model.orbjax"
            path.parent.mkdir(parents=True)
            path.write_bytes(b"")
    monkeypatch.setattr(score, "DATASETS", ("chno_grown_cool",))
    monkeypatch.setattr(score, "FOLDERS", {"chno_grown_cool": tmp_path})
    ((dataset, n, paths),) = score.committees()
    assert (dataset, n, len(paths)) == ("chno_grown_cool", 200, 5)
