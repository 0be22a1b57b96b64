"""The quick start (README's first command) runs end to end and teaches: it writes the
split, the one-file model, parity plots and an MD trajectory run from that file; the full
run (slow) halves the validation energy error of the untrained model."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest

from orbjax.quickstart import LEARNED_RATIO, main


def test_quickstart_writes_every_piece(tmp_path):
    """A few steps only: this checks the plumbing, not the learning (the slow test does)."""
    summary = main(["--workdir", str(tmp_path), "--steps", "4", "--md-steps", "20"])
    for name in (
        "example_gfn1.h5",
        "train.h5",
        "validation.h5",
        "train/model.orbjax",
        "summary.json",
    ):
        assert (tmp_path / name).is_file(), name
    assert summary["model_file"] == str(tmp_path / "train" / "model.orbjax")
    assert summary["model_file_bytes"] == (tmp_path / "train" / "model.orbjax").stat().st_size
    assert 0 < summary["time"]["process_cpu_s"] and 0 < summary["time"]["wall_s"]
    assert {p.rsplit("/", 1)[-1] for p in summary["plots"]} >= {
        "parity_energy.png",
        "parity_forces.png",
    }
    assert all(
        (tmp_path / "train" / "eval_validation" / p.rsplit("/", 1)[-1]).is_file()
        for p in summary["plots"]
    )
    learning = summary["learning"]
    assert learning["steps"] == 4 and learning["untrained"]["energy_mae"] > 0
    md = summary["md"]
    assert len(ase.io.read(md["trajectory"], ":")) == 3  # steps 0, 10, 20
    assert (tmp_path / "md" / "run.json").is_file()  # the library's MD (python -m orbjax.md's)
    assert np.isfinite(
        [md["total_energy_start"], md["total_energy_end"], md["temperature_end"]]
    ).all()


@pytest.mark.slow
def test_quickstart_halves_the_validation_energy_error(tmp_path):
    summary = main(["--workdir", str(tmp_path), "--md-steps", "10"])
    assert summary["learning"]["energy_mae_ratio"] <= LEARNED_RATIO, summary["learning"]
