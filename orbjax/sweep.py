"""Sweeps: many training runs from one sweep config, on this machine or on a SLURM cluster.

    python -m orbjax.sweep --config configs/sweeps/learning_curve.py --launcher slurm [--dry-run]
    python -m orbjax.sweep --config configs/sweeps/test.py --launcher local --workers 2
    python -m orbjax.sweep --config configs/sweeps/lc_acac.py:weights ...   # get_config("weights")
    python -m orbjax.sweep collect --sweep-dir runs/sweeps/learning_curve   # → results.csv

A sweep config is a Python file whose `get_config()` returns an ml_collections ConfigDict:

    base_config   training config file, relative to the sweep file
    runs          a list of override dicts, built with `product`, `zipit` and `axis`; the
                  key "config" names another training config (a sibling of base_config,
                  e.g. "energy_only", or a path relative to the sweep file)
    sweep_dir     one workdir per run under it: <sweep_dir>/<run name>/
    slurm         partition, gpus_per_node, cpus_per_task, mem_gb, timeout_min, nodes,
                  tasks_per_node, array_parallelism, account, qos, constraint, setup

Each run's workdir gets `run.json` (its config file and overrides) when the sweep is
launched. Launching again skips finished runs (final_metrics.json present) and resumes
the others from their checkpoints (training resumes by itself). On SLURM the runs form
one job array (submitit); a preempted or timed-out run is requeued by submitit and
resumes from its latest checkpoint.
"""

from __future__ import annotations

import concurrent.futures
import csv
import itertools
import json
import os
import queue
import re
import subprocess
import sys
from typing import Any, Sequence

import ml_collections

from orbjax.config import load_config_module

RUN_FILE = "run.json"
FINAL_FILE = "final_metrics.json"


# --- building a sweep ----------------------------------------------------------------------


def axis(key: str, values: Sequence) -> list[dict]:
    """One swept config field: [{key: v} for v in values] (dotted keys, e.g. "data.n_train")."""
    return [{key: v} for v in values]


def product(*axes: list[dict]) -> list[dict]:
    """Every combination; the first axis varies slowest."""
    return [_merge(combo) for combo in itertools.product(*axes)]


def zipit(*axes: list[dict]) -> list[dict]:
    """Axes of equal length, taken together element by element."""
    if len({len(a) for a in axes}) > 1:
        raise ValueError(f"zipit needs axes of equal length, got {[len(a) for a in axes]}")
    return [_merge(combo) for combo in zip(*axes)]


def _merge(dicts) -> dict:
    out = {}
    for d in dicts:
        clash = set(out) & set(d)
        if clash:
            raise ValueError(f"the same field is swept twice: {sorted(clash)}")
        out.update(d)
    return out


# --- runs ----------------------------------------------------------------------------------


def split_config_arg(path: str) -> tuple[str, str | None]:
    """ "sweep.py:arg" → ("sweep.py", "arg") (ml_collections' convention); no ":arg" → None."""
    file, sep, arg = path.rpartition(".py:")
    return (file + ".py", arg) if sep else (path, None)


def load_sweep(path: str) -> ml_collections.ConfigDict:
    """`get_config()` of a sweep file, or `get_config(arg)` for "file.py:arg"."""
    file, arg = split_config_arg(path)
    if not os.path.isfile(file):
        raise FileNotFoundError(f"{file}: no such sweep config file (e.g. configs/sweeps/test.py)")
    module = load_config_module(file)
    sweep = module.get_config() if arg is None else module.get_config(arg)
    for field in ("base_config", "runs", "sweep_dir"):
        if field not in sweep:
            raise ValueError(f"{path}: sweep config has no {field!r}")
    return sweep


