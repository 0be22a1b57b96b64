"""Parallel, resumable labelling: kill -9 half-way, restart, every structure exactly once."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from orbjax.data.dataset import read_dataset
from orbjax.data.structures import Structure
from orbjax.labels.runner import label_structures
from orbjax.labels.xtb import label_structure

REPO = Path(__file__).resolve().parents[2]


def waters(n: int, seed: int = 0) -> list[Structure]:
    rng = np.random.default_rng(seed)
    base = np.array([[0.0, 0.0, 0.119], [0.0, 0.763, -0.477], [0.0, -0.763, -0.477]])
    return [
        Structure(
            [8, 1, 1],
            base + rng.normal(scale=0.03, size=(3, 3)),
            name=f"w{i}",
            mol_id="water",
            labels={"energy": np.asarray(-2000.0 - i), "forces": rng.normal(size=(3, 3))},
        )
        for i in range(n)
    ]


def cu_cells(n: int) -> list[Structure]:
    """Slow enough (~0.3 s each) for a kill to land half-way."""
    out = []
    for i in range(n):
        a = bulk("Cu", "fcc", a=3.61).repeat(2)
        a.rattle(0.05, seed=i)
        out.append(Structure(a.numbers, a.positions, a.cell.array, [True] * 3, name=f"cu{i}"))
    return out


def test_labels_keep_input_labels_and_match_single_calls(tmp_path):
    structures = waters(5)
    report = label_structures(
        structures, tmp_path / "out.h5", n_workers=2, chunk_size=2, progress=False
    )
    assert (report.n_labelled, report.n_failed, report.n_computed) == (5, 0, 5)
    back, attrs = read_dataset(tmp_path / "out.h5")
    assert attrs["method"] == "GFN1-xTB" and attrs["tblite_version"]
    assert [s.name for s in back] == [s.name for s in structures]
    for s, t in zip(structures, back):
        np.testing.assert_array_equal(t.labels["energy"], s.labels["energy"])  # DFT labels kept
        np.testing.assert_array_equal(t.labels["forces"], s.labels["forces"])
    direct = label_structure(structures[3])
    for key, value in direct.items():
        np.testing.assert_allclose(back[3].labels[key], value, atol=1e-8, err_msg=key)
    assert not (tmp_path / "out.h5.parts").exists()
    assert not (tmp_path / "out.h5.failures.jsonl").exists()


def test_failures_are_recorded_and_the_rest_succeeds(tmp_path):
    good = waters(3)
    unsupported = Structure([87, 1], [[0, 0, 0], [0, 0, 2.5]], name="francium")
    doublet = good[0].replace(name="bad-spin", multiplicity=2)
    nan = good[1].replace(name="nan", positions=good[1].positions.copy())
    nan.positions[2, 1] = np.nan  # edited after validation, as a buggy pipeline might
    close = good[2].replace(name="close", positions=good[2].positions.copy())
    close.positions[1] = close.positions[0] + [0.05, 0, 0]
    empty = good[0].replace(name="empty")
    empty.atomic_numbers, empty.positions = np.zeros(0, int), np.zeros((0, 3))
    unknown = good[0].replace(name="unknown")
    unknown.atomic_numbers = np.array([8, 1, 200])
    structures = [good[0], unsupported, doublet, good[1], nan, close, empty, unknown, good[2]]

    report = label_structures(
        structures, tmp_path / "out.h5", n_workers=2, chunk_size=3, progress=False
    )

    assert (report.n_labelled, report.n_failed) == (3, 6)
    back, _ = read_dataset(tmp_path / "out.h5")
    assert [s.info["source_index"] for s in back] == [0, 3, 8]
    failures = [json.loads(line) for line in report.failures_path.read_text().splitlines()]
    by_index = {f["index"]: f for f in failures}
    assert sorted(by_index) == [1, 2, 4, 5, 6, 7] and len(failures) == 6
    expected = {
        1: "Z=87.*not supported",
        2: "impossible",
        4: "non-finite",
        5: "overlapping",
        6: "empty",
        7: "unknown element Z=200",
    }
    for i, pattern in expected.items():
        assert by_index[i]["name"] == structures[i].name
        assert re.search(pattern, by_index[i]["reason"]), by_index[i]


DRIVER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    from tests.labels.test_runner import cu_cells
    from orbjax.labels.runner import label_structures
    if __name__ == "__main__":
        label_structures(cu_cells({n}), {out!r}, n_workers=2, chunk_size=1, progress=False)
""")


