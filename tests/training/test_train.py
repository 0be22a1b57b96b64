"""End-to-end training on real data: errors go down, and a killed run resumes exactly."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orbjax.config import load_config_module
from orbjax.train import train_and_evaluate

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
    return [sys.executable, "-m", "orbjax.train", "--config", str(ROOT / "configs" / "test.py"),
            "--workdir", str(workdir), "--config.train.checkpoint_every=5", *overrides]


def test_killed_run_resumes_to_the_same_metrics(tmp_path):
    """kill -9 after a mid-run checkpoint, restart: same final metrics as an uninterrupted run."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(_train_cmd(straight), check=True, cwd=ROOT, env=env, capture_output=True)
    proc = subprocess.Popen(_train_cmd(killed), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    marker = killed / "checkpoints" / "latest" / "15"
    deadline = time.time() + 300
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "final_metrics.json").exists(), "the run finished before it could be killed"
    subprocess.run(_train_cmd(killed), check=True, cwd=ROOT, env=env, capture_output=True)
    a = json.load(open(straight / "final_metrics.json"))
    b = json.load(open(killed / "final_metrics.json"))
    for key in ("energy_mae", "forces_mae", "forces_rmse"):
        assert b[key] == pytest.approx(a[key], rel=1e-5), key
