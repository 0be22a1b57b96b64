"""Active learning: grow a labelled set by committee spread, at random, or by descriptor
diversity, retraining the committee from scratch each round.

    python -m experiments.active_learning.run --dataset acac --strategy committee --seed 0

One (dataset, strategy, seed) per call. Round r trains `--members` energy-only models on the
labelled set (`data.train_indices`, indices into the learning curves' training pool file),
scores them on the fixed test set, then chooses the next k structures from the unlabelled
rest of the pool. The selection sees positions and atomic numbers only: the labels of an
unchosen structure are never handed to it. Everything lives under
`runs/active_learning/<dataset>/<strategy>/seed<S>/round<r>/` (indices.txt, chosen.txt,
round.json, DONE); a rerun skips finished rounds and finished members. Round 0 (the same
random draw for every strategy) trains once, under `.../<dataset>/initial/seed<S>/round0/`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from experiments.common.paths import REPO
from experiments.common.runs import planned_run
from orbjax.config import load_config_module

STRATEGIES = ("committee", "random", "diversity")
ROOT = Path("runs/active_learning")
DONE = "DONE"
STEP_GRID = 250  # the learning curves' eval/checkpoint interval: budgets land on a checkpoint


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One study's data and schedule: the learning-curve sweep whose energy-only run gives the
    training config, the initial size, the round size k and the last labelled-set size."""

    name: str
    sweep: str  # sweep file (configs/sweeps/lc_*.py) or a config file (`config_path`)
    n0: int
    k: int
    n_max: int
    overrides: dict = dataclasses.field(default_factory=dict)  # on top of the planned run
    steps: int = 0  # > 0: this budget at every size instead of the SIZES_STEPS rule


DATASETS = {
    "acac": Dataset("acac", "configs/sweeps/lc_acac.py", n0=25, k=25, n_max=200),
    "chno_grown": Dataset("chno_grown", "configs/sweeps/lc_chno_grown.py", n0=50, k=50, n_max=300),
}
# `--tiny`: configs/test.py's model and a 20-step budget on the real data (a smoke run).
TINY = {
    "model.channels": 8,
    "model.l_max": 2,
    "model.n_layers": 1,
    "model.n_basis": 6,
    "model.radial_hidden": 16,
    "model.readout_hidden": 8,
    "train.batch_size": 4,
    "train.log_every": 10,
    "train.eval_every": 10,
    "train.checkpoint_every": 10,
    "optimizer.warmup_steps": 5,
}
TINY_STEPS = 20


# --------------------------------------------------------------------- the budget rule


def sizes_steps(dataset: Dataset) -> list[tuple[int, int]]:
    """The learning curves' (n_train, steps) of the dataset (n_train 0 = the whole set left
    out: it has no size)."""
    module = load_config_module(str(REPO / dataset.sweep))
    return sorted((n, s) for n, s in module.SIZES_STEPS if n > 0)


def step_budget(n: int, table: list[tuple[int, int]]) -> int:
    """Steps for a labelled set of n: the learning curves' budget, linear in log n between
    their sizes, rounded to a multiple of STEP_GRID. One rule for every strategy; sizes
    outside the table are an error (no extrapolation)."""
    sizes = np.array([a for a, _ in table], float)
    steps = np.array([b for _, b in table], float)
    if not sizes[0] <= n <= sizes[-1]:
        raise ValueError(f"labelled-set size {n} is outside the budget table {table}")
    value = float(np.interp(np.log(n), np.log(sizes), steps))
    return int(STEP_GRID * round(value / STEP_GRID))


# --------------------------------------------------------------------- specs and the pool


def base_spec(dataset: Dataset) -> dict:
    """The energy-only run spec of the learning curves (data, intervals), or `sweep` itself
    when it is a training config (tests)."""
    if "sweeps" in Path(dataset.sweep).parts:
        first = sizes_steps(dataset)[0][0]
        spec = planned_run(
            str(REPO / dataset.sweep), "energy_only", seed=0, **{"data.n_train": first}
        )
        spec = {"config_path": spec["config_path"], "overrides": dict(spec["overrides"])}
    else:
        spec = {"config_path": str(Path(dataset.sweep).resolve()), "overrides": {}}
    spec["overrides"].update(dataset.overrides)
    return spec


def member_spec(
    dataset: Dataset, indices_file: Path | None, n: int, seed: int, workdir: Path
) -> dict:
    """One committee member: the base spec on the labelled set (`indices_file`; None: every
    structure of the training file), seed = initialisation."""
    spec = base_spec(dataset)
    steps = dataset.steps or step_budget(n, sizes_steps(dataset))
    spec["overrides"].update(
        {
            "seed": seed,
            "data.n_train": 0,
            "data.train_indices": "" if indices_file is None else str(indices_file.resolve()),
            "train.num_steps": steps,
        }
    )
    return {"name": workdir.name, "workdir": str(workdir.resolve()), **spec}


def data_config(dataset: Dataset):
    from orbjax.sweep import build_config

    spec = base_spec(dataset)
    spec["overrides"]["data.n_train"] = 0
    return build_config(spec).data


