"""Data parallelism on a 2-device CPU mesh: the same step, the same training, as one device.

XLA must see two host devices before jax is imported, so each check runs in a subprocess
with XLA_FLAGS=--xla_force_host_platform_device_count=2 and prints its numbers as JSON.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_on_two_devices(script: str, tmp_path) -> tuple[dict, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
        "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax_cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
    proc = subprocess.run(
        [sys.executable, "-c", script, str(ROOT), str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return result, proc.stdout


COMMON = r"""
import json, sys
import orbjax.runtime
orbjax.runtime.tune_cpu()  # as the command lines run (XLA_FLAGS is this test's own here)
import jax, jax.numpy as jnp, jraph, numpy as np, optax
from orbjax.config import load_config_module
root, tmp = sys.argv[1], sys.argv[2]
assert jax.device_count() == 2, jax.devices()
config = load_config_module(root + "/configs/test.py").get_config()
config.data.limit = 16
config.loss.weights.dft_charges = 1.0  # a per-atom charge target with its own mask and head
config.model.heads = ("dft_charges",)
"""

STEP_SCRIPT = (
    COMMON
    + r"""
from orbjax.data.batching import compute_budgets, pad_batch
from orbjax.model.statistics import compute_statistics
from orbjax.training.batches import to_device
from orbjax.training.data import load_splits
from orbjax.model.build import create_model, init_params, statistics_variables
from orbjax.training.parallel import DataParallel
from orbjax.training.state import TrainState
from orbjax.training.step import make_eval_step, make_train_step

data = load_splits(config.data, config.model.cutoff, config.seed)
graphs = data.train[:5]  # 3 graphs on one device, 2 on the other
statistics = compute_statistics(data.train)
model = create_model(config, statistics)
stats = statistics_variables(model, statistics, np.float32)
weights = {k: v for k, v in config.loss.weights.items() if v > 0}
targets = tuple(weights)
dp = DataParallel()
budgets = dp.compute_budgets(graphs, 5, 1)
tx = optax.sgd(0.05)  # the update is proportional to the gradient (Adam would hide its scale)
state0 = TrainState.create(init_params(model, 0), tx, jax.random.PRNGKey(0))

big = compute_budgets(graphs, 5, 1)[0]
one = to_device(pad_batch(graphs, big), jnp.float32)
single_step = make_train_step(model, tx, weights, statistics=stats)
dp_step = dp.train_step(model, tx, weights, statistics=stats)
s1, m1 = single_step(jax.tree.map(jnp.copy, state0), one)
batch = next(dp.batch_iterator(graphs, 5, budgets, jnp.float32, shuffle=False))
s2, m2 = dp_step(dp.replicate(state0), batch)
# A global batch of one graph: the second device holds only padding.
s3, m3 = single_step(
    jax.tree.map(jnp.copy, state0), to_device(pad_batch(graphs[:1], big), jnp.float32)
)
lone = next(dp.batch_iterator(graphs[:1], 5, budgets, jnp.float32, shuffle=False))
s4, m4 = dp_step(dp.replicate(state0), lone)

e1 = make_eval_step(model, targets, statistics=stats)(state0.params, one)
e2 = dp.eval_step(model, targets, statistics=stats)(dp.replicate(state0.params), batch)
# What averaging per-device losses would give (the mistake the global reduction avoids).
pieces = np.array_split(np.arange(5), 2)
per_device = [
    make_eval_step(model, targets, statistics=stats)(
        state0.params, to_device(pad_batch([graphs[i] for i in p], budgets[0]), jnp.float32)
    )
    for p in pieces
]
naive = np.mean(
    [sum(w * float(s[t][1]) / float(s[t][2]) for t, w in weights.items()) for s in per_device]
)



def real_atoms(b):
    return [int(jnp.sum(jraph.get_node_padding_mask(jax.tree.map(lambda x: x[d], b))))
            for d in range(2)]


def leaves(f, a, b):
    return [float(jnp.max(jnp.abs(f(x, y))))
            for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))]


