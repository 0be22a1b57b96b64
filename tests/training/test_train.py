"""End-to-end training on real data: errors go down, and a killed run resumes exactly."""

import csv
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orbjax.config import load_config_module
from orbjax.training.checkpoint import read_meta
from orbjax.training.loop import TrainingClock, train_and_evaluate

ROOT = Path(__file__).resolve().parents[2]
test_config = load_config_module(str(ROOT / "configs" / "test.py"))
ETHANOL = ROOT / ".." / "shared" / "data" / "botnet" / "ethanol" / "train.xyz"


def val_metrics(workdir):
    rows = list(csv.DictReader(open(os.path.join(workdir, "metrics.csv"))))
    by_step = {}
    for r in rows:
        if r["split"] == "val":
            by_step.setdefault(int(r["step"]), {})[r["metric"]] = float(r["value"])
    return by_step


def test_training_on_real_data_lowers_validation_errors(tmp_path):
    """Ethanol (PBE, rMD17 geometries): one molecule, so 100 structures are enough to learn."""
    if not ETHANOL.exists():
        pytest.skip("shared botnet data not present")
    config = test_config.get_config()
    config.data.train_path = str(ETHANOL)
    config.data.key_preset = "default"
    config.data.split_by = "structure"
    config.data.limit = 100
    config.loss.weights.energy = 10.0
    config.train.num_steps = 120
    config.train.eval_every = 120
    final = train_and_evaluate(config, str(tmp_path))
    history = val_metrics(tmp_path)
    start, end = history[0], history[max(history)]
    assert end["energy_mae"] < 0.5 * start["energy_mae"], (start, end)
    assert end["forces_mae"] < 0.8 * start["forces_mae"], (start, end)
    assert final["energy_mae"] == pytest.approx(end["energy_mae"])
    assert (tmp_path / "config.json").exists() and (tmp_path / "statistics.json").exists()
    assert list((tmp_path / "tensorboard").iterdir())


def _train_cmd(workdir, *overrides):
    return [
        sys.executable,
        "-m",
        "orbjax.train",
        "--config",
        str(ROOT / "configs" / "test.py"),
        "--workdir",
        str(workdir),
        "--config.train.checkpoint_every=5",
        *overrides,
    ]


ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory) -> dict:
    """Final metrics of an uninterrupted run of the test config."""
    workdir = tmp_path_factory.mktemp("straight")
    subprocess.run(_train_cmd(workdir), check=True, cwd=ROOT, env=ENV, capture_output=True)
    return json.load(open(workdir / "final_metrics.json"))


def _assert_same_final_metrics(workdir, straight):
    resumed = json.load(open(workdir / "final_metrics.json"))
    for key in ("energy_mae", "forces_mae", "forces_rmse"):
        assert resumed[key] == pytest.approx(straight[key], rel=1e-5), key


def _wait_for(condition, proc, timeout=300.0):
    deadline = time.time() + timeout
    while not condition() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)


@pytest.mark.slow  # ~1 min on CI; the default suite keeps its quicker siblings
def test_killed_run_resumes_to_the_same_metrics(tmp_path, straight_run):
    """kill -9 after a mid-run checkpoint, restart: same final metrics as an uninterrupted run."""
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        _train_cmd(killed), cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait_for((killed / "checkpoints" / "latest" / "15").exists, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "final_metrics.json").exists(), (
        "the run finished before it could be killed"
    )
    subprocess.run(_train_cmd(killed), check=True, cwd=ROOT, env=ENV, capture_output=True)
    _assert_same_final_metrics(killed, straight_run)


