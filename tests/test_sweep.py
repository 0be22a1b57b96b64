"""Sweeps: expansion, the SLURM job array, preemption/kill/resubmission, collect."""

import csv
import json
import os
import pickle
import signal
import sys
import time
from pathlib import Path

import pytest

from orbjax import sweep as S

ROOT = Path(__file__).resolve().parents[1]
LEARNING_CURVE = str(ROOT / "configs" / "sweeps" / "learning_curve.py")
TEST_SWEEP = str(ROOT / "configs" / "sweeps" / "test.py")


def test_product_and_zip_build_the_runs():
    runs = S.product(
        S.axis("data.n_train", [10, 20]),
        S.zipit(S.axis("config", ["a", "b"]), S.axis("seed", [0, 1])),
    )
    assert runs == [
        {"data.n_train": 10, "config": "a", "seed": 0},
        {"data.n_train": 10, "config": "b", "seed": 1},
        {"data.n_train": 20, "config": "a", "seed": 0},
        {"data.n_train": 20, "config": "b", "seed": 1},
    ]
    with pytest.raises(ValueError, match="equal length"):
        S.zipit(S.axis("a", [1, 2]), S.axis("b", [1]))
    with pytest.raises(ValueError, match="swept twice"):
        S.product(S.axis("a", [1]), S.axis("a", [2]))


def test_learning_curve_sweep_expands_to_one_config_per_run(tmp_path):
    specs = S.expand(S.load_sweep(LEARNING_CURVE), LEARNING_CURVE, str(tmp_path))
    assert len(specs) == 5 * 6 * 3 and len({s["workdir"] for s in specs}) == len(specs)
    variants = {os.path.basename(s["config_path"]) for s in specs}
    assert variants == {
        f"{v}.py"
        for v in ("energy_only", "orbital", "orbital_invariant", "shell", "atomic", "dft_charges")
    }
    spec = next(s for s in specs if "n_train=50,config=shell,seed=2" == s["name"])
    config = S.build_config(spec)
    assert (config.data.n_train, config.seed) == (50, 2)
    # shell.py
    assert config.loss.weights.spd_populations > 0 == config.loss.weights.orbital_populations
    with pytest.raises(KeyError, match="num_stepz"):
        S.set_field(config, "train.num_stepz", 3)