print(json.dumps(dict(
    loss_one=float(m1["loss"]), loss_two=float(m2["loss"]), naive_loss=float(naive),
    terms_one={k: float(v) for k, v in m1.items() if k.startswith("mse_")},
    terms_two={k: float(v) for k, v in m2.items() if k.startswith("mse_")},
    param_diff=max(leaves(lambda x, y: x - y, s1.params, s2.params)),
    param_change=max(leaves(lambda x, y: x - y, s1.params, state0.params)),
    ema_diff=max(leaves(lambda x, y: x - y, s1.ema_params, s2.ema_params)),
    lone_loss=[float(m3["loss"]), float(m4["loss"])],
    lone_param_diff=max(leaves(lambda x, y: x - y, s3.params, s4.params)),
    lone_real_nodes=real_atoms(lone),
    eval_one={k: [float(x) for x in v] for k, v in e1.items()},
    eval_two={k: [float(x) for x in v] for k, v in e2.items()},
    atoms_per_device=real_atoms(batch),
    params_spec=list(jax.tree.leaves(s2.params)[0].sharding.spec),
    batch_spec=list(batch.n_node.sharding.spec))))
"""
)


def test_two_device_step_equals_one_device_step_on_the_same_global_batch(tmp_path):
    r, _ = run_on_two_devices(STEP_SCRIPT, tmp_path)
    assert r["atoms_per_device"][0] != r["atoms_per_device"][1], r["atoms_per_device"]
    assert r["loss_two"] == pytest.approx(r["loss_one"], rel=1e-5)
    for k, v in r["terms_one"].items():
        assert r["terms_two"][k] == pytest.approx(v, rel=1e-5), k
    # Averaging per-device means would be measurably wrong here, so the check above has teeth.
    assert abs(r["naive_loss"] - r["loss_one"]) > 1e-3 * r["loss_one"], r
    assert r["param_change"] > 1e-4
    assert r["param_diff"] <= 1e-5 * r["param_change"] + 1e-7, r
    assert r["ema_diff"] <= 1e-5 * r["param_change"] + 1e-7, r
    for k, (abs_sum, sq_sum, n) in r["eval_one"].items():
        assert r["eval_two"][k] == pytest.approx([abs_sum, sq_sum, n], rel=1e-5), k
    assert r["lone_real_nodes"][1] == 0 < r["lone_real_nodes"][0]
    assert r["lone_loss"][1] == pytest.approx(r["lone_loss"][0], rel=1e-5)
    assert r["lone_param_diff"] <= 1e-5 * r["param_change"] + 1e-7, r
    assert r["params_spec"] == [] and r["batch_spec"] == ["data"]  # replicated; split over devices


RUN_SCRIPT = (
    COMMON
    + r"""
import os, shutil
from orbjax.training.loop import train_and_evaluate

config.data.limit = 20
config.train.batch_size = 4
config.train.num_steps = 8
config.train.eval_every = 4
config.train.checkpoint_every = 2
config.train.eval_at_start = False
config.train.n_buckets = 1
runs = {}
for mode in ("true", "false"):
    config.parallel.data_parallel = mode
    runs[mode] = train_and_evaluate(config, f"{tmp}/{mode}")