def training_pool(dataset: Dataset) -> tuple[list, np.ndarray]:
    """(every structure of the training file as orbjax reads it, sorted indices of the pool):
    the whole file when validation/test are files of their own, else the training part of
    the file's fixed split (`data.split_seed`). Indices are what `data.train_indices` counts."""
    from orbjax.data.splits import split_indices
    from orbjax.training.data import read, split_by

    config = data_config(dataset)
    structures = read(config.train_path, config, config.get("limit"))
    if config.get("val_path"):
        return structures, np.arange(len(structures))
    fractions = (
        1.0 - config.val_fraction - config.test_fraction,
        config.val_fraction,
        config.test_fraction,
    )
    if config.get("split_seed", -1) < 0:  # else the members' splits would follow their seeds
        raise ValueError(f"{dataset.name}: the pool needs a fixed split: set data.split_seed ≥ 0")
    train, _, _ = split_indices(
        structures, fractions=fractions, seed=config.split_seed, by=split_by(structures, config)
    )
    return structures, np.asarray(train)


def candidates(structures, indices) -> list:
    """ASE Atoms of the structures: atomic numbers, positions, cell and pbc only, no labels."""
    from ase import Atoms

    return [
        Atoms(
            numbers=structures[i].atomic_numbers,
            positions=structures[i].positions,
            cell=structures[i].cell,
            pbc=structures[i].pbc,
        )
        for i in indices
    ]


def initial_set(pool: np.ndarray, n0: int, seed: int) -> np.ndarray:
    """Round 0: n0 of the pool drawn by `seed` alone, so every strategy starts equal."""
    return np.sort(np.random.default_rng([seed, 0]).choice(pool, n0, replace=False))


# --------------------------------------------------------------------- selection


def choose(strategy: str, committee, frames: list, k: int, seed: int, round_: int, labelled_frames):
    """(indices into `frames` (the unlabelled candidates) of the k to label next, info).

    committee: `orbjax.select.select` (max force spread, farthest point among the 3k most
    uncertain, from those farthest from the labelled set); random: rng(seed, round);
    diversity: farthest point on mean descriptors alone, starting from the distance to the
    labelled set (so it fills gaps, not corners already covered)."""
    from orbjax.select import farthest_point, mean_descriptors, select

    if k >= len(frames):
        return np.arange(len(frames)), {}
    if strategy == "random":
        rng = np.random.default_rng([seed, round_, 1])
        return np.sort(rng.choice(len(frames), k, replace=False)), {}
    if strategy == "committee":
        chosen, scores = select(committee, frames, k, labelled=labelled_frames)
        return chosen, {"max_force_std": scores["max_force_std"][chosen].tolist()}
    if strategy == "diversity":
        x = mean_descriptors(committee, frames)
        ref = mean_descriptors(committee, labelled_frames)
        return farthest_point(x, k, reference=ref), {}
    raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")


# --------------------------------------------------------------------- one round


def seed_dir(root: Path, dataset: str, strategy: str, seed: int) -> Path:
    return root / dataset / strategy / f"seed{seed}"


def member_dirs(root: Path, dataset: str, strategy: str, seed: int, round_: int, m: int):
    """Round 0 is shared by every strategy of a seed; later rounds are the strategy's own."""
    owner = "initial" if round_ == 0 else strategy
    base = seed_dir(root, dataset, owner, seed) / f"round{round_}" / "members"
    return [base / f"m{j}" for j in range(m)]


def write_indices(path: Path, indices: np.ndarray, note: str) -> None:
    """The labelled set as data.train_indices reads it; an existing file must agree."""
    indices = np.sort(np.asarray(indices, int))
    if path.exists():
        if not np.array_equal(read_indices(path), indices):
            raise RuntimeError(f"{path}: holds another labelled set than this run would write")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"# {note}\n" + "".join(f"{i}\n" for i in indices))
    os.replace(tmp, path)


def read_indices(path: Path) -> np.ndarray:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return np.array(sorted(int(x) for x in lines if x), int)


def train_members(specs: list[dict], workers: int) -> None:
    """Train (or skip, when finished) each member: in this process, or `workers` at a time as
    `python -m orbjax.sweep run` subprocesses (logs in <workdir>/train.log)."""
    from orbjax import sweep

    sweep.prepare(specs)
    todo = sweep.pending(specs)
    if workers > 0 and todo:
        codes = sweep.launch_local(todo, workers=workers)
        failed = {name: c for name, c in codes.items() if c}
        if failed:
            raise RuntimeError(f"members failed: {failed} (see train.log in their workdirs)")
    else:
        for spec in todo:
            sweep.run(spec)


def committee_test_errors(committee, test) -> dict:
    """The committee mean's test energy MAE (meV/atom) and force component MAE (meV/Å)."""
    e_err, f_err = [], []
    for s, out in zip(test, committee.predict_structures(test)):
        e_err.append(abs(out["energy"] - float(s.labels["energy"])) / len(s.atomic_numbers))
        f_err.append(np.abs(out["forces"] - s.labels["forces"]).ravel())
    return {
        "committee_test_energy_mae": 1000.0 * float(np.mean(e_err)),
        "committee_test_forces_mae": 1000.0 * float(np.mean(np.concatenate(f_err))),
    }