def expand(sweep, sweep_file: str, sweep_dir: str | None = None) -> list[dict]:
    """One run spec per override dict: {name, workdir, config_path, overrides}."""
    here = os.path.dirname(os.path.abspath(split_config_arg(sweep_file)[0]))
    base = os.path.normpath(os.path.join(here, sweep.base_config))
    sweep_dir = os.path.abspath(sweep_dir or sweep.sweep_dir)
    runs = [dict(r) for r in sweep.runs]
    varying = [
        k
        for k in dict.fromkeys(k for r in runs for k in r)
        if len({repr(r.get(k)) for r in runs}) > 1
    ]
    specs = []
    for overrides in runs:
        config_path = _config_path(overrides.pop("config", None), base, here)
        full = {**({"config": _stem(config_path)} if "config" in varying else {}), **overrides}
        name = run_name({k: full.get(k) for k in varying}) or "run"
        specs.append(
            dict(
                name=name,
                workdir=os.path.join(sweep_dir, name),
                config_path=config_path,
                overrides=overrides,
            )
        )
    names = [s["name"] for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(
            f"{sweep_file}: two runs have the same overrides ({len(names) - len(set(names))} "
            "duplicates)"
        )
    return specs


def _config_path(value, base: str, here: str) -> str:
    if value is None:
        return base
    if value.endswith(".py"):
        return os.path.normpath(os.path.join(here, value))
    return os.path.join(os.path.dirname(base), f"{value}.py")


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def run_name(labels: dict) -> str:
    """A directory name from the swept values, e.g. 'config=orbital,n_train=100,seed=0'."""
    short = [k.rsplit(".", 1)[-1] for k in labels]
    keys = short if len(set(short)) == len(short) else list(labels)
    return ",".join(f"{k}={_clean(v)}" for k, v in zip(keys, labels.values()))


def _clean(value) -> str:
    text = _stem(value) if isinstance(value, str) and "/" in value else str(value)
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", text)[:40]


def build_config(spec: dict) -> ml_collections.ConfigDict:
    """The training config of one run: its config file with the overrides applied."""
    config = load_config_module(spec["config_path"]).get_config()
    for key, value in spec["overrides"].items():
        set_field(config, key, value)
    return config


def set_field(config: ml_collections.ConfigDict, key: str, value: Any) -> None:
    """config.a.b = value for key 'a.b'; an unknown field is an error (typos do not pass)."""
    *path, last = key.split(".")
    node = config
    for part in path:
        if part not in node:
            raise KeyError(f"sweep override {key!r}: the config has no field {part!r}")
        node = node[part]
    if last not in node and len(node):  # empty dicts (key_overrides) take new keys
        raise KeyError(
            f"sweep override {key!r}: no field {last!r} (fields: {', '.join(sorted(node))})"
        )
    if isinstance(node.get(last), tuple) and isinstance(value, list):
        value = tuple(value)
    node[last] = value


def is_finished(workdir: str) -> bool:
    return os.path.exists(os.path.join(workdir, FINAL_FILE))


def prepare(specs: list[dict]) -> None:
    """Create the workdirs and write each run's run.json (what collect reads back)."""
    for spec in specs:
        os.makedirs(spec["workdir"], exist_ok=True)
        with open(os.path.join(spec["workdir"], RUN_FILE), "w") as f:
            json.dump(spec, f, indent=1)


def run(spec: dict) -> dict:
    """Train one run in this process (resuming from its checkpoint); skip it if finished."""
    if is_finished(spec["workdir"]):
        with open(os.path.join(spec["workdir"], FINAL_FILE)) as f:
            return json.load(f)
    from orbjax.training.loop import train_and_evaluate

    os.makedirs(spec["workdir"], exist_ok=True)
    _log_attempt(spec["workdir"])
    final = train_and_evaluate(build_config(spec), spec["workdir"])
    return {k: float(v) for k, v in final.items()}


def latest_step(workdir: str) -> int | None:
    """Step of the latest checkpoint in a run's workdir (None: none yet)."""
    latest = os.path.join(workdir, "checkpoints", "latest")
    steps = [int(d) for d in os.listdir(latest) if d.isdigit()] if os.path.isdir(latest) else []
    return max(steps) if steps else None


def _log_attempt(workdir: str) -> None:
    """One line per start of a run in <workdir>/attempts.jsonl: requeues and resumptions show."""
    import socket
    import time

    job = os.environ.get(
        "SLURM_ARRAY_JOB_ID",
        os.environ.get("SLURM_JOB_ID", os.environ.get("SUBMITIT_LOCAL_JOB_ID")),
    )
    line = dict(
        time=time.strftime("%Y-%m-%dT%H:%M:%S"),
        host=socket.gethostname(),
        pid=os.getpid(),
        job=job,
        task=os.environ.get("SLURM_ARRAY_TASK_ID"),
        resume_step=latest_step(workdir),
    )
    if int(os.environ.get("SLURM_PROCID", "0")) == 0:
        with open(os.path.join(workdir, "attempts.jsonl"), "a") as f:
            f.write(json.dumps(line) + "\n")


class TrainRun:
    """The callable submitit runs for each array task.

    `checkpoint` is what submitit calls on preemption or timeout: it requeues the same
    run, which resumes from the checkpoint the training loop saved when the signal came
    (`training/preemption.py`: the signal takes effect between steps, not inside one).
    """

    def __call__(self, spec: dict) -> dict:
        from orbjax.runtime import tune_cpu

        tune_cpu()  # this job's process is started by submitit, not by our command line
        return run(spec)

    def checkpoint(self, spec: dict):
        import submitit

        return submitit.helpers.DelayedSubmission(TrainRun(), spec)


# --- launchers -----------------------------------------------------------------------------


def select(specs: list[dict], only: Sequence[str]) -> list[dict]:
    """Specs whose overrides (or config name, key "config") match every "key=value" of `only`."""
    conditions = []
    for item in only:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--only {item!r}: expected KEY=VALUE")
        conditions.append((key, value))

    def value_of(spec, key):
        return _stem(spec["config_path"]) if key == "config" else str(spec["overrides"].get(key))

    return [s for s in specs if all(value_of(s, k) == v for k, v in conditions)]


def pending(specs: list[dict]) -> list[dict]:
    return [s for s in specs if not is_finished(s["workdir"])]


def launch_local(specs: list[dict], workers: int = 1, gpus_per_worker: int = 0) -> dict[str, int]:
    """Run each spec as `python -m orbjax.sweep run RUN_JSON`, `workers` at a time.

    Output goes to <workdir>/train.log. With `gpus_per_worker`, worker slot i sees GPUs
    i·k … i·k+k−1 (CUDA_VISIBLE_DEVICES). Returns {run name: exit code}.
    """
    slots: queue.Queue = queue.Queue()
    for i in range(workers):
        slots.put(i)

    def one(spec):
        slot = slots.get()
        try:
            env = dict(os.environ)
            if gpus_per_worker:
                env["CUDA_VISIBLE_DEVICES"] = ",".join(
                    str(slot * gpus_per_worker + g) for g in range(gpus_per_worker)
                )
            with open(os.path.join(spec["workdir"], "train.log"), "a") as log:
                cmd = [
                    sys.executable,
                    "-m",
                    "orbjax.sweep",
                    "run",
                    os.path.join(spec["workdir"], RUN_FILE),
                ]
                return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
        finally:
            slots.put(slot)

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        codes = list(pool.map(one, specs))
    return {s["name"]: c for s, c in zip(specs, codes)}


def slurm_parameters(slurm: dict, name: str) -> dict:
    """submitit AutoExecutor parameters from the sweep's `slurm` block (empty values dropped)."""
    slurm = slurm.to_dict() if hasattr(slurm, "to_dict") else dict(slurm)
    generic = {
        k: slurm.pop(k)
        for k in (
            "gpus_per_node",
            "cpus_per_task",
            "mem_gb",
            "timeout_min",
            "nodes",
            "tasks_per_node",
        )
        if k in slurm
    }
    specific = {f"slurm_{k}": v for k, v in slurm.items()}
    params = {"name": name, **generic, **specific}
    return {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in params.items()
        if v not in (None, "", [], ())
    }


def make_executor(folder: str, parameters: dict, cluster: str = "slurm"):
    """A submitit AutoExecutor on `cluster`: slurm, or local/debug to try a sweep without one."""
    import submitit

    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    executor.update_parameters(**parameters)
    return executor


def launch_slurm(specs: list[dict], parameters: dict, folder: str, cluster: str = "slurm"):
    """Submit one job array (one task per spec) through submitit; returns the jobs."""
    if not specs:
        return []
    executor = make_executor(folder, parameters, cluster)
    return executor.map_array(TrainRun(), specs)


# --- collect -------------------------------------------------------------------------------


def collect(sweep_dir: str, out: str | None = None) -> str:
    """One CSV row per run under `sweep_dir`: name, status, swept values, final metrics."""
    if not os.path.isdir(sweep_dir):
        raise FileNotFoundError(f"{sweep_dir}: no such sweep directory (--sweep-dir)")
    rows = []
    for entry in sorted(os.listdir(sweep_dir)):
        run_file = os.path.join(sweep_dir, entry, RUN_FILE)
        if not os.path.exists(run_file):
            continue
        with open(run_file) as f:
            spec = json.load(f)
        final_path = os.path.join(sweep_dir, entry, FINAL_FILE)
        metrics = json.load(open(final_path)) if os.path.exists(final_path) else {}
        rows.append(
            (
                {
                    "name": spec["name"],
                    "status": "finished" if metrics else "unfinished",
                    "config": _stem(spec["config_path"]),
                },
                spec["overrides"],
                metrics,
            )
        )
    if not rows:
        raise FileNotFoundError(f"no runs ({RUN_FILE}) under {sweep_dir}")
    keys = list(dict.fromkeys(k for _, o, _ in rows for k in o))
    metrics = sorted({k for _, _, m in rows for k in m})
    out = out or os.path.join(sweep_dir, "results.csv")
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, ["name", "status", "config", *keys, *metrics])
        writer.writeheader()
        for head, overrides, values in rows:
            writer.writerow({**head, **{k: _cell(v) for k, v in overrides.items()}, **values})
    return out