def test_killed_job_resumes_and_labels_each_structure_once(tmp_path):
    n = 16
    out = tmp_path / "out.h5"
    parts = tmp_path / "out.h5.parts"
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.format(repo=str(REPO), n=n, out=str(out)))
    job = subprocess.Popen([sys.executable, str(script)], start_new_session=True, cwd=REPO)
    try:
        deadline = time.time() + 120
        while (
            len(list(parts.glob("part-*.npz"))) < 3
            and job.poll() is None
            and time.time() < deadline
        ):
            time.sleep(0.02)
    finally:
        os.killpg(job.pid, signal.SIGKILL)  # the whole job, workers included, like a scheduler
        job.wait()
    n_parts = len(list(parts.glob("part-*.npz")))
    assert job.returncode == -signal.SIGKILL and not out.exists(), (
        "the job finished before the kill"
    )
    assert 3 <= n_parts < n

    report = label_structures(cu_cells(n), out, n_workers=2, chunk_size=4, progress=False)

    assert report.n_computed == n - n_parts  # only the missing ones were labelled
    assert (report.n_labelled, report.n_failed) == (n, 0)
    back, _ = read_dataset(out)
    assert sorted(s.info["source_index"] for s in back) == list(range(n))
    assert [s.name for s in back] == [f"cu{i}" for i in range(n)]
    direct = label_structure(cu_cells(n)[5])
    np.testing.assert_allclose(
        back[5].labels["xtb_orbital_populations"], direct["xtb_orbital_populations"], atol=1e-8
    )
    assert not parts.exists()


def test_resume_refuses_a_different_input(tmp_path):
    out = tmp_path / "out.h5"
    parts = tmp_path / "out.h5.parts"
    parts.mkdir()
    from orbjax.labels.runner import _Done, _write_part, structure_fingerprint

    structures = waters(2)
    fps = [structure_fingerprint(s) for s in structures]
    _write_part(parts, {0: _Done(label_structure(structures[0]), "w0")}, fps, "GFN1-xTB", True)
    with pytest.raises(ValueError, match="input changed"):
        label_structures(waters(2, seed=1), out, n_workers=1, progress=False)
    with pytest.raises(ValueError, match="method=GFN1-xTB"):
        label_structures(
            structures, out, method="GFN2-xTB", orbitals=False, n_workers=1, progress=False
        )
    report = label_structures(structures, out, n_workers=1, progress=False)
    assert (report.n_computed, report.n_labelled) == (1, 2)


def test_resume_refuses_parts_of_another_electronic_temperature(tmp_path):
    from orbjax.labels.runner import _Done, _write_part, structure_fingerprint

    out, parts = tmp_path / "out.h5", tmp_path / "out.h5.parts"
    parts.mkdir()
    structures = waters(2)
    fps = [structure_fingerprint(s) for s in structures]
    labels = label_structure(structures[0], electronic_temperature=3000.0)
    _write_part(
        parts, {0: _Done(labels, "w0")}, fps, "GFN1-xTB", True, {"electronic_temperature": 3000.0}
    )
    with pytest.raises(ValueError, match="'electronic_temperature': 3000"):
        label_structures(structures, out, n_workers=1, progress=False)  # tblite's default
    report = label_structures(
        structures, out, n_workers=1, progress=False, electronic_temperature=3000.0
    )
    assert (report.n_computed, report.n_labelled) == (1, 2)
    back, attrs = read_dataset(out)
    assert float(attrs["electronic_temperature_K"]) == 3000.0