def _fake_slurm(tmp_path, monkeypatch) -> Path:
    """`sbatch` that keeps the script it was given and answers with job id 4242; `srun` exists."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(
        '#!/bin/sh\ncp "$1" "$(dirname "$0")/submitted.sh"\necho "Submitted batch job 4242"\n'
    )
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def test_slurm_launcher_submits_one_array_of_the_unfinished_runs(tmp_path, monkeypatch):
    # (no capsys: submitit's logger keeps the stream it first saw, and capsys closes it)
    pytest.importorskip("submitit")
    bin_dir = _fake_slurm(tmp_path, monkeypatch)
    sweep_dir = tmp_path / "lc"
    argv = [
        "--config",
        LEARNING_CURVE,
        "--launcher",
        "slurm",
        "--cluster",
        "slurm",
        "--sweep-dir",
        str(sweep_dir),
    ]
    assert S.main(argv) == 0
    script = (bin_dir / "submitted.sh").read_text()
    for line in (
        "--array=0-89%32",
        "--partition=gpu",
        "--gpus-per-node=1",
        "--cpus-per-task=8",
        "--mem=32GB",
        "--time=240",
        "--signal=USR2@90",
        "--job-name=learning_curve",
    ):
        assert f"#SBATCH {line}\n" in script, line
    # Task i of the array trains run i of the sweep, in its own workdir, and can requeue itself.
    specs = S.expand(S.load_sweep(LEARNING_CURVE), LEARNING_CURVE, str(sweep_dir))
    with open(sweep_dir / "submitit" / "4242_7" / "4242_7_submitted.pkl", "rb") as f:
        delayed = pickle.load(f)
    assert isinstance(delayed.function, S.TrainRun) and delayed.args == (specs[7],)
    assert json.load(open(sweep_dir / specs[7]["name"] / "run.json")) == specs[7]
    # Resubmission leaves out finished runs.
    for spec in specs[:2]:
        Path(spec["workdir"], "final_metrics.json").write_text("{}")
    assert S.main(argv) == 0
    assert "#SBATCH --array=0-87%32\n" in (bin_dir / "submitted.sh").read_text()


# --- end to end through submitit's local executor -----------------------------------------


def _attempts(workdir) -> list[dict]:
    path = Path(workdir) / "attempts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait(condition, what: str, timeout: float = 300.0):
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


@pytest.fixture(scope="module")
def interrupted_sweep(tmp_path_factory):
    """Two runs as a job array on the local executor; the long one is preempted (SIGUSR2:
    submitit requeues it), then killed (SIGKILL: lost); the sweep is resubmitted."""
    pytest.importorskip("submitit")
    tmp = tmp_path_factory.mktemp("sweep")
    env = {
        "JAX_COMPILATION_CACHE_DIR": str(tmp / "jax_cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        "PYTHONPATH": str(ROOT),
        "JAX_PLATFORMS": "cpu",
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.chdir(ROOT)  # the test config's data path is relative to the repository
        sweep = S.load_sweep(TEST_SWEEP)
        sweep.runs = S.product(
            S.zipit(S.axis("seed", [0, 1]), S.axis("train.num_steps", [4, 60])),
            S.axis("data.limit", [16]),
            S.axis("train.n_buckets", [1]),
            S.axis("train.eval_every", [1000]),
            S.axis("train.checkpoint_every", [2]),
            S.axis("train.eval_at_start", [False]),
        )
        specs = S.expand(sweep, TEST_SWEEP, str(tmp / "runs"))
        short, long = specs
        S.prepare(specs)
        params = S.slurm_parameters(sweep.slurm, sweep.name)
        folder = str(tmp / "runs" / "submitit" / "%j")
        t0 = time.time()
        jobs = S.launch_slurm(specs, params, folder, cluster="local")
        _wait(
            lambda: (S.latest_step(long["workdir"]) or 0) >= 2, "first checkpoint of the long run"
        )
        first = _attempts(long["workdir"])[-1]
        # preemption: submitit calls TrainRun.checkpoint, requeues
        os.kill(first["pid"], signal.SIGUSR2)
        _wait(lambda: len(_attempts(long["workdir"])) == 2, "requeued attempt")
        second = _attempts(long["workdir"])[-1]
        _wait(
            lambda: S.latest_step(long["workdir"]) > second["resume_step"],
            "a checkpoint after the requeue",
        )
        os.kill(second["pid"], signal.SIGKILL)  # node failure: nothing requeues it
        jobs[0].result()
        with pytest.raises(Exception):
            jobs[1].result()
        killed_at = S.latest_step(long["workdir"])
        short_mtime = os.path.getmtime(Path(short["workdir"]) / "final_metrics.json")
        pending = S.pending(specs)
        resubmitted = S.launch_slurm(pending, params, folder, cluster="local")
        final = resubmitted[0].result()
        yield dict(
            specs=specs,
            jobs=jobs,
            pending=pending,
            resubmitted=resubmitted,
            final=final,
            killed_at=killed_at,
            short_mtime=short_mtime,
            seconds=time.time() - t0,
            sweep_dir=tmp / "runs",
        )


def test_job_array_runs_preempted_and_killed_runs_resume(interrupted_sweep):
    r = interrupted_sweep
    short, long = r["specs"]
    assert len(r["jobs"]) == 2
    assert [s["name"] for s in r["pending"]] == [long["name"]]  # the finished run is skipped
    assert len(r["resubmitted"]) == 1
    attempts = _attempts(long["workdir"])
    steps = [a["resume_step"] for a in attempts]
    assert len(attempts) == 3 and steps[0] is None, attempts
    # each resumed from its checkpoint
    assert steps[1] >= 2 and steps[2] == r["killed_at"] > steps[1], attempts
    assert len(_attempts(short["workdir"])) == 1
    assert os.path.getmtime(Path(short["workdir"]) / "final_metrics.json") == r["short_mtime"]
    assert json.load(open(Path(long["workdir"]) / "final_metrics.json")) == pytest.approx(
        r["final"]
    )
    rows = [
        row
        for row in csv.DictReader(open(Path(long["workdir"]) / "metrics.csv"))
        if row["split"] == "train"
    ]
    assert max(int(row["step"]) for row in rows) == 60
    print(f"sweep with preemption, kill and resubmission: {r['seconds']:.0f} s")


def test_collect_gives_one_row_per_run_with_its_overrides(interrupted_sweep, tmp_path):
    out = S.collect(str(interrupted_sweep["sweep_dir"]), str(tmp_path / "results.csv"))
    rows = list(csv.DictReader(open(out)))
    assert [(r["seed"], r["train.num_steps"], r["status"]) for r in rows] == [
        ("0", "4", "finished"),
        ("1", "60", "finished"),
    ]
    for row, spec in zip(rows, interrupted_sweep["specs"]):
        assert row["name"] == spec["name"] and row["config"] == "test"
        final = json.load(open(Path(spec["workdir"]) / "final_metrics.json"))
        assert float(row["forces_mae"]) == pytest.approx(final["forces_mae"])
        assert float(row["forces_mae"]) > 0


@pytest.mark.slow
def test_local_launcher_runs_the_test_sweep_with_two_workers(tmp_path, monkeypatch):
    """The command line end to end: 4 runs, 2 at a time, then collect; a relaunch skips all."""
    import subprocess

    monkeypatch.chdir(ROOT)
    sweep_dir = tmp_path / "test_sweep"
    cmd = [
        sys.executable,
        "-m",
        "orbjax.sweep",
        "--config",
        TEST_SWEEP,
        "--launcher",
        "local",
        "--workers",
        "2",
        "--sweep-dir",
        str(sweep_dir),
    ]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    again = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    assert "4 runs, 4 finished, 0 to launch" in again
    subprocess.run(
        [sys.executable, "-m", "orbjax.sweep", "collect", "--sweep-dir", str(sweep_dir)], check=True
    )
    rows = list(csv.DictReader(open(sweep_dir / "results.csv")))
    assert sorted((r["seed"], r["optimizer.learning_rate"]) for r in rows) == [
        ("0", "0.003"),
        ("0", "0.01"),
        ("1", "0.003"),
        ("1", "0.01"),
    ]
    assert all(r["status"] == "finished" and float(r["energy_mae"]) > 0 for r in rows)


def test_only_selects_runs_by_swept_value_and_config_name(tmp_path):
    specs = S.expand(S.load_sweep(LEARNING_CURVE), LEARNING_CURVE, str(tmp_path))
    chosen = S.select(specs, ["seed=1", "config=orbital"])
    assert len(chosen) == 5 and all(s["overrides"]["seed"] == 1 for s in chosen)
    assert {os.path.basename(s["config_path"]) for s in chosen} == {"orbital.py"}
    assert S.select(specs, []) == specs
    with pytest.raises(ValueError, match="KEY=VALUE"):
        S.select(specs, ["seed"])


@pytest.mark.parametrize("dataset", ["lc_acac", "lc_chno", "lc_chno_grown"])
def test_learning_curve_experiments_build_valid_configs_for_every_kind(tmp_path, dataset):
    """Every run of every kind (`file.py:kind` → get_config(kind)) is a valid training config."""
    expected = {
        "curve": None,
        "weights": 8,
        "noforces": None,
        "controls": None,
        "head_input": 6,
        "noforces_controls": None,
        "long": 10,
        "long_small": 10,
        "tta": 1,
        "tta_long": 1,
    }
    largest_steps = S.load_sweep(str(ROOT / "configs" / "sweeps" / f"{dataset}.py")).runs[-1][
        "train.num_steps"
    ]
    for kind, n_runs in expected.items():
        path = str(ROOT / "configs" / "sweeps" / f"{dataset}.py") + (
            "" if kind == "curve" else f":{kind}"
        )
        specs = S.expand(S.load_sweep(path), path, str(tmp_path / kind))
        assert n_runs is None or len(specs) == n_runs
        configs = [S.build_config(s) for s in specs]
        if kind == "weights":
            assert sorted({c.loss.weights.orbital_populations for c in configs}) == [
                10.0,
                1000.0,
                3000.0,
                10000.0,
            ]
        if kind == "noforces":
            assert {c.loss.weights.forces for c in configs} == {0.0}
        if kind == "controls":
            shuffled = [
                c
                for s, c in zip(specs, configs)
                if s["config_path"].endswith("orbital_shuffled.py")
            ]
            assert shuffled and all(
                c.data.shuffle_targets == "xtb_orbital_populations" for c in shuffled
            )
        if kind in ("long", "long_small"):  # both arms, seeds 0-4, one size at 4x its budget
            sizes_steps = {
                (r["data.n_train"], r["train.num_steps"])
                for r in S.load_sweep(str(ROOT / "configs" / "sweeps" / f"{dataset}.py")).runs
            }
            n = {c.data.n_train for c in configs}
            assert len(n) == 1 and (n == {50} if kind == "long_small" else n != {50})
            assert {c.train.num_steps for c in configs} == {4 * dict(sizes_steps)[n.pop()]}
            assert sorted((c.seed, c.loss.weights.orbital_populations > 0) for c in configs) == [
                (s, o) for s in range(5) for o in (False, True)
            ]
        # energy-only, seed 0, the largest size's budget × 12 / × 48
        if kind in ("tta", "tta_long"):
            assert (
                configs[0].seed == 0
                and configs[0].train.num_steps == {"tta": 12, "tta_long": 48}[kind] * largest_steps
            )
        # the evaluation sets do not depend on the seed: only the subsample and the initialisation
        # do
        assert len({(c.data.split_seed, c.data.val_path, c.data.test_path) for c in configs}) == 1
    with pytest.raises(ValueError, match="unknown kind"):
        S.load_sweep(str(ROOT / "configs" / "sweeps" / f"{dataset}.py") + ":nonsense")