def run_round(
    dataset, strategy, seed, round_, labelled, structures, pool, args, root
) -> np.ndarray:
    """Train and score round `round_` on `labelled`, choose the next k (unless the last size);
    returns the chosen pool indices (empty at the last size). A finished round is read back."""
    rdir = seed_dir(root, dataset.name, strategy, seed) / f"round{round_}"
    indices_file = rdir / "indices.txt"
    write_indices(indices_file, labelled, f"{dataset.name} {strategy} seed {seed} round {round_}")
    last = len(labelled) >= dataset.n_max
    if (rdir / DONE).exists():
        return np.array([], int) if last else read_indices(rdir / "chosen.txt")
    workdirs = member_dirs(root, dataset.name, strategy, seed, round_, args.members)
    if round_ == 0:  # shared by every strategy: trains on its own copy of the same draw
        train_file = workdirs[0].parent.parent / "indices.txt"
        write_indices(train_file, labelled, f"{dataset.name} seed {seed} round 0 (every strategy)")
    else:
        train_file = indices_file
    specs = [
        member_spec(dataset, train_file, len(labelled), 100 * seed + j, w)
        for j, w in enumerate(workdirs)
    ]
    train_members(specs, args.workers)
    from orbjax.potential.committee import load_committee

    start = time.process_time()  # the members' training CPU is in their metrics.csv
    committee = load_committee([str(w / "model.orbjax") for w in workdirs])
    record = {
        "dataset": dataset.name,
        "strategy": strategy,
        "seed": seed,
        "round": round_,
        "n_labelled": int(len(labelled)),
        "num_steps": specs[0]["overrides"]["train.num_steps"],
        "members": [str(w.resolve()) for w in workdirs],
    }
    if args.committee_score:
        # beside the members: the shared round 0 is scored once for every strategy
        scored = workdirs[0].parent.parent / "committee_test.json"
        if not scored.exists():
            from orbjax.training.data import split_structures

            test = split_structures(data_config(dataset), seed).test
            scored.write_text(json.dumps(committee_test_errors(committee, test)))
        record.update(json.loads(scored.read_text()))
    chosen = np.array([], int)
    if not last:
        rest = np.setdiff1d(pool, labelled)
        k = min(dataset.k, dataset.n_max - len(labelled))
        picked, info = choose(
            strategy,
            committee,
            candidates(structures, rest),
            k,
            seed,
            round_,
            candidates(structures, labelled),
        )
        chosen = np.sort(rest[picked])
        write_indices(rdir / "chosen.txt", chosen, f"chosen by {strategy} after round {round_}")
        record["selection"] = info
    record["score_select_cpu_s"] = time.process_time() - start
    (rdir / "round.json").write_text(json.dumps(record, indent=1))
    (rdir / DONE).write_text("")
    return chosen


def run(dataset: Dataset, strategy: str, seed: int, args, root: Path = ROOT) -> list[Path]:
    """Every round of one (dataset, strategy, seed) up to `args.rounds_until` (None: until
    n_max); returns the round directories."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, not {strategy!r}")
    structures, pool = training_pool(dataset)
    if dataset.n_max > len(pool):
        raise ValueError(f"{dataset.name}: n_max {dataset.n_max} > the pool's {len(pool)}")
    labelled = initial_set(pool, dataset.n0, seed)
    dirs = []
    for round_ in range(10**6):
        if args.rounds_until is not None and round_ > args.rounds_until:
            break
        chosen = run_round(dataset, strategy, seed, round_, labelled, structures, pool, args, root)
        dirs.append(seed_dir(root, dataset.name, strategy, seed) / f"round{round_}")
        if not len(chosen):
            break
        if np.intersect1d(chosen, labelled).size:
            raise RuntimeError("a chosen structure is already labelled")
        labelled = np.union1d(labelled, chosen)
    return dirs


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    p.add_argument("--strategy", required=True, choices=STRATEGIES)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--members", type=int, default=4, help="committee size (≥ 2)")
    p.add_argument("--rounds-until", type=int, default=None, help="stop after this round")
    p.add_argument(
        "--workers", type=int, default=0, help="train members as N subprocesses (0: in process)"
    )
    p.add_argument("--tiny", action="store_true", help="configs/test.py-sized models, 20 steps")
    p.add_argument(
        "--no-committee-score",
        dest="committee_score",
        action="store_false",
        help="skip scoring the committee mean on the test set",
    )
    p.add_argument("--root", default=str(ROOT), help="where the rounds are written")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.members < 2:
        raise SystemExit("--members must be ≥ 2: the committee ranks by its spread")
    dataset = DATASETS[args.dataset]
    root = Path(args.root)
    if args.tiny:
        dataset = dataclasses.replace(
            dataset, overrides={**dataset.overrides, **TINY}, steps=TINY_STEPS
        )
        root = root / "tiny"
    for d in run(dataset, args.strategy, args.seed, args, root):
        print(d)
    return 0


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()
    sys.exit(main())
