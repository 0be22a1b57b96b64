"""Closed-loop active learning with a real oracle: GFN1-xTB labels what committee MD at 600 K
finds uncertain, or as many frames drawn at random from the same kind of trajectories.

    python -m experiments.active_learning.closed_loop --strategy committee --seed 0
    python -m experiments.active_learning.closed_loop --strategy random --seed 0
    python -m experiments.active_learning.closed_loop analyse   # results/ + RESULTS.md table

GFN1-xTB stands in for DFT through the labeller's library function (`orbjax.labels.runner.
label_structures`, what `python -m orbjax.label` calls), on geometries stripped of every
label first: the DFT labels of the acac files never reach training, validation or the test.

Round r trains a committee of `--members` energy + forces models on the labelled set (the
active-learning study's configs, overrides and step budget, `run.member_spec`, on GFN1
labels), scores its mean on GFN1-relabelled 600 K DFT-MD geometries (`acac_test600`),
measures its MD stability at 600 K (`experiments.common.md_stability`), and, below the last
round, runs committee MD at 600 K from `--md-starts` labelled frames and labels up to `--cap`
of the logged frames: those whose max force spread σ_F crosses the threshold (committee),
or the same number drawn uniformly from all logged frames (random). The threshold is fixed
per seed by a rule (the 95th percentile of the round-0 committee's σ_F over the GFN1
validation frames) or given with `--threshold`, and stored in round 0.

Layout: `runs/active_learning/closed_loop/<strategy>/seed<S>/round<r>/` holds `train.h5`
(the labelled set, r ≥ 1), `members/`, `md/`, `stability/`, `chosen.extxyz`, `labelled.h5`
(this round's new labels), `round.json` and `DONE`. Round 0 (the draw, its committee, the
threshold, its MD and stability) is shared by both strategies under
`.../closed_loop/initial/seed<S>/round0/`. A rerun skips finished rounds, finished members
and finished MD runs, and resumes the rest. The labelled validation and test sets are cached
(resumably) under `data/active_learning/`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from experiments.active_learning import run as al
from experiments.active_learning.analyse import _cpu
from experiments.common.md_stability import run_stability
from experiments.common.paths import REPO

STRATEGIES = ("committee", "random")
ROOT = Path("runs/active_learning/closed_loop")
CACHE = Path("data/active_learning")
SOURCE = REPO / "data" / "learning_curves"
POOL_FILE = "acac_train.extxyz"  # 400 frames of 300 K DFT MD: the round-0 draw
VAL_FILE = "acac_val.extxyz"  # 50 frames, 300 K: checkpoint selection and the threshold
TEST_FILE = "acac_test600.h5"  # 500 frames of 600 K DFT MD: the test geometries
DONE = "DONE"
METHOD = "GFN1-xTB"
THRESHOLD_PERCENTILE = 95.0
TEMPERATURE = 600.0  # K, committee MD and stability
TIMESTEP = 0.5  # fs
# The training spec: the active-learning study's acac runs (energy + forces, configs/
# energy_only.py), relabelled: GFN1 energies and forces, least-squares reference energies (the
# data set's isolated-atom energies are DFT's), no DFT extra test. The files are set per round.
GFN1 = {
    "data.key_preset": "default",
    "data.energy_key": "xtb_energy",
    "data.forces_key": "xtb_forces",
    "data.isolated_atoms_path": "",
    "data.extra_tests": "",
}
# unphysical MD: a pair closer than this, or hotter than this × the target temperature
MIN_PAIR_A = 0.5
MAX_HEAT = 3.0
BOND_FACTOR = 1.5  # × the covalent radii sum: bonded, for the fragment count


@dataclasses.dataclass(frozen=True)
class Settings:
    """What a (strategy, seed) run needs besides its strategy and seed."""

    rounds: int = 4  # selection rounds: committees are trained at rounds 0 … rounds
    cap: int = 25  # most frames labelled per round
    members: int = 4
    n0: int = 25
    md_starts: int = 4
    md_steps: int = 2000
    md_interval: int = 10
    stability_runs: int = 10
    stability_steps: int = 10000
    stability_interval: int = 100
    threshold: float | None = None  # eV/Å; None: the percentile rule
    workers: int = 0  # training subprocesses (0: in process)
    label_workers: int = 1
    val_limit: int | None = None  # first N validation / test frames (--tiny)
    test_limit: int | None = None
    tiny: bool = False


# --------------------------------------------------------------------- bookkeeping


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (trainers, labellers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def write_json(path: Path, record: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def seed_dir(root: Path, owner: str, seed: int) -> Path:
    return root / owner / f"seed{seed}"


def round_dir(root: Path, owner: str, seed: int, round_: int) -> Path:
    return seed_dir(root, owner, seed) / f"round{round_}"


def shared_dir(root: Path, strategy: str, seed: int, round_: int) -> Path:
    """Where round `round_`'s committee, MD and stability live: round 0 is every strategy's."""
    return round_dir(root, "initial" if round_ == 0 else strategy, seed, round_)


# --------------------------------------------------------------------- the oracle


def geometry_only(structures, tag: str) -> list:
    """The structures with every label and info dropped (what the oracle is given)."""
    return [
        s.replace(labels={}, info={}, name=f"{tag}:{i}", mol_id=None)
        for i, s in enumerate(structures)
    ]


def oracle(structures, out: Path, workers: int = 1) -> dict:
    """GFN1-xTB energies and forces of `structures` (labels stripped) into `out` (.h5),
    through the labeller (resumable; a finished file is a no-op). Returns its report."""
    from orbjax.labels.runner import label_structures

    out.parent.mkdir(parents=True, exist_ok=True)
    start = cpu_seconds()
    report = label_structures(
        geometry_only(structures, out.stem),
        out,
        method=METHOD,
        n_workers=workers,
        orbitals=False,
        progress=False,
    )
    return {
        "n_structures": report.n_structures,
        "n_labelled": report.n_labelled,
        "n_failed": report.n_failed,
        "cpu_s": cpu_seconds() - start,
    }


def read_labelled(path: Path) -> list:
    """The structures of an oracle file, their GFN1 labels as `energy` / `forces` (scoring)."""
    from orbjax.data.readers import read_structures

    return [
        s.replace(labels={"energy": s.labels["xtb_energy"], "forces": s.labels["xtb_forces"]})
        for s in read_structures(str(path))
    ]


def read_source(name: str, limit: int | None = None) -> list:
    from orbjax.data.readers import read_structures

    structures = read_structures(str(SOURCE / name))
    return structures[:limit] if limit else structures


def reference_set(kind: str, settings: Settings, cache: Path) -> Path:
    """The GFN1-labelled validation (300 K) or test (600 K DFT-MD geometries) set, cached."""
    name, limit = (
        (VAL_FILE, settings.val_limit) if kind == "val" else (TEST_FILE, settings.test_limit)
    )
    out = cache / f"{Path(name).stem}_gfn1{f'_first{limit}' if limit else ''}.h5"
    if not out.exists():
        report = oracle(read_source(name, limit), out, settings.label_workers)
        write_json(out.with_suffix(".json"), {"source": str(SOURCE / name), **report})
    return out


# --------------------------------------------------------------------- training


def dataset(settings: Settings, files: dict) -> al.Dataset:
    """The active-learning study's acac spec on GFN1 files (`files`: data.* paths)."""
    overrides = {**GFN1, **{f"data.{k}_path": str(Path(v).resolve()) for k, v in files.items()}}
    if settings.tiny:
        overrides.update(al.TINY)
    base = al.DATASETS["acac"]
    return dataclasses.replace(
        base, overrides={**base.overrides, **overrides}, steps=al.TINY_STEPS if settings.tiny else 0
    )