def _cell(value):
    return json.dumps(value) if isinstance(value, (list, tuple, dict)) else value


# --- command line --------------------------------------------------------------------------


def _status(spec: dict) -> str:
    if is_finished(spec["workdir"]):
        return "finished (skipped)"
    step = latest_step(spec["workdir"])
    return "new" if step is None else f"resumes from step {step}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (without the program name); returns the exit status.

    A user's error (missing sweep file, a field the training config lacks, a bad option) is
    one line and exit status 1 (`--debug` or ORBJAX_DEBUG=1: the traceback)."""
    from orbjax import cli

    argv = list(sys.argv[1:] if argv is None else argv)
    # KeyError: set_field
    return cli.run(lambda: _main(argv), argv, errors=cli.USER_ERRORS + (KeyError,))


def _main(argv: list[str]) -> int:
    from orbjax.cli import ArgumentParser

    if argv[:1] == ["collect"]:
        p = ArgumentParser(prog="python -m orbjax.sweep collect")
        p.add_argument(
            "--sweep-dir", required=True, help="the sweep's directory (one workdir per run)"
        )
        p.add_argument("--out", default=None, help="CSV path (default: <sweep-dir>/results.csv)")
        args = p.parse_args(argv[1:])
        print(collect(args.sweep_dir, args.out))
        return 0
    if argv[:1] == ["run"]:
        p = ArgumentParser(prog="python -m orbjax.sweep run")
        p.add_argument("run_json", help="a run's run.json (written when the sweep is launched)")
        with open(p.parse_args(argv[1:]).run_json) as f:
            print(json.dumps(run(json.load(f)), indent=1))
        return 0
    p = ArgumentParser(prog="python -m orbjax.sweep", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="sweep config file (configs/sweeps/*.py)")
    p.add_argument(
        "--launcher",
        choices=("local", "slurm"),
        default="local",
        help="local: subprocesses on this machine; slurm: one submitit job array",
    )
    p.add_argument("--workers", type=int, default=1, help="local: runs at a time")
    p.add_argument(
        "--gpus-per-worker", type=int, default=0, help="local: GPUs given to each worker"
    )
    p.add_argument("--sweep-dir", default=None, help="overrides the sweep config's sweep_dir")
    p.add_argument(
        "--cluster",
        default="slurm",
        help="slurm launcher: submitit cluster (slurm; local or debug to try it)",
    )
    p.add_argument(
        "--wait", action="store_true", help="slurm launcher: wait for the jobs and report"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="list the runs and what would be launched"
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="launch only runs whose swept KEY (e.g. seed, data.n_train, config) is VALUE; "
        "repeatable",
    )
    args = p.parse_args(argv)

    sweep = load_sweep(args.config)
    specs = select(expand(sweep, args.config, args.sweep_dir), args.only)
    todo = pending(specs)
    for spec in specs:
        print(f"{spec['name']:<50} {_status(spec)}")
    print(f"{len(specs)} runs, {len(specs) - len(todo)} finished, {len(todo)} to launch")
    sweep_dir = os.path.abspath(args.sweep_dir or sweep.sweep_dir)
    parameters = slurm_parameters(
        sweep.get("slurm", {}), sweep.get("name", _stem(split_config_arg(args.config)[0]))
    )
    if args.launcher == "slurm":
        print("submitit parameters:", json.dumps(parameters))
    if args.dry_run or not todo:
        return 0
    prepare(specs)
    if args.launcher == "local":
        codes = launch_local(todo, args.workers, args.gpus_per_worker)
        failed = {n: c for n, c in codes.items() if c != 0}
        for name, code in failed.items():
            print(f"FAILED (exit {code}): {name}; see {os.path.join(sweep_dir, name, 'train.log')}")
        return 1 if failed else 0
    jobs = launch_slurm(todo, parameters, os.path.join(sweep_dir, "submitit", "%j"), args.cluster)
    print(
        f"submitted job array {jobs[0].job_id.split('_')[0]} ({len(jobs)} tasks); logs in "
        f"{sweep_dir}/submitit/"
    )
    if args.wait:
        failed = 0
        for spec, job in zip(todo, jobs):
            try:
                job.result()
            except Exception as error:  # one failed run must not hide the others
                failed += 1
                print(f"FAILED: {spec['name']}: {str(error).strip().splitlines()[-1]}")
        return 1 if failed else 0
    return 0


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    # Before JAX starts its backend (orbjax/runtime.py). The local launcher's workers
    # (`python -m orbjax.sweep run RUN_JSON`) come through here too.
    tune_cpu()
    sys.exit(main())
