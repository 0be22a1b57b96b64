"""Stage 3a of the learning curves: the sweeps' run directories → committed CSVs, and back.

`runs/learning_curves/<sweep>/` → `results/<sweep>.csv` (one row per run: swept values and
the final metrics of the best-by-validation checkpoint), `results/<sweep>_val_curves.csv`
(validation energy/force MAE at every evaluation: was the step budget enough?) and
`results/<sweep>_wall_time.csv` (each run's cost). The analysis reads only these CSVs, so
it runs from a clone without `runs/`.
"""

from __future__ import annotations

import csv
import datetime
import os
import platform
import re
import time
from collections import defaultdict

from experiments.common.paths import REPO
from experiments.common.runs import sweep_runs
from experiments.common.tables import read_rows, write_csv

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
SWEEPS = os.path.join(str(REPO), "runs", "learning_curves")
# Analysis groups: the sweeps (configs/sweeps/lc_common.py kinds) whose runs are compared
# with each other, seed-paired; the baseline of every ratio is energy-only in the same group.
DATASETS = ("acac", "chno", "chno_grown")  # chno_grown: the CHNO set + experiments/data/chno_grow_*
GROUPS = {d: (d, f"{d}_weights", f"{d}_controls", f"{d}_head_input") for d in DATASETS}
GROUPS.update({f"{d}_noforces": (f"{d}_noforces", f"{d}_noforces_controls") for d in DATASETS})
# the largest size and n = 50, 4× the budget
GROUPS.update({f"{d}_long": (f"{d}_long", f"{d}_long_small") for d in DATASETS})
BASELINE = "energy_only"
# (metric column, label, unit) scored on each test set; acac also has the 600 K set.
METRICS = [("energy_mae", "energy MAE", "meV/atom"), ("forces_mae", "force MAE", "meV/Å")]
TEST_SETS = {"acac": ("test", "test600"), "chno": ("test",), "chno_grown": ("test",)}
# n_train = 0 means the whole training split (153 val, 150 test)
FULL_SIZE = {"chno": 500, "chno_grown": 1205}
WEIGHT = "loss.weights.orbital_populations"
DFT_WEIGHTS = ("loss.weights.energy", "loss.weights.forces", "loss.weights.stress")


def _add_weight_curves() -> None:
    """The `curve_wW` sweeps (<dataset>_w<W>, in runs/ or already collected) join their dataset's
    group."""
    import glob

    names = {os.path.basename(p) for p in glob.glob(os.path.join(SWEEPS, "*_w*"))}
    names |= {os.path.basename(p)[:-4] for p in glob.glob(os.path.join(RESULTS, "*_w*.csv"))}
    for name in sorted(names):
        match = re.fullmatch(rf"({'|'.join(DATASETS)})_(controls_)?w[0-9.e+]+", name)
        if match:
            GROUPS[match.group(1)] += (name,)


_add_weight_curves()


def base_dataset(group: str) -> str:
    """The dataset a group or sweep belongs to: its longest DATASETS prefix ('chno_grown_w1000' →
    'chno_grown')."""
    return max((d for d in DATASETS if group == d or group.startswith(d + "_")), key=len)


# --------------------------------------------------------------------------- run directories → CSVs


def collect(sweep: str) -> None:
    """One sweep directory → results/<sweep>.csv, <sweep>_val_curves.csv and <sweep>_wall_time.csv.

    Merged into the committed files by run name: a run found now replaces its row (its curve
    rows), runs that are only in the committed files (trained on another machine, whose
    `runs/` is gone) keep theirs, in their order."""
    from orbjax.sweep import collect as collect_sweep

    sweep_dir = os.path.join(SWEEPS, sweep)
    if not os.path.isdir(sweep_dir):
        return
    os.makedirs(RESULTS, exist_ok=True)
    out = os.path.join(RESULTS, f"{sweep}.csv")
    committed_runs = read_rows(out)
    collect_sweep(sweep_dir, out)
    collected = {
        out: read_rows(out),
        os.path.join(RESULTS, f"{sweep}_val_curves.csv"): val_curve_rows(sweep_dir),
        os.path.join(RESULTS, f"{sweep}_wall_time.csv"): wall_times(sweep_dir),
    }
    report_changed(sweep, committed_runs, collected[out])
    finished = {r["name"] for r in committed_runs if r.get("status") == "finished"}
    # a run being re-trained now does not hide its committed finished row
    for path, rows in collected.items():
        fresh = [
            r
            for r in rows
            if r.get("status", "finished") == "finished" or r["name"] not in finished
        ]
        write_csv(path, merge_by_name(committed_runs if path == out else read_rows(path), fresh))


def merge_by_name(old: list[dict], new: list[dict]) -> list[dict]:
    """`old` with every name found in `new` replaced by new's rows (at its first place), then
    new's other names; one name may own several rows (a validation curve)."""
    by_name: dict[str, list[dict]] = {}
    for r in new:
        by_name.setdefault(r["name"], []).append(r)
    merged, placed = [], set()
    for r in old:
        if r["name"] not in by_name:
            merged.append(r)
        elif r["name"] not in placed:
            merged += by_name[r["name"]]
            placed.add(r["name"])
    return merged + [r for name, rows in by_name.items() if name not in placed for r in rows]