def train_committee(where: Path, train: Path, n: int, seed: int, settings: Settings, files):
    """Train (or finish) the members of `where/members/`; returns (committee, cpu_s, steps)."""
    from orbjax.potential.committee import load_committee

    data = dataset(settings, {"train": train, **files})
    workdirs = [where / "members" / f"m{j}" for j in range(settings.members)]
    specs = [al.member_spec(data, None, n, 100 * seed + j, w) for j, w in enumerate(workdirs)]
    start = cpu_seconds()
    al.train_members(specs, settings.workers)
    cpu = cpu_seconds() - start
    committee = load_committee([str(w / "model.orbjax") for w in workdirs])
    return committee, cpu, specs[0]["overrides"]["train.num_steps"]


# --------------------------------------------------------------------- committee MD


def as_atoms(structures) -> list:
    from ase import Atoms

    return [Atoms(numbers=s.atomic_numbers, positions=s.positions) for s in structures]


def fragments(numbers, positions) -> int:
    """Connected components of the bond graph (d < BOND_FACTOR × covalent radii sum)."""
    from ase.data import covalent_radii

    r = covalent_radii[np.asarray(numbers)]
    d = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    bonded = d < BOND_FACTOR * (r[:, None] + r[None])
    seen, count = np.zeros(len(r), bool), 0
    for i in range(len(r)):
        if seen[i]:
            continue
        count += 1
        stack = [i]
        while stack:
            j = stack.pop()
            if not seen[j]:
                seen[j] = True
                stack.extend(np.flatnonzero(bonded[j] & ~seen))
    return count


