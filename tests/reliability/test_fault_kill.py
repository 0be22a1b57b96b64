"""kill -9 at the worst moments: while the labeller writes its output, while orbax writes a
checkpoint. Nothing finished is lost and the rerun completes.

Kills elsewhere are tested beside their code: tests/labels/test_runner.py
(test_killed_job_resumes_and_labels_each_structure_once: kill -9 mid-labelling) and
tests/training/test_train.py (test_killed_run_resumes_to_the_same_metrics: kill -9 mid-training).
"""

import signal
import subprocess
import sys
import textwrap

import numpy as np
from faultkit import ROOT, example_frames, raw_checkpoint, tiny_config, waters

from orbjax.data.dataset import read_dataset, write_dataset
from orbjax.labels.runner import label_structures
from orbjax.labels.xtb import label_structure

HERE = ROOT / "tests" / "reliability"


def run_until_killed(tmp_path, body: str) -> subprocess.CompletedProcess:
    """Run `body` (a script; `REPO`, `HERE` and sys.path set) and expect it to SIGKILL itself."""
    script = tmp_path / "driver.py"
    script.write_text(
        f"import sys\nREPO, HERE = {str(ROOT)!r}, {str(HERE)!r}\n"
        "sys.path[:0] = [REPO, HERE]\n" + textwrap.dedent(body)
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    return done


# ----------------------------------------------------------------------------- labelling
LABEL_DRIVER = """
    import os, signal
    import orbjax.data.dataset as dataset

    def die_half_way(f, structures, *options):
        # the structures are in the temp file, the labels not yet
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    dataset._write_labels = die_half_way
    from faultkit import waters
    from orbjax.labels.runner import label_structures

    if __name__ == "__main__":
        label_structures(waters(6), {out!r}, n_workers=1, chunk_size=2, progress=False)
"""


def test_kill_while_writing_the_labelled_file(tmp_path):
    out = tmp_path / "out.h5"
    write_dataset(out, waters(1, seed=7))  # an older result at the same path
    run_until_killed(tmp_path, LABEL_DRIVER.format(out=str(out)))

    old, _ = read_dataset(out)  # still the complete older file: never half-written
    assert [s.name for s in old] == ["w0"]
    assert len(list((tmp_path / "out.h5.parts").glob("part-*.npz"))) == 3  # all labelling kept
    assert list(tmp_path.glob(".out.h5.tmp*")), "the kill did not land inside write_dataset"

    report = label_structures(waters(6), out, n_workers=1, chunk_size=2, progress=False)
    # nothing relabelled
    assert (report.n_computed, report.n_labelled, report.n_failed) == (0, 6, 0)
    back, _ = read_dataset(out)
    assert [s.name for s in back] == [f"w{i}" for i in range(6)]
    direct = label_structure(waters(6)[4])
    for key in ("xtb_energy", "xtb_orbital_populations"):
        np.testing.assert_allclose(back[4].labels[key], direct[key], atol=1e-8)
    np.testing.assert_array_equal(back[4].labels["forces"], waters(6)[4].labels["forces"])
    assert not (tmp_path / "out.h5.parts").exists()


# ----------------------------------------------------------------------------- checkpoints
KILL_STEP = 4
CHECKPOINT_DRIVER = """
    import os, signal
    import jax, numpy as np
    from orbax.checkpoint._src.path import atomicity
    from orbjax.training.checkpoint import Checkpointer
    from faultkit import tiny_config

    save, finalize = Checkpointer.save, atomicity.AtomicRenameTemporaryPath.finalize

    def save_and_record(self, state, meta, val_loss=None):
        if int(state.step) == {kill_step}:  # what the dying write was about to commit
            params = jax.device_get(state.params)
            np.savez({dump!r}, *[np.asarray(x) for x in jax.tree.leaves(params)])
        return save(self, state, meta, val_loss)

    async def die_before_commit(self):  # every file written to the temp dir, not yet renamed
        if self.get_final().name == "{kill_step}":
            os.kill(os.getpid(), signal.SIGKILL)
        return await finalize(self)

    Checkpointer.save = save_and_record
    atomicity.AtomicRenameTemporaryPath.finalize = die_before_commit
    from orbjax.training.loop import train_and_evaluate

    train_and_evaluate(tiny_config({data!r}, 8), {workdir!r})
"""


def test_kill_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, capsys):
    data, workdir, dump = tmp_path / "ok.extxyz", tmp_path / "run", tmp_path / "step4.npz"
    data.write_text("".join(example_frames()[:12]))
    run_until_killed(
        tmp_path,
        CHECKPOINT_DRIVER.format(
            kill_step=KILL_STEP, data=str(data), workdir=str(workdir), dump=str(dump)
        ),
    )
    latest = workdir / "checkpoints" / "latest"
    assert any(p.name.startswith(f"{KILL_STEP}.") and "tmp" in p.name for p in latest.iterdir()), (
        "the kill did not land inside the checkpoint write"
    )
    step, state = raw_checkpoint(workdir)
    assert step == 2 and int(state["step"]) == 2  # the half-written step 4 is invisible
    assert all(np.isfinite(x).all() for x in _leaves(state["params"]))

    # Resume: from step 2, through a new step-4 checkpoint identical to the one that died.
    from orbjax.training.checkpoint import Checkpointer

    saved, real_save = {}, Checkpointer.save

    def spy(self, state, meta, val_loss=None):
        saved[int(state.step)] = _leaves(state.params)
        return real_save(self, state, meta, val_loss)

    monkeypatch.setattr(Checkpointer, "save", spy)
    from orbjax.training.loop import train_and_evaluate

    final = train_and_evaluate(tiny_config(data, 8), str(workdir))
    assert "resumed from step 2" in capsys.readouterr().out
    assert sorted(saved) == [4, 6, 8]
    killed = np.load(dump)
    for a, b in zip(saved[KILL_STEP], [killed[f"arr_{i}"] for i in range(len(killed.files))]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert raw_checkpoint(workdir)[0] == 8 and all(np.isfinite(v) for v in final.values())
    assert not [p.name for p in latest.iterdir() if "tmp" in p.name]  # orbax cleared the debris


def _leaves(tree):
    import jax

    return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]
