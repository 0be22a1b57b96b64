"""The label command line as a new user meets it: bad input ends with one line and a non-zero
exit, indices point into the input file, a finished job is not redone, atoms too close are
named, and an output name of another format is refused."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from orbjax.data.dataset import read_dataset
from orbjax.data.readers import CHNO_KEYS, example_path, read_structures
from orbjax.data.structures import Structure
from orbjax.label import main
from orbjax.labels import runner
from orbjax.labels.runner import CloseAtomsWarning, close_pairs, label_structures

REPO = Path(__file__).resolve().parents[2]
WATER = "3\n\nO 0 0 0.119\nH 0 0.763 -0.477\nH 0 -0.763 -0.477\n"
H2_CLOSE = "2\n\nH 0 0 0\nH 0 0 0.15\n"  # passes the 0.1 Å overlap check; xTB gives ~10³ eV/Å
UNKNOWN_SYMBOL = "2\n\nXx 0 0 0\nH 0 0 1\n"
OVERLAP = "2\n\nH 0 0 0\nH 0 0 0.05\n"
FRANCIUM = "2\n\nFr 0 0 0\nH 0 0 2.5\n"  # readable, but GFN1-xTB has no parameters for it


def run(capsys, *args):
    """(exit status, stdout, stderr) of `python -m orbjax.label ARGS` run in this process."""
    code = main([str(a) for a in args] + ["--workers", "1"])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *words):
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])


# ----------------------------------------------------------------------------- bad input


def test_missing_input_from_the_shell_is_one_line_and_a_non_zero_exit(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "orbjax.label",
            str(tmp_path / "nothere.extxyz"),
            str(tmp_path / "out.h5"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert_one_line_error(done.returncode, done.stderr, "nothere.extxyz", "no such file")
    assert not (tmp_path / "out.h5").exists()


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("binary.extxyz", b"\xff\xfe\x00\x81garbage", ["binary.extxyz", "cannot read text file"]),
        ("fake.h5", b"this is not HDF5", ["fake.h5", "cannot open HDF5 file"]),
        ("notes.txt", b"3\n\nO 0 0 0\n", ["notes.txt", "unknown format"]),
    ],
)
def test_unreadable_input_is_one_line_and_a_non_zero_exit(tmp_path, capsys, name, content, words):
    (tmp_path / name).write_bytes(content)
    code, _, err = run(capsys, tmp_path / name, tmp_path / "out.h5")
    assert_one_line_error(code, err, *words)
    assert not (tmp_path / "out.h5").exists()


def test_empty_input_is_an_error(tmp_path, capsys):
    (tmp_path / "empty.extxyz").write_text("")
    code, _, err = run(capsys, tmp_path / "empty.extxyz", tmp_path / "out.h5")
    assert_one_line_error(code, err, "empty.extxyz", "no structures")
    assert not (tmp_path / "out.h5").exists()


def test_input_without_one_readable_structure_is_an_error(tmp_path, capsys):
    (tmp_path / "bad.extxyz").write_text(UNKNOWN_SYMBOL + OVERLAP)
    code, _, err = run(capsys, tmp_path / "bad.extxyz", tmp_path / "out.h5")
    assert_one_line_error(
        code, err, "bad.extxyz", "none of its 2 structure(s) could be read", "'Xx'"
    )


# ----------------------------------------------------------------------------- indices


@pytest.fixture(scope="module")
def mixed_job(tmp_path_factory):
    """Frames 1 and 4 cannot be read, frame 3 cannot be labelled; 0, 2, 5 are fine."""
    folder = tmp_path_factory.mktemp("mixed")
    (folder / "in.extxyz").write_text(WATER + UNKNOWN_SYMBOL + WATER + FRANCIUM + OVERLAP + WATER)
    code = main([str(folder / "in.extxyz"), str(folder / "out.h5"), "--workers", "1"])
    assert code == 0
    return folder


def test_indices_are_positions_in_the_input_file(mixed_job):
    back, attrs = read_dataset(mixed_job / "out.h5")
    assert [s.info["source_index"] for s in back] == [0, 2, 5]
    records = [
        json.loads(line) for line in (mixed_job / "out.h5.failures.jsonl").read_text().splitlines()
    ]
    assert [r["index"] for r in records] == [1, 3, 4]
    assert [r["name"] for r in records] == ["in.extxyz:1", "in.extxyz:3", "in.extxyz:4"]
    assert (
        "'Xx'" in records[0]["reason"]
        and "Z=87" in records[1]["reason"]
        and "overlapping" in records[2]["reason"]
    )
    assert attrs["n_failed"] == 3 and attrs["n_structures"] == 6


def test_unreadable_frames_count_as_failures_in_the_summary(tmp_path, capsys):
    (tmp_path / "in.extxyz").write_text(WATER + UNKNOWN_SYMBOL + WATER)
    code, out, _ = run(capsys, tmp_path / "in.extxyz", tmp_path / "out.h5")
    assert code == 0
    assert "labelled 2 of 3 structures" in out and "1 failed (1 unreadable)" in out
    report = label_structures(
        read_structures(tmp_path / "in.extxyz", on_error="skip"),
        tmp_path / "api.h5",
        n_workers=1,
        progress=False,
        unreadable=[(1, "in.extxyz:1", "unknown symbol")],
        source_indices=[0, 2],
    )
    assert (report.n_structures, report.n_labelled, report.n_failed, report.n_unreadable) == (
        3,
        2,
        1,
        1,
    )
    assert read_dataset(tmp_path / "api.h5")[1]["n_failed"] == 1


def test_limit_counts_frames_of_the_input(tmp_path, capsys):
    (tmp_path / "in.extxyz").write_text(WATER + UNKNOWN_SYMBOL + WATER + WATER)
    code, out, _ = run(capsys, tmp_path / "in.extxyz", tmp_path / "out.h5", "--limit", "3")
    assert code == 0 and "labelled 2 of 3 structures" in out
    assert [s.info["source_index"] for s in read_dataset(tmp_path / "out.h5")[0]] == [0, 2]


# ----------------------------------------------------------------------------- finished jobs


def test_rerunning_a_finished_job_is_a_no_op_that_says_so(mixed_job, capsys, monkeypatch):
    before = (mixed_job / "out.h5").stat().st_mtime_ns

    def no_labelling(*args, **kwargs):
        raise AssertionError("a finished job was labelled again")

    monkeypatch.setattr(runner, "_run_chunks", no_labelling)
    code, out, _ = run(capsys, mixed_job / "in.extxyz", mixed_job / "out.h5")
    assert code == 0
    assert f"already labelled: 3 of 6 structures in {mixed_job / 'out.h5'}" in out
    assert "3 failed" in out
    assert (mixed_job / "out.h5").stat().st_mtime_ns == before
    assert (mixed_job / "out.h5.failures.jsonl").exists()


def test_a_changed_input_or_option_is_labelled_again(tmp_path):
    def water(i):
        return Structure(
            [8, 1, 1],
            [[0, 0, 0.119], [0, 0.763, -0.477 - 0.01 * i], [0, -0.763, -0.477]],
            name=f"w{i}",
        )

    first = label_structures([water(0), water(1)], tmp_path / "out.h5", n_workers=1, progress=False)
    again = label_structures([water(0), water(1)], tmp_path / "out.h5", n_workers=1, progress=False)
    assert (first.already_done, again.already_done, again.n_computed) == (False, True, 0)
    changed = label_structures(
        [water(0), water(2)], tmp_path / "out.h5", n_workers=1, progress=False
    )
    assert not changed.already_done and changed.n_computed == 2
    other = label_structures(
        [water(0), water(2)],
        tmp_path / "out.h5",
        method="GFN2-xTB",
        orbitals=False,
        n_workers=1,
        progress=False,
    )
    assert not other.already_done and read_dataset(tmp_path / "out.h5")[1]["method"] == "GFN2-xTB"


def test_electronic_temperature_option_is_used_and_recorded(tmp_path, capsys):
    from ase.build import bulk
    from ase.io import write

    cells = []
    for seed in range(2):
        a = bulk("Cu", "fcc", a=3.61, cubic=True)
        a.rattle(0.05, seed=seed)
        cells.append(a)
    write(tmp_path / "cu.extxyz", cells)
    code, _, _ = run(capsys, tmp_path / "cu.extxyz", tmp_path / "default.h5")
    assert code == 0
    code, out, _ = run(
        capsys, tmp_path / "cu.extxyz", tmp_path / "hot.h5", "--electronic-temperature", 3000
    )
    assert code == 0 and "labelled 2 of 2" in out
    default, default_attrs = read_dataset(tmp_path / "default.h5")
    hot, hot_attrs = read_dataset(tmp_path / "hot.h5")
    assert default_attrs["electronic_temperature_K"] == runner.TBLITE_DEFAULT_TEMPERATURE
    assert float(hot_attrs["electronic_temperature_K"]) == 3000.0
    assert abs(float(hot[0].labels["xtb_energy"]) - float(default[0].labels["xtb_energy"])) > 0.1
    code, out, _ = run(
        capsys, tmp_path / "cu.extxyz", tmp_path / "hot.h5", "--electronic-temperature", 3000
    )
    assert "already labelled" in out
    # another temperature: redone
    code, out, _ = run(capsys, tmp_path / "cu.extxyz", tmp_path / "hot.h5")
    assert code == 0 and "already labelled" not in out and "2 computed now" in out
    assert (
        read_dataset(tmp_path / "hot.h5")[1]["electronic_temperature_K"]
        == runner.TBLITE_DEFAULT_TEMPERATURE
    )
    code, _, err = run(
        capsys, tmp_path / "cu.extxyz", tmp_path / "cold.h5", "--electronic-temperature", -5
    )
    assert_one_line_error(code, err, "electronic temperature")
    assert default_attrs["min_cell_length_A"] == runner.CELL_AS_GIVEN
    code, out, _ = run(
        capsys, tmp_path / "cu.extxyz", tmp_path / "super.h5", "--min-cell-length", 7, "--limit", 1
    )
    assert code == 0 and "labelled 1 of 1" in out
    sup, sup_attrs = read_dataset(tmp_path / "super.h5")
    assert float(sup_attrs["min_cell_length_A"]) == 7.0
    assert sup[0].labels["xtb_supercell_repeats"].tolist() == [2, 2, 2]
    assert (
        sup[0].labels["xtb_orbital_populations"].shape
        == default[0].labels["xtb_orbital_populations"].shape
    )


# ----------------------------------------------------------------------------- close atoms


def h2(distance: float, name: str = "h2", **kw) -> Structure:
    return Structure([1, 1], [[0, 0, 0], [0, 0, distance]], name=name, **kw)


def test_close_pairs_by_covalent_radii():
    assert close_pairs(h2(0.74)) == []  # a real bond
    ((i, j, d, limit),) = close_pairs(h2(0.15))
    assert (i, j) == (0, 1) and d == pytest.approx(0.15) and limit == pytest.approx(0.31)
    across = Structure(
        [1, 1], [[0.05, 1, 1], [2.9, 1, 1]], cell=np.eye(3) * 3.0, pbc=[True] * 3, name="pbc"
    )
    # through the boundary
    assert [(i, j, round(d, 6)) for i, j, d, _ in close_pairs(across)] == [(0, 1, 0.15)]
    molecules = read_structures(example_path(), keys=CHNO_KEYS)
    assert not [s.name for s in molecules if close_pairs(s)]  # no false alarms on real molecules


def test_close_atoms_are_named_in_a_warning_and_labelled(tmp_path):
    with pytest.warns(
        CloseAtomsWarning,
        match=r"structure 'squeezed' \(input index 1\): atoms 0 \(H\) and 1 \(H\) "
        r"are 0\.15 Å apart, closer than 0\.5 × the sum of their covalent",
    ):
        report = label_structures(
            [h2(0.74), h2(0.15, "squeezed")], tmp_path / "out.h5", n_workers=1, progress=False
        )
    assert (report.n_labelled, report.n_failed) == (2, 0)


def test_close_atoms_refused_on_request_are_failures(tmp_path, capsys):
    (tmp_path / "in.extxyz").write_text(WATER + H2_CLOSE + WATER)
    code, out, _ = run(capsys, tmp_path / "in.extxyz", tmp_path / "out.h5", "--refuse-close-atoms")
    assert code == 0 and "labelled 2 of 3" in out and "1 failed" in out
    record = json.loads((tmp_path / "out.h5.failures.jsonl").read_text())
    assert record["index"] == 1 and record["name"] == "in.extxyz:1"
    assert "atoms 0 (H) and 1 (H) are 0.15 Å apart" in record["reason"]
    assert [s.info["source_index"] for s in read_dataset(tmp_path / "out.h5")[0]] == [0, 2]


# ----------------------------------------------------------------------------- output name


def test_an_output_name_of_another_format_is_refused(tmp_path, capsys):
    (tmp_path / "in.extxyz").write_text(WATER)
    code, _, err = run(capsys, tmp_path / "in.extxyz", tmp_path / "out.extxyz")
    assert_one_line_error(code, err, "out.extxyz", "*.h5 or *.hdf5")
    assert not (tmp_path / "out.extxyz").exists()
    with pytest.raises(ValueError, match=r"out\.xyz: .*\*\.h5"):
        label_structures([h2(0.74)], tmp_path / "out.xyz", n_workers=1, progress=False)