def blow_up(numbers, start_positions, temperature: float):
    """`run_md`'s stop_when: the reason a logged step is unphysical, else None."""
    numbers = np.asarray(numbers)
    n_start = fragments(numbers, np.asarray(start_positions))

    def check(thermo: dict, positions: np.ndarray):
        if not (np.isfinite(positions).all() and np.isfinite(thermo["potential_energy_eV"])):
            return "non-finite"
        if thermo["temperature_K"] > MAX_HEAT * temperature:
            return f"temperature {thermo['temperature_K']:.0f} K > {MAX_HEAT:g} × {temperature:g} K"
        d = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
        closest = d[np.triu_indices(len(d), 1)].min()
        if closest < MIN_PAIR_A:
            return f"atoms {closest:.2f} Å apart"
        if fragments(numbers, positions) > n_start:
            return "molecule fragmented"
        return None

    return check


def md_starts(labelled_pool: list, k: int, seed: int, round_: int) -> list[int]:
    """Indices of the k round-0 labelled frames the round's MD starts from (seeded)."""
    rng = np.random.default_rng([seed, round_, 3])
    return sorted(
        rng.choice(len(labelled_pool), min(k, len(labelled_pool)), replace=False).tolist()
    )


def committee_md(where: Path, committee, starts: list, threshold: float, seed: int, round_, s):
    """Committee MD at 600 K from each start (resumable; `md/run<k>/`); returns (frames,
    per-run summaries, cpu_s). Frames: every logged step after step 0 and before a blow-up,
    with their max force spread in info["max_force_std_eV_A"] and their origin."""
    from ase.io import read

    from orbjax.potential.md_run import run_md

    start_cpu, frames, runs = cpu_seconds(), [], []
    for k, atoms in enumerate(starts):
        out = where / "md" / f"run{k}"
        if not (out / DONE).exists():
            run_md(
                committee,
                atoms,
                out,
                s.md_steps,
                "nvt",
                TEMPERATURE,
                TIMESTEP,
                interval=s.md_interval,
                seed=int(1000 * seed + 10 * round_ + k),
                progress=False,
                uncertainty_threshold=threshold,
                on_uncertain="write",
                stop_when=blow_up(atoms.numbers, atoms.positions, TEMPERATURE),
            )
            (out / DONE).write_text("")
        stopped = read_json(out / "stopped.json") if (out / "stopped.json").exists() else None
        last = stopped["step"] if stopped else s.md_steps + 1
        kept = [f for f in read(out / "trajectory.extxyz", index=":") if 0 < f.info["step"] < last]
        for f in kept:
            f.info.update(md_run=k)
        frames += kept
        runs.append(
            {
                "run": k,
                "steps": int(stopped["step"]) if stopped else s.md_steps,
                "event": stopped["reason"] if stopped else None,
                "n_frames": len(kept),
                "n_crossed": int(sum(f.info["max_force_std_eV_A"] > threshold for f in kept)),
            }
        )
    return frames, runs, cpu_seconds() - start_cpu


