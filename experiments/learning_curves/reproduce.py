"""Train one run of the learning curves again and compare it with its committed row.

    # once (or without --from: download)
    python -m experiments.data.fetch --only botnet/acac --from DIR
    # acac, n = 25, seed 0, energy-only
    python -m experiments.learning_curves.reproduce
    python -m experiments.learning_curves.reproduce --dataset chno --n-train 50 --seed 1 --config
        orbital

Prepares the data the run reads when it is missing (`prepare.py`, ~30 s for acac), trains
the sweep's run with exactly its config and overrides (`configs/sweeps/lc_<dataset>.py`,
kind `curve` unless `--kind`) under `runs/reproduce/<sweep>/`, then compares its test errors
with the row of `results/<sweep>.csv` of the same name. Exit status 0 when every test
error agrees to `--tolerance` (relative; default 2 %). The acac n = 25 energy-only run takes
about 1.5 core-minutes (`results/acac_wall_time.csv`) plus ~30 s of labelling. Training
on a CPU of another kind or another jax version changes float32 round-off, hence the
tolerance instead of bitwise equality.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from experiments.common.paths import REPO
from experiments.common.runs import planned_run
from experiments.common.tables import read_rows
from experiments.learning_curves import prepare
from experiments.learning_curves.collect import RESULTS, TEST_SETS, base_dataset

METRICS = ("energy_mae", "forces_mae")


def run_spec(dataset: str, kind: str, config: str, n_train: int, seed: int) -> dict:
    """The sweep's run, moved to runs/reproduce/<sweep>/ (its name is the committed row's)
    with its sweep's name under "sweep"."""
    sweep_file = str(REPO / "configs" / "sweeps" / f"lc_{base_dataset(dataset)}.py") + (
        "" if kind == "curve" else f":{kind}"
    )
    spec = planned_run(sweep_file, config, seed=seed, **{"data.n_train": n_train})
    sweep = Path(spec["workdir"]).parent.name
    return {
        **spec,
        "workdir": str(REPO / "runs" / "reproduce" / sweep / spec["name"]),
        "sweep": sweep,
    }


def missing_inputs(spec: dict) -> list[str]:
    """The data files the run reads (paths relative to the repository root) that are not there."""
    o = spec["overrides"]
    paths = [
        o.get("data.train_path"),
        o.get("data.val_path"),
        o.get("data.test_path"),
        o.get("data.isolated_atoms_path"),
    ]
    paths += [p.split("=", 1)[1] for p in (o.get("data.extra_tests") or "").split(",") if "=" in p]
    return [p for p in paths if p and not (REPO / p).exists()]


def prepare_data(spec: dict, dataset: str) -> None:
    """Run stage 1 for what the run reads (acac alone when that is all it needs)."""
    if missing_inputs(spec):
        prepare.main(
            ["--acac-only"]
            if base_dataset(dataset) == "acac"
            else ["--chno-grown"]
            if base_dataset(dataset) == "chno_grown"
            else []
        )
    still = missing_inputs(spec)
    if still:
        raise SystemExit(f"reproduce: still missing after prepare: {', '.join(still)}")


def train(spec: dict) -> dict:
    """Train the run the way the sweep's local launcher does; returns its final metrics."""
    from orbjax.sweep import FINAL_FILE, RUN_FILE, is_finished
    from orbjax.sweep import prepare as write_run_file

    workdir = Path(spec["workdir"])
    if not is_finished(str(workdir)):
        write_run_file([{k: v for k, v in spec.items() if k != "sweep"}])
        with open(workdir / "train.log", "a") as log:
            subprocess.run(
                [sys.executable, "-m", "orbjax.sweep", "run", str(workdir / RUN_FILE)],
                check=True,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    return json.loads((workdir / FINAL_FILE).read_text())


def compare(final: dict, row: dict, tests, tolerance: float) -> list[dict]:
    """Per test set and metric: committed value, reproduced value, relative difference, within?"""
    out = []
    for test in tests:
        for metric in METRICS:
            key = f"{test}_{metric}"
            committed, now = float(row[key]), float(final[key])
            diff = now / committed - 1
            out.append(
                dict(
                    metric=key,
                    committed=committed,
                    reproduced=now,
                    rel_diff=diff,
                    ok=abs(diff) <= tolerance,
                )
            )
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="acac", choices=sorted(TEST_SETS))
    p.add_argument(
        "--kind", default="curve", help="the sweep kind (configs/sweeps/lc_common.py KINDS)"
    )
    p.add_argument("--config", default="energy_only")
    p.add_argument(
        "--n-train", type=int, default=25, help="the sweep's data.n_train (0: the whole split)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--tolerance", type=float, default=0.02, help="largest relative difference accepted"
    )
    args = p.parse_args(argv)
    spec = run_spec(args.dataset, args.kind, args.config, args.n_train, args.seed)
    rows = [
        r
        for r in read_rows(Path(RESULTS) / f"{spec['sweep']}.csv")
        if r["name"] == spec["name"] and r["status"] == "finished"
    ]
    if not rows:
        raise SystemExit(
            f"reproduce: results/{spec['sweep']}.csv has no finished row {spec['name']!r}"
        )
    prepare_data(spec, args.dataset)
    started = (time.time(), time.process_time())
    final = train(spec)
    checks = compare(final, rows[0], TEST_SETS[base_dataset(args.dataset)], args.tolerance)
    print(
        f"{spec['sweep']} {spec['name']} ({time.time() - started[0]:.0f} s wall; run in "
        f"{spec['workdir']})"
    )
    for c in checks:
        print(
            f"  {c['metric']:<20} committed {c['committed']:10.4f}  reproduced "
            f"{c['reproduced']:10.4f}  "
            f"{100 * c['rel_diff']:+6.2f} %  {'ok' if c['ok'] else 'DIFFERS'}"
        )
    return 0 if all(c["ok"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
