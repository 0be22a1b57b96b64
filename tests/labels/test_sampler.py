"""The GFN1 MD sampler: its frames carry the labels `orbjax.label` gives for them, failures are
recorded and skipped, and an interrupted job resumes to the uninterrupted output."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("rdkit")

from orbjax.data.dataset import read_dataset  # noqa: E402
from orbjax.labels.sample_job import collect, read_molecules, sample_molecules  # noqa: E402
from orbjax.labels.sampler import SampleSettings  # noqa: E402
from orbjax.labels.xtb import label_structure  # noqa: E402
from orbjax.sample import main as sample_main  # noqa: E402

TINY = SampleSettings(temperatures=(300.0, 800.0), n_equilibrate=3, n_frames=2, interval=4)


@pytest.fixture
def smiles(tmp_path):
    path = tmp_path / "pool.txt"
    # m1: unclosed ring, RDKit refuses it
    path.write_text("# mol_id\tsmiles\nm0\tCO\nm1\tC1CC\nm2\tC=O\n")
    return path


def test_frames_carry_the_labels_orbjax_label_gives_and_failures_are_recorded(smiles, tmp_path):
    out = tmp_path / "md.h5"
    report = sample_molecules(
        read_molecules(smiles), out, TINY, n_workers=1, chunk_size=2, progress=False
    )
    assert (report.n_molecules, report.n_failed, report.n_frames) == (3, 1, 4)
    frames, attrs = read_dataset(out)
    assert attrs["complete"] and [f.mol_id for f in frames] == ["m0", "m0", "m2", "m2"]
    failure = json.loads((tmp_path / "md.h5.failures.jsonl").read_text())
    assert failure["mol_id"] == "m1" and "RDKit" in failure["reason"]
    for frame in frames:
        assert frame.info["md_temperature"] in (300.0, 800.0) and frame.info["md_time_fs"] in (
            1.5,
            3.5,
        )
        # a fresh SCF on the stored (float32) positions
        expected = label_structure(frame.replace(labels={}))
        assert float(frame.labels["xtb_energy"]) == pytest.approx(
            float(expected["xtb_energy"]), abs=2e-4
        )
        for key in (
            "xtb_forces",
            "xtb_charges",
            "xtb_orbital_populations",
            "xtb_shell_populations",
        ):
            np.testing.assert_allclose(frame.labels[key], expected[key], atol=2e-3, err_msg=key)
        for key in ("xtb_orbital_shell", "xtb_shell_l", "xtb_shell_atom"):
            np.testing.assert_array_equal(frame.labels[key], expected[key])
    first, second = frames[0].positions, frames[1].positions
    assert np.abs(first - second).max() > 1e-3  # the frames are different points of a trajectory


def test_an_interrupted_job_resumes_to_the_uninterrupted_output(smiles, tmp_path):
    molecules = read_molecules(smiles)
    whole = sample_molecules(
        molecules, tmp_path / "whole.h5", TINY, n_workers=1, chunk_size=1, progress=False
    )
    part = sample_molecules(
        molecules,
        tmp_path / "cut.h5",
        TINY,
        n_workers=1,
        chunk_size=1,
        progress=False,
        max_chunks=1,
    )
    # stopped: nothing written yet
    assert part.out_path is None and not (tmp_path / "cut.h5").exists()
    early = collect(tmp_path / "cut.h5", dest=tmp_path / "early.h5")  # a snapshot while it runs
    assert early.n_done == 1 and not read_dataset(tmp_path / "early.h5")[1]["complete"]
    assert (
        sample_main(
            [
                str(smiles),
                str(tmp_path / "cut.h5"),
                "--frames",
                "2",
                "--interval",
                "4",
                "--equilibrate",
                "3",
                "--temperatures",
                "300,800",
                "--chunk-size",
                "1",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    a, b = read_dataset(tmp_path / "whole.h5")[0], read_dataset(tmp_path / "cut.h5")[0]
    assert whole.n_frames == len(a) == len(b) == 4
    # a snapshot of the first chunk, collected after the job went on, is the early one
    again = collect(tmp_path / "cut.h5", dest=tmp_path / "again.h5", first=1)
    assert again.n_done == 1 and again.n_frames == early.n_frames
    for x, y in zip(read_dataset(tmp_path / "again.h5")[0], read_dataset(tmp_path / "early.h5")[0]):
        assert x.name == y.name
        np.testing.assert_array_equal(x.positions, y.positions)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.positions, y.positions)
        for key in x.labels:
            np.testing.assert_array_equal(x.labels[key], y.labels[key])


def test_other_settings_cannot_resume_a_job(smiles, tmp_path):
    molecules = read_molecules(smiles)
    sample_molecules(
        molecules, tmp_path / "md.h5", TINY, n_workers=1, chunk_size=1, progress=False, max_chunks=1
    )
    other = SampleSettings(temperatures=(300.0,), n_equilibrate=3, n_frames=2, interval=4)
    with pytest.raises(ValueError, match="other settings"):
        sample_molecules(
            molecules, tmp_path / "md.h5", other, n_workers=1, chunk_size=1, progress=False
        )