# Lose the last checkpoint and the result: the rerun resumes from step 6 on both devices.
shutil.rmtree(f"{tmp}/true/checkpoints/latest/8")
os.remove(f"{tmp}/true/final_metrics.json")
config.parallel.data_parallel = "true"
runs["resumed"] = train_and_evaluate(config, f"{tmp}/true")
print(json.dumps({k: {m: float(v) for m, v in r.items()} for k, r in runs.items()}))
"""
)


@pytest.mark.slow  # ~1 min on CI; the default suite keeps its quicker siblings
def test_two_device_training_matches_one_device_and_resumes(tmp_path):
    """8 steps on 2 devices: finite, checkpointed, the same as 1 device, resumable."""
    runs, out = run_on_two_devices(RUN_SCRIPT, tmp_path)
    assert "data parallel over 2 devices" in out and "resumed from step 6" in out
    two, one, resumed = runs["true"], runs["false"], runs["resumed"]
    assert all(math.isfinite(v) for v in two.values())
    assert sorted(os.listdir(tmp_path / "true" / "checkpoints" / "latest")) == ["6", "8"]
    assert (tmp_path / "true" / "checkpoints" / "best").exists()
    for key in ("energy_mae", "forces_mae", "dft_charges_mae"):
        assert two[key] == pytest.approx(one[key], rel=1e-3), key
        assert resumed[key] == pytest.approx(two[key], rel=1e-4), key


def test_config_switches_for_data_parallel_and_multihost(monkeypatch):
    import jax
    import ml_collections

    from orbjax.training import parallel

    calls = []
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **k: calls.append(1))

    def config(**kw):
        return ml_collections.ConfigDict(
            {"parallel": {"data_parallel": "auto", "multihost": "auto", **kw}}
        )

    monkeypatch.delenv("SLURM_NTASKS", raising=False)
    assert parallel.initialize_distributed(config()) is False and not calls
    monkeypatch.setenv("SLURM_NTASKS", "1")  # a job array task: one process
    assert parallel.initialize_distributed(config()) is False and not calls
    monkeypatch.setenv("SLURM_NTASKS", "4")
    assert parallel.initialize_distributed(config(multihost="false")) is False and not calls
    assert parallel.initialize_distributed(config()) is True and len(calls) == 1
    assert parallel.initialize_distributed(config(multihost="true")) is True and len(calls) == 2
    with pytest.raises(ValueError, match="multihost"):
        parallel.initialize_distributed(config(multihost="maybe"))
    n = jax.device_count()
    assert isinstance(parallel.from_config(config()), parallel.SingleDevice) == (n == 1)
    assert isinstance(parallel.from_config(config(data_parallel="false")), parallel.SingleDevice)
    assert parallel.from_config(config(data_parallel=True)).n_devices == n


MULTIHOST_SCRIPT = r"""
import json, sys
import jax
root, workdir, mode, port = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
if mode != "single":
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=int(mode))
    assert jax.device_count() == 2 and jax.local_device_count() == 1, jax.devices()
from orbjax.config import load_config_module
from orbjax.training.loop import train_and_evaluate
config = load_config_module(root + "/configs/test.py").get_config()
config.data.limit = 20
config.train.batch_size = 4
config.train.num_steps = 6
config.train.eval_every = 3
config.train.checkpoint_every = 2
config.train.eval_at_start = False
config.train.n_buckets = 1
config.parallel.data_parallel = "false" if mode == "single" else "true"
final = train_and_evaluate(config, workdir)
print(json.dumps({k: float(v) for k, v in final.items()}))
"""


@pytest.mark.slow
def test_two_processes_train_like_one_device(tmp_path):
    """Multi-host emulated on CPU: 2 processes × 1 device (gloo collectives), one workdir."""
    import csv
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)

    def start(mode, workdir):
        return subprocess.Popen(
            [sys.executable, "-c", MULTIHOST_SCRIPT, str(ROOT), str(workdir), mode, port],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    procs = [start(str(i), tmp_path / "multi") for i in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs[0][-3000:] + outs[1][-3000:]
    single = subprocess.run(
        [
            sys.executable,
            "-c",
            MULTIHOST_SCRIPT,
            str(ROOT),
            str(tmp_path / "single"),
            "single",
            port,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out in outs]
    reference = json.loads(single.stdout.strip().splitlines()[-1])
    assert results[0] == results[1]
    for key in ("energy_mae", "forces_mae", "forces_rmse"):
        assert results[0][key] == pytest.approx(reference[key], rel=1e-3), key
    assert "data parallel over 2 devices" in outs[0] and "data parallel over" not in outs[1]
    rows = [
        (r["step"], r["split"], r["metric"])
        for r in csv.DictReader(open(tmp_path / "multi" / "metrics.csv"))
    ]
    assert len(rows) == len(set(rows)) > 0  # written once, by process 0
    assert sorted(os.listdir(tmp_path / "multi" / "checkpoints" / "latest")) == ["4", "6"]