def report_changed(sweep: str, old: list[dict], new: list[dict]) -> None:
    """Print runs that finished before and again now with other test errors (a re-trained run
    that did not reproduce its committed numbers)."""
    before = {r["name"]: r for r in old if r.get("status") == "finished"}
    for r in new:
        b = before.get(r["name"])
        if b is None or r.get("status") != "finished":
            continue
        keys = [k for k in ("energy_mae", "forces_mae") if b.get(k) and r.get(k)]
        if any(f"{float(b[k]):.4g}" != f"{float(r[k]):.4g}" for k in keys):
            print(
                f"{sweep}: {r['name']} re-trained with other test errors: "
                + ", ".join(f"{k} {float(b[k]):.4g} -> {float(r[k]):.4g}" for k in keys)
            )


def val_curve_rows(sweep_dir: str) -> list[dict]:
    """Validation energy and force MAE at every evaluation of every finished run."""
    return [
        {"name": run.name, "step": r["step"], "metric": r["metric"], "value": r["value"]}
        for run in sweep_runs(sweep_dir)
        for r in run.metric_rows()
        if r["split"] == "val" and r["metric"] in ("energy_mae", "forces_mae")
    ]


def wall_times(sweep_dir: str) -> list[dict]:
    """Per finished run: seconds from its first start to its final_metrics.json (one pinned core
    per run, so this is its core-seconds; a resumed run counts the pause too), and the training
    process's own CPU seconds where it logged them."""
    out = []
    for run in sweep_runs(sweep_dir):
        attempts = run.attempts()
        if not attempts:
            continue
        start = (
            datetime.datetime.fromisoformat(attempts[0]["time"])
            .replace(tzinfo=datetime.timezone.utc)
            .timestamp()
        )
        final = os.path.getmtime(run.workdir / "final_metrics.json")
        cpu = [
            round(float(r["value"]), 1) for r in run.metric_rows() if r["metric"] == "process_cpu_s"
        ]
        out.append(
            dict(
                name=run.name,
                seconds=round(final - start, 1),
                attempts=len(attempts),
                cpu_seconds=cpu[-1] if cpu else "",
            )
        )  # "": trained before the loop logged it
    return out


def record_stage(stage: str, started: tuple[float, float], detail: str = "") -> None:
    """Append one stage's wall and CPU seconds (this process) to results/stage_times.csv:
    the measured cost of collect/analyse/export that the README quotes. `started`: (time.time(),
    time.process_time()) at the stage's start."""
    path = os.path.join(RESULTS, "stage_times.csv")
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["date", "stage", "wall_s", "cpu_s", "cpus_visible", "machine", "detail"])
        w.writerow(
            [
                datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                stage,
                f"{time.time() - started[0]:.1f}",
                f"{time.process_time() - started[1]:.1f}",
                len(os.sched_getaffinity(0)),
                platform.node(),
                detail,
            ]
        )


# ----------------------------------------------------------------------------- CSVs → runs


def load_runs(group: str) -> list[dict]:
    """Finished runs of every sweep in the group; variant = config name (+ [w=…] for a weight
    scan)."""
    rows = []
    for sweep in GROUPS[group]:
        for r in read_rows(os.path.join(RESULTS, f"{sweep}.csv")):
            if r["status"] != "finished":
                continue
            n = int(r["data.n_train"])
            r.update(
                sweep=sweep,
                n=n if n else FULL_SIZE.get(base_dataset(group), n),
                seed=int(r["seed"]),
            )
            weight = next(
                (
                    v
                    for k, v in r.items()
                    if k.startswith("loss.weights.")
                    and k not in DFT_WEIGHTS
                    and v not in (None, "", "None")
                ),
                "",
            )
            r["variant"] = (
                r["config"]
                + (f"[w={float(weight):g}]" if weight else "")
                + (f"[{r['model.orbital_features']}]" if r.get("model.orbital_features") else "")
            )
            rows.append(r)
    return rows


def table(rows: list[dict]) -> dict:
    """{(variant, n): {seed: row}}: the grid every statistic pairs its seeds in."""
    out: dict = defaultdict(dict)
    for r in rows:
        out[(r["variant"], r["n"])][r["seed"]] = r
    return out


def run_seconds(sweep: str) -> list[tuple[float, str]]:
    """(seconds, "cpu" | "wall") per finished run of a sweep: the training process's CPU
    seconds where it logged them, else the wall time from first start to the final metrics
    of a run pinned to one core (a run resumed later counts the pause too)."""
    return [
        (float(r.get("cpu_seconds") or r["seconds"]), "cpu" if r.get("cpu_seconds") else "wall")
        for r in read_rows(os.path.join(RESULTS, f"{sweep}_wall_time.csv"))
    ]


def val_curves(group: str) -> dict:
    """{(sweep, run name): {metric: [(step, value)]}} of the validation evaluations (step > 0)."""
    curves: dict = defaultdict(lambda: defaultdict(list))
    for sweep in GROUPS[group]:
        for r in read_rows(os.path.join(RESULTS, f"{sweep}_val_curves.csv")):
            if int(r["step"]) > 0:
                curves[(sweep, r["name"])][r["metric"]].append((int(r["step"]), float(r["value"])))
    return curves