def test_gfn2_energy_forces_only(tmp_path):
    report = label_structures(
        waters(2), tmp_path / "o.h5", method="GFN2-xTB", orbitals=False, n_workers=1, progress=False
    )
    back, attrs = read_dataset(report.out_path)
    assert attrs["method"] == "GFN2-xTB"
    assert {k for k in back[0].labels if k.startswith("xtb")} == {"xtb_energy", "xtb_forces"}


def test_damaged_part_is_relabelled(tmp_path):
    from orbjax.labels.runner import _Done, _write_part, structure_fingerprint

    out, parts = tmp_path / "out.h5", tmp_path / "out.h5.parts"
    parts.mkdir()
    structures = waters(3)
    fps = [structure_fingerprint(s) for s in structures]
    _write_part(
        parts,
        {0: _Done(label_structure(structures[0]), "w0"), 1: _Done(None, "w1", "made up")},
        fps,
        "GFN1-xTB",
        True,
    )
    (parts / "part-00000002-deadbeef.npz").write_bytes(b"PK\x03\x04 half a zip")  # crash-damaged
    (parts / ".part-00000002-0000.tmp").write_bytes(b"half")  # write interrupted by the kill
    with pytest.warns(UserWarning, match="damaged"):
        report = label_structures(structures, out, n_workers=1, progress=False)
    assert (report.n_computed, report.n_labelled, report.n_failed) == (1, 2, 1)  # 0, 1 resumed
    back, _ = read_dataset(out)
    assert [s.name for s in back] == ["w0", "w2"]
    np.testing.assert_allclose(
        back[0].labels["xtb_orbital_populations"],
        label_structure(structures[0])["xtb_orbital_populations"],
        atol=1e-10,
    )
    assert json.loads(report.failures_path.read_text())["reason"] == "made up"


def test_cli_labels_an_extxyz_file(tmp_path, capsys):
    from ase import Atoms
    from ase.io import write

    from orbjax.label import main

    frames = [Atoms("OH2", positions=s.positions) for s in waters(4)]
    write(tmp_path / "in.extxyz", frames)
    assert (
        main(
            [
                str(tmp_path / "in.extxyz"),
                str(tmp_path / "out.h5"),
                "--limit",
                "3",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    assert "labelled 3 of 3" in capsys.readouterr().out
    back, attrs = read_dataset(tmp_path / "out.h5")
    assert len(back) == 3 and "xtb_orbital_populations" in back[0].labels and attrs["orbitals"]


_ORPHAN_SCRIPT = """
import concurrent.futures as cf, multiprocessing, os, sys, time
from orbjax.labels.runner import _init_worker

def work(path):
    open(path, "w").write(str(os.getpid()))
    time.sleep(120)

if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(1, mp_context=context, initializer=_init_worker) as pool:
        pool.submit(work, sys.argv[1]).result()
"""


def test_workers_exit_when_the_job_is_killed(tmp_path):
    """A job stopped by SIGTERM (pkill) leaves no worker burning a core on its chunk."""
    script, pid_file = tmp_path / "job.py", tmp_path / "worker.pid"
    script.write_text(_ORPHAN_SCRIPT)
    job = subprocess.Popen([sys.executable, str(script), str(pid_file)])
    try:
        deadline = time.monotonic() + 120
        while not (pid_file.exists() and pid_file.read_text()):
            assert job.poll() is None and time.monotonic() < deadline, "worker never started"
            time.sleep(0.2)
        worker = int(pid_file.read_text())
        os.kill(worker, 0)  # the worker is alive while the job is
        job.send_signal(signal.SIGTERM)
        job.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _running(worker):
            time.sleep(0.2)
        if not _running(worker):
            return
        os.kill(worker, signal.SIGKILL)
        raise AssertionError("the worker outlived its job")
    finally:
        job.kill()


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped has exited: it counts as not running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")