# --------------------------------------------------------------------- selection


def choose(strategy, committee, frames, threshold, n_random, cap, labelled, seed, round_):
    """(indices into `frames` to label, n_crossed). committee: the crossing frames, all of
    them up to `cap`, else `orbjax.select.select` (the 3·cap highest spreads thinned by
    farthest-point sampling from those farthest from the labelled set); random: `n_random`
    drawn uniformly (rng(seed, round)) from every frame."""
    from orbjax.select import select

    spread = np.array([f.info["max_force_std_eV_A"] for f in frames])
    crossed = np.flatnonzero(spread > threshold)
    if strategy == "committee":
        if len(crossed) <= cap:
            return crossed, len(crossed)
        picked, _ = select(committee, [frames[i] for i in crossed], cap, labelled=labelled)
        return np.sort(crossed[picked]), len(crossed)
    if strategy == "random":
        n = min(n_random, len(frames))
        rng = np.random.default_rng([seed, round_, 1])
        return np.sort(rng.choice(len(frames), n, replace=False)), len(crossed)
    raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")


def random_count(root: Path, seed: int, round_: int, cap: int) -> tuple[int, str]:
    """How many frames random labels in a round: the committee run's count of that round
    (refused until it exists: "as many frames as committee" must not silently become `cap`)."""
    path = round_dir(root, "committee", seed, round_) / "round.json"
    if not path.exists():
        raise SystemExit(
            f"{path} is missing: run --strategy committee --seed {seed} through round "
            f"{round_} before random (random labels as many frames as committee did)"
        )
    return int(read_json(path)["n_labelled"]), "committee"


def frames_to_structures(frames, tag: str) -> list:
    from orbjax.data.structures import Structure

    return [
        Structure(
            atomic_numbers=np.asarray(f.numbers),
            positions=np.asarray(f.positions, np.float64),
            name=f"{tag}:md{f.info['md_run']}:step{f.info['step']}",
        )
        for f in frames
    ]