def test_sigterm_saves_a_checkpoint_at_the_current_step_then_ends_the_run(tmp_path, straight_run):
    """A scheduler's SIGTERM mid-run: the loop checkpoints the step it reached (no periodic
    checkpoint is due), the process then ends by the signal; the restart loses no step."""
    termed = tmp_path / "termed"
    rare = ["--config.train.checkpoint_every=1000", "--config.train.eval_every=1000"]
    proc = subprocess.Popen(
        _train_cmd(termed, *rare),
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    metrics = termed / "metrics.csv"
    # step 10 (log_every)
    _wait_for(lambda: metrics.exists() and ",train," in metrics.read_text(), proc)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == -signal.SIGTERM, out[-3000:]
    steps = sorted(int(d) for d in os.listdir(termed / "checkpoints" / "latest") if d.isdigit())
    assert len(steps) == 1 and 10 <= steps[0] < 40, steps
    assert f"step {steps[0]}: stop signal {int(signal.SIGTERM)}; checkpoint saved" in out, out[
        -3000:
    ]
    assert not (termed / "final_metrics.json").exists()
    cpu_before = read_meta(str(termed), "latest")[0]["process_cpu_s"]  # the first attempt's CPU s
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    resumed = subprocess.run(
        _train_cmd(termed, *rare), check=True, cwd=ROOT, env=ENV, capture_output=True, text=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert f"resumed from step {steps[0]}" in resumed.stdout
    _assert_same_final_metrics(termed, straight_run)
    # The cost clock carries on from the checkpoint: the last validation's CPU seconds are the
    # first attempt's plus (most of) the resumed process's own.
    resumed_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    times = [
        r
        for r in csv.DictReader(open(metrics))
        if r["split"] == "time" and r["metric"] == "process_cpu_s"
    ]
    last = float(times[-1]["value"])
    assert (
        cpu_before > 0.5 and cpu_before + 0.5 * resumed_cpu < last <= cpu_before + resumed_cpu + 0.5
    ), (cpu_before, resumed_cpu, last)


def test_test_sets_are_scored_with_the_best_validation_checkpoint(tmp_path):
    """`test_*` and every `data.extra_tests` set come from the checkpoint with the lowest validation
    loss (the model a user loads), whose step is reported; the same file scores the same."""
    if not ETHANOL.exists():
        pytest.skip("shared botnet data not present")
    from ase.io import read, write

    frames = tmp_path / "held_out.extxyz"
    write(frames, read(ETHANOL, "900:912"), format="extxyz")
    config = test_config.get_config()
    config.data.train_path = str(ETHANOL)
    config.data.key_preset = "default"
    config.data.split_by = "structure"
    config.data.limit = 60
    config.data.val_path = str(frames)  # val_path given: all 60 train, these 12 validate
    config.data.test_path = str(frames)
    config.data.extra_tests = f"again={frames}"
    config.train.num_steps = 40
    config.train.eval_every = 10
    # too large: validation gets worse after the first evaluation
    config.optimizer.learning_rate = 0.5
    config.optimizer.schedule = "constant"
    final = train_and_evaluate(config, str(tmp_path / "run"))
    val_loss = {
        step: m["val_loss"] for step, m in val_metrics(tmp_path / "run").items() if step > 0
    }
    # the scenario: the last step is not the best
    assert min(val_loss, key=val_loss.get) < 40, val_loss
    assert final["selected_step"] == min(val_loss, key=val_loss.get)
    assert final["test_energy_mae"] == pytest.approx(final["again_energy_mae"])
    assert final["test_forces_mae"] == pytest.approx(final["again_forces_mae"])
    # The validation set is the test file here, so the selected checkpoint's test error is
    # the minimum over evaluations of the validation energy/force loss.
    best = val_metrics(tmp_path / "run")[final["selected_step"]]
    assert final["test_forces_rmse"] == pytest.approx(best["forces_rmse"], rel=1e-4)


def test_clock_resumed_from_a_checkpoint_without_one_says_it_is_incomplete():
    clock = TrainingClock()
    clock.resumed_from({"epoch": 1, "batch_in_epoch": 0})  # written before orbjax kept the clock
    assert clock.elapsed()["clock_complete"] == 0.0
    clock = TrainingClock()
    clock.resumed_from({"process_cpu_s": 5.0, "wall_s": 7.0, "clock_complete": 1.0})
    elapsed = clock.elapsed()
    assert (
        elapsed["clock_complete"] == 1.0
        and 5.0 <= elapsed["process_cpu_s"] < 6.0
        and 7.0 <= elapsed["wall_s"] < 8.0
    )
    clock = TrainingClock()
    # stays incomplete
    clock.resumed_from({"process_cpu_s": 5.0, "wall_s": 7.0, "clock_complete": 0.0})
    assert clock.elapsed()["clock_complete"] == 0.0