def merge(previous: Path, new: Path, out: Path) -> int:
    """The next round's training file: `previous` + `new` (both oracle files)."""
    from orbjax.data.dataset import write_dataset
    from orbjax.data.readers import read_structures

    structures = read_structures(str(previous)) + (
        read_structures(str(new)) if new.exists() else []
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_dataset(out, structures, {"method": METHOD, "merged_from": f"{previous} + {new}"})
    return len(structures)


# --------------------------------------------------------------------- one round


def threshold_of(where: Path, committee, val: Path, settings: Settings) -> dict:
    """The seed's spread threshold, fixed in round 0 (`threshold.json`): the given value, or
    the THRESHOLD_PERCENTILE-th percentile of the committee's max σ_F over validation."""
    path = where / "threshold.json"
    if not path.exists():
        if settings.threshold is not None:
            record = {"threshold_eV_A": float(settings.threshold), "rule": "given (--threshold)"}
        else:
            from orbjax.select import committee_scores

            spread = committee_scores(committee, as_atoms(read_labelled(val)))["max_force_std"]
            record = {
                "threshold_eV_A": float(np.percentile(spread, THRESHOLD_PERCENTILE)),
                "rule": f"{THRESHOLD_PERCENTILE:g}th percentile of the round-0 committee's max "
                f"force spread over the {len(spread)} GFN1 validation frames",
                "val_spread_median_eV_A": float(np.median(spread)),
            }
        write_json(path, record)
    record = read_json(path)
    if (
        settings.threshold is not None
        and abs(settings.threshold - record["threshold_eV_A"]) > 1e-12
    ):
        raise ValueError(
            f"--threshold {settings.threshold} differs from this seed's {record['threshold_eV_A']}"
            f" ({path}); use another --root"
        )
    return record


def stability(where: Path, committee, starts: list, seed: int, settings: Settings) -> dict:
    """MD stability of the committee at 600 K (`experiments.common.md_stability`), cached."""
    if settings.stability_runs <= 0:
        return {"stability": None}
    path = where / "stability.json"
    if not path.exists():
        start = cpu_seconds()
        runs = run_stability(
            committee,
            starts,
            temperature=TEMPERATURE,
            timestep_fs=TIMESTEP,
            steps=settings.stability_steps,
            interval=settings.stability_interval,
            seed=seed,
            out_dir=where / "stability",
        )
        events = [r["first_event_ps"] for r in runs if r["first_event_ps"] is not None]
        write_json(
            path,
            {
                "stability": {
                    "n_runs": len(runs),
                    "n_physical": sum(bool(r["physical"]) for r in runs),
                    "simulated_ps": float(sum(r["simulated_ps"] for r in runs)),
                    "median_first_event_ps": float(np.median(events)) if events else None,
                    "runs": runs,
                },
                "stability_cpu_s": cpu_seconds() - start,
            },
        )
    return read_json(path)


def committee_stage(where: Path, train: Path, n: int, seed: int, settings: Settings, context):
    """Train, score and measure the committee of one round (cached in `where/committee.json`);
    returns (committee, record)."""
    files = context["files"]
    committee, train_cpu, steps = train_committee(where, train, n, seed, settings, files)
    path = where / "committee.json"
    if not path.exists():
        start = cpu_seconds()
        errors = al.committee_test_errors(committee, read_labelled(Path(files["test"])))
        record = {
            "n_train": n,
            "num_steps": steps,
            "members": [str(p) for p in committee.names],
            **errors,
            "score_cpu_s": cpu_seconds() - start,
            "train_cpu_s": train_cpu,  # this call's (trainers included)
            # the members' own logs (process_cpu_s; counts a resumed member's earlier part)
            "members_cpu_s": float(sum(_cpu(Path(p).parent) for p in committee.names)),
        }
        write_json(path, record)
    record = read_json(path)
    record.update(stability(where, committee, context["stability_starts"], seed, settings))
    return committee, record


def run_round(strategy, seed, round_, train, settings, root, context) -> Path | None:
    """Round `round_` of (strategy, seed) on the labelled set `train` (.h5); returns the next
    round's training file (None after the last round). A finished round is read back."""
    rdir = round_dir(root, strategy, seed, round_)
    last = round_ >= settings.rounds
    nxt = round_dir(root, strategy, seed, round_ + 1) / "train.h5"
    if (rdir / DONE).exists():
        return None if last else nxt
    rdir.mkdir(parents=True, exist_ok=True)
    where = shared_dir(root, strategy, seed, round_)
    n = len(read_labelled(train))
    committee, record = committee_stage(where, train, n, seed, settings, context)
    # fixed by round 0's committee (computed there, read back in every later round)
    fixed = threshold_of(
        round_dir(root, "initial", seed, 0), committee, Path(context["files"]["val"]), settings
    )
    threshold = fixed["threshold_eV_A"]
    record = {
        "experiment": "closed_loop",  # analyse.py's collect leaves these rounds to `analyse`
        "strategy": strategy,
        "seed": seed,
        "round": round_,
        **record,
        "threshold_eV_A": threshold,
        "threshold_rule": fixed["rule"],
        "committee_dir": str(where),
    }
    if last:
        record.update(n_labelled=0, n_crossed=None, md_cpu_s=0.0, label_cpu_s=0.0)
    else:
        starts = [
            context["pool"][i] for i in md_starts(context["pool"], settings.md_starts, seed, round_)
        ]
        frames, runs, md_cpu = committee_md(
            where, committee, as_atoms(starts), threshold, seed, round_, settings
        )
        n_random, source = (
            random_count(root, seed, round_, settings.cap)
            if strategy == "random"
            else (settings.cap, None)
        )
        start = cpu_seconds()
        picked, n_crossed = choose(
            strategy,
            committee,
            frames,
            threshold,
            n_random,
            settings.cap,
            as_atoms(read_labelled(train)),
            seed,
            round_,
        )
        select_cpu = cpu_seconds() - start
        chosen = [frames[i] for i in picked]
        from ase.io import write

        write(rdir / "chosen.extxyz", chosen, format="extxyz")
        labels = {"n_labelled": 0, "n_failed": 0, "cpu_s": 0.0}
        if chosen:
            labels = oracle(
                frames_to_structures(chosen, f"{strategy}-s{seed}-r{round_}"),
                rdir / "labelled.h5",
                settings.label_workers,
            )
        merge(train, rdir / "labelled.h5", nxt)
        record.update(
            n_labelled=labels["n_labelled"],
            n_chosen=len(chosen),
            n_label_failed=labels["n_failed"],
            n_crossed=int(n_crossed),
            n_candidates=len(frames),
            random_count_from=source if strategy == "random" else None,
            chosen_spread_eV_A=[float(f.info["max_force_std_eV_A"]) for f in chosen],
            md_runs=runs,
            md_cpu_s=md_cpu,
            select_cpu_s=select_cpu,
            label_cpu_s=labels["cpu_s"],
        )
    write_json(rdir / "round.json", record)
    (rdir / DONE).write_text("")
    return None if last else nxt


def prepare(seed: int, settings: Settings, root: Path, cache: Path) -> tuple[Path, dict]:
    """Round 0's labelled draw (shared) and the fixed sets: (train.h5, context)."""
    files = {
        "val": reference_set("val", settings, cache),
        "test": reference_set("test", settings, cache),
    }
    where = round_dir(root, "initial", seed, 0)
    train = where / "train.h5"
    pool = read_source(POOL_FILE)
    draw = al.initial_set(np.arange(len(pool)), settings.n0, seed)
    al.write_indices(where / "indices.txt", draw, f"{POOL_FILE} seed {seed} round 0 (shared)")
    if not train.exists():
        report = oracle([pool[i] for i in draw], train, settings.label_workers)
        write_json(where / "labels.json", report)
    val = read_labelled(files["val"])
    rng = np.random.default_rng([seed, 4])
    picks = (
        [int(i) for i in rng.choice(len(val), settings.stability_runs, replace=True)]
        if (settings.stability_runs > len(val))
        else sorted(rng.choice(len(val), settings.stability_runs, replace=False).tolist())
    )
    context = {
        "files": files,
        "pool": read_labelled(train),  # the MD starts: round 0's labelled 300 K frames
        "stability_starts": as_atoms([val[i] for i in picks]),
    }
    return train, context


# Settings that may change between calls of one seed: how many rounds, how many processes.
FREE_SETTINGS = ("rounds", "workers", "label_workers")


def check_settings(seed: int, settings: Settings, root: Path) -> None:
    """The seed's settings are written on its first call (initial/seed<S>/settings.json) and
    every later call, of either strategy, must match them: finished rounds, members and MD
    runs are reused, so other settings would mix silently."""
    path = seed_dir(root, "initial", seed) / "settings.json"
    mine = {k: v for k, v in dataclasses.asdict(settings).items() if k not in FREE_SETTINGS}
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, mine)
        return
    saved = read_json(path)
    changed = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
    if changed:
        raise SystemExit(
            f"{path}: seed {seed} was run with other settings ({', '.join(changed)}: "
            f"{[saved.get(k) for k in changed]} there): use the same options or another --root"
        )


def run(strategy: str, seed: int, settings: Settings, root: Path = ROOT, cache: Path = CACHE):
    """Every round of one (strategy, seed); returns the round directories."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
    check_settings(seed, settings, root)
    train, context = prepare(seed, settings, root, cache)
    dirs = []
    for round_ in range(settings.rounds + 1):
        nxt = run_round(strategy, seed, round_, train, settings, root, context)
        dirs.append(round_dir(root, strategy, seed, round_))
        if nxt is None:
            break
        train = nxt
    return dirs


# --------------------------------------------------------------------- analysis

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ROW_KEYS = (
    "strategy",
    "seed",
    "round",
    "n_train",
    "n_labelled",
    "n_crossed",
    "n_candidates",
    "threshold_eV_A",
    "committee_test_energy_mae",
    "committee_test_forces_mae",
    "num_steps",
    "train_cpu_s",
    "members_cpu_s",
    "md_cpu_s",
    "label_cpu_s",
)


def collect(root: Path = ROOT) -> list[dict]:
    """One row per finished round under `root`: sizes, the threshold, the committee mean's
    test errors against GFN1 (meV/atom, meV/Å), MD stability and CPU seconds (round 0's
    training, scoring and MD are shared: both strategies' rows carry the same numbers)."""
    rows = []
    for path in sorted(root.glob("*/seed*/round*/round.json")):
        if not (path.parent / DONE).exists():
            continue
        record = read_json(path)
        row = {k: record.get(k) for k in ROW_KEYS}
        runs = (record.get("stability") or {}).get("runs")
        row["stability_runs"] = len(runs) if runs else None
        row["stability_physical"] = sum(bool(r["physical"]) for r in runs) if runs else None
        row["stability_median_first_event_ps"] = (record.get("stability") or {}).get(
            "median_first_event_ps"
        )
        row["md_blow_ups"] = sum(r["event"] is not None for r in record.get("md_runs", []))
        rows.append(row)
    return sorted(rows, key=lambda r: (r["strategy"], r["seed"], r["round"]))


def summary(rows: list[dict]) -> list[dict]:
    """Per (strategy, round) the mean over seeds (sizes, errors) and the stability totals."""
    out = []
    for key in sorted({(r["strategy"], r["round"]) for r in rows}):
        cell = [r for r in rows if (r["strategy"], r["round"]) == key]

        def mean(k):
            values = [float(r[k]) for r in cell if r[k] is not None]
            return float(np.mean(values)) if values else None

        stab = [r for r in cell if r["stability_runs"]]
        out.append(
            {
                "strategy": key[0],
                "round": key[1],
                "n_seeds": len(cell),
                "n_train": mean("n_train"),
                "n_labelled": mean("n_labelled"),
                "n_crossed": mean("n_crossed"),
                "committee_test_energy_mae": mean("committee_test_energy_mae"),
                "committee_test_forces_mae": mean("committee_test_forces_mae"),
                "stable_share": (
                    sum(r["stability_physical"] for r in stab)
                    / sum(r["stability_runs"] for r in stab)
                    if stab
                    else None
                ),
                # members' logged training clocks (all sessions), candidate MD and labelling;
                # not counted: stability runs, scoring, selection, the fixed sets' labels,
                # and a shared round 0's MD for the strategy that found it done
                "cpu_h": sum(
                    float(r["members_cpu_s"] or r["train_cpu_s"] or 0.0)
                    + float(r["md_cpu_s"] or 0.0)
                    + float(r["label_cpu_s"] or 0.0)
                    for r in cell
                )
                / 3600,
            }
        )
    return out


def render(results: Path = RESULTS) -> list[str]:
    from experiments.common.tables import md_rows, read_rows

    def f(x, digits=3):
        return "" if x in ("", None) else f"{float(x):.{digits}g}"

    body = [
        [
            r["strategy"],
            r["round"],
            f(r["n_train"]),
            f(r["n_labelled"]),
            f(r["n_crossed"]),
            f(r["committee_test_energy_mae"]),
            f(r["committee_test_forces_mae"]),
            f(r["stable_share"], 2),
            r["n_seeds"],
        ]
        for r in read_rows(results / "closed_loop_summary.csv")
    ]
    return md_rows(
        [
            "strategy",
            "round",
            "trained on",
            "labelled next",
            "σ_F > threshold",
            "E MAE vs GFN1 (meV/atom)",
            "F MAE vs GFN1 (meV/Å)",
            "stable runs",
            "seeds",
        ],
        body,
    )


def analyse(argv=None) -> int:
    """`closed_loop analyse`: results/closed_loop_rounds.csv, closed_loop_summary.csv and
    RESULTS.md's `al_closed_loop` table, from the round.json files only."""
    from experiments.common.tables import update_results_file, write_csv

    p = argparse.ArgumentParser(prog="closed_loop analyse")
    p.add_argument("--root", default=str(ROOT), help="the runs (--root of the runs)")
    p.add_argument("--results", default=str(RESULTS), help="where the CSVs go")
    p.add_argument("--results-md", default=str(HERE / "RESULTS.md"), help="table to redraw")
    args = p.parse_args(argv)
    rows = collect(Path(args.root))
    if not rows:
        print(f"no finished rounds under {args.root}")
        return 1
    results = Path(args.results)
    write_csv(results / "closed_loop_rounds.csv", rows)
    write_csv(results / "closed_loop_summary.csv", summary(rows))
    if Path(args.results_md).exists():
        from experiments.active_learning.analyse import renderers

        update_results_file(args.results_md, renderers(results))
    print(f"{len(rows)} rounds; wrote {results}")
    return 0


# --------------------------------------------------------------------- command line

# --tiny: configs/test.py-sized members, 20 steps (run.TINY), short MD, the first 10 / 20
# validation / test frames; options given on the command line win
TINY = dict(
    md_starts=2,
    md_steps=60,
    stability_steps=100,
    stability_interval=20,
    val_limit=10,
    test_limit=20,
    tiny=True,
)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--strategy", required=True, choices=STRATEGIES)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--rounds", type=int, default=4, help="selection rounds (committees: R + 1)")
    p.add_argument("--cap", type=int, default=25, help="most frames labelled per round")
    p.add_argument("--members", type=int, default=4, help="committee size (≥ 2)")
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="σ_F threshold, eV/Å (default: 95th percentile over validation, round 0)",
    )
    p.add_argument("--md-starts", type=int, help="committee MD runs per round (default 4)")
    p.add_argument("--md-steps", type=int, help="steps per MD run of 0.5 fs (default 2000)")
    p.add_argument("--md-interval", type=int, help="steps between logged frames (default 10)")
    p.add_argument("--stability-runs", type=int, default=10, help="0: skip the stability MD")
    p.add_argument("--stability-steps", type=int, help="steps per stability run (default 10000)")
    p.add_argument(
        "--workers", type=int, default=0, help="train members as N subprocesses (0: in process)"
    )
    p.add_argument("--label-workers", type=int, default=1, help="GFN1 labelling processes")
    p.add_argument(
        "--tiny",
        action="store_true",
        help="configs/test.py-sized models, 20 steps, short MD, 10/20 val/test frames",
    )
    p.add_argument("--root", default=str(ROOT), help="where the rounds are written")
    p.add_argument("--cache", default=str(CACHE), help="labelled validation / test sets")
    return p.parse_args(argv)


def settings_of(args) -> Settings:
    """The run's settings: the command line's, else --tiny's, else `Settings`' defaults."""
    given = {
        k: v
        for k, v in vars(args).items()
        if k in {f.name for f in dataclasses.fields(Settings)} and v is not None
    }
    return Settings(**{**(TINY if args.tiny else {}), **given})


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["analyse"]:
        return analyse(argv[1:])
    args = parse_args(argv)
    if args.members < 2:
        raise SystemExit("--members must be ≥ 2: the committee ranks by its spread")
    root = Path(args.root)
    if args.tiny:
        root = root.parent / "tiny" / root.name if root == ROOT else root / "tiny"
    for d in run(args.strategy, args.seed, settings_of(args), root, Path(args.cache)):
        print(d)
    return 0


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()
    sys.exit(main())
