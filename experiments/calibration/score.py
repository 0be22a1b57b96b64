"""Stage 1 of the calibration study: committee spreads and errors, per atom and per structure.

    python -m experiments.calibration.score    # repository root; reads data/learning_curves/

A committee is every committed energy-only learning-curve model of one (dataset, n) —
`experiments/learning_curves/models/<dataset>/energy_only/n<N>/seed<S>/model.orbjax` — where
at least `MIN_MEMBERS` seeds exist (members differ in initialisation and training subsample,
except at the full set, where only the initialisation differs). It is loaded with
`orbjax.load_committee` and run batched: `Committee.predict_graph` on padded batches (one
compiled function per padding budget for every committee of the architecture), combined per
structure by `Committee.combine` (members' Σ E0 in float64), so σ_E and σ_F,i are exactly the
committee's reported spreads.

Splits (the models' own, `orbjax.training.data.split_structures` of the first member):
- acac: `val` (50 frames, 300 K), `test` (50 frames, 300 K), `shifted` = test600 (500 frames
  of the 600 K trajectory; the models saw only 300 K).
- chno, chno_grown: molecule-disjoint `val`; `test` = the test molecules' 300 and 500 K
  frames; `shifted` = their 800 K frames. The models were trained on all three
  temperatures, so this "shift" is only to the hottest, most distorted third of the same
  distribution (the test molecules themselves are unseen in every split).
- chno_grown_cool (`temperature_shift.py`): the same test molecules and split, the models
  trained and validated on ≤ 500 K frames only, so the 800 K frames are a real shift.

Writes `results/atoms.csv.gz` (dataset, n, M, split, structure, n_atoms, atom, Z, sigma_f,
abs_df: σ_F,i and |F̄_i − F_i^DFT| in eV/Å) and `results/structures.csv.gz` (σ_E and |ΔE|/n
in eV/atom, max σ_F, max and mean |ΔF| in eV/Å, temperature), and one row per run to
`results/stage_times.csv`.
"""

from __future__ import annotations

import gzip
import io
import os
import time
from pathlib import Path

import numpy as np

from experiments.common.paths import REPO
from experiments.common.tables import write_csv

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
MODELS = REPO / "experiments" / "learning_curves" / "models"
DATASETS = ("acac", "chno", "chno_grown", "chno_grown_cool")
ARM = "energy_only"
# Where each dataset's committees live: the learning curves' energy-only models, and the
# temperature-shift committees trained on ≤ 500 K frames (temperature_shift.py).
FOLDERS = {d: MODELS / d / ARM for d in DATASETS[:3]} | {
    "chno_grown_cool": HERE / "models" / "chno_grown_cool"
}
MIN_MEMBERS = 4
SHIFT_TEMPERATURE = 800.0  # chno*: the hottest MD temperature


def committees(min_members: int = MIN_MEMBERS) -> list[tuple[str, int, list[str]]]:
    """(dataset, n, member paths) for every committed (dataset, n) with ≥ min_members seeds."""
    out = []
    for dataset in DATASETS:
        for folder in sorted(FOLDERS[dataset].glob("n*"), key=lambda p: int(p.name[1:])):
            paths = sorted(str(p) for p in folder.glob("seed*/model.orbjax") if p.is_file())
            if len(paths) >= min_members:
                out.append((dataset, int(folder.name[1:]), paths))
    return out


def splits(dataset: str, trained) -> dict[str, list]:
    """The committee's validation, in-distribution test and shifted test structures."""
    from orbjax.training.data import split_structures

    data = trained.config.data
    parts = split_structures(data, int(trained.config.seed))
    if dataset == "acac":
        return {"val": parts.val, "test": parts.test, "shifted": parts.extra_tests["test600"]}
    if data.get("split_seed", -1) is None or data.get("split_seed", -1) < 0:
        raise ValueError(f"{dataset}: the split depends on the seed; members would differ")
    hot = [float(s.info["md_temperature"]) >= SHIFT_TEMPERATURE for s in parts.test]
    return {
        "val": parts.val,
        "test": [s for s, h in zip(parts.test, hot) if not h],
        "shifted": [s for s, h in zip(parts.test, hot) if h],
    }


def predict(committee, structures, config) -> list[dict]:
    """`Committee.combine` of every structure (file order), batched as the evaluation batches."""
    return committee.predict_structures(
        structures, int(config.train.batch_size), int(config.train.n_buckets)
    )


def rows_of(dataset, n, m, split, structures, results, config):
    """Per-atom and per-structure rows of one split."""
    atoms, per_structure = [], []
    ekey, fkey = config.data.energy_key, config.data.forces_key
    for i, (s, r) in enumerate(zip(structures, results)):
        n_atoms = len(s.atomic_numbers)
        df = np.linalg.norm(r["forces"] - np.asarray(s.labels[fkey], np.float64), axis=1)
        sf = np.asarray(r["forces_std"], np.float64)
        common = dict(dataset=dataset, n=n, M=m, split=split, structure=i)
        for a in range(n_atoms):
            atoms.append(
                dict(
                    **common,
                    n_atoms=n_atoms,
                    atom=a,
                    Z=int(s.atomic_numbers[a]),
                    sigma_f=float(sf[a]),
                    abs_df=float(df[a]),
                )
            )
        per_structure.append(
            dict(
                **common,
                name=s.name,
                mol_id=s.mol_id,
                n_atoms=n_atoms,
                temperature=s.info.get("md_temperature", 600.0 if split == "shifted" else 300.0),
                sigma_e=r["energy_std_per_atom"],
                abs_de=abs(r["energy"] - float(s.labels[ekey])) / n_atoms,
                max_sigma_f=float(sf.max()),
                max_abs_df=float(df.max()),
                mean_abs_df=float(df.mean()),
                mean_sigma_f=float(sf.mean()),
            )
        )
    return atoms, per_structure


def write_gz(path: Path, rows: list[dict]) -> None:
    """`write_csv` into a gzip file with a fixed timestamp (byte-identical reruns)."""
    tmp = path.with_suffix("")
    write_csv(tmp, rows)
    with open(tmp, "rb") as f, open(path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            gz.write(f.read())
    tmp.unlink()


def read_gz(path) -> list[dict]:
    import csv

    with gzip.open(path, "rt", newline="") as f:
        return list(csv.DictReader(io.StringIO(f.read())))


def record_stage(stage: str, started: tuple[float, float], detail: str = "") -> None:
    """One row of wall and CPU seconds (this process) in results/stage_times.csv."""
    import csv
    import datetime

    path = RESULTS / "stage_times.csv"
    new = not path.exists()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["date", "stage", "wall_s", "cpu_s", "cpus_visible", "detail"])
        w.writerow(
            [
                datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                stage,
                f"{time.time() - started[0]:.1f}",
                f"{time.process_time() - started[1]:.1f}",
                len(os.sched_getaffinity(0)),
                detail,
            ]
        )


def main() -> None:
    from orbjax.model.io import load_model_file
    from orbjax.potential.committee import load_committee

    started = (time.time(), time.process_time())
    os.chdir(REPO)  # the models' data paths are relative to the repository root
    atoms, structures_rows = [], []
    cache: dict = {}
    chosen = committees()
    for dataset, n, paths in chosen:
        first = load_model_file(paths[0])
        if dataset not in cache:  # val/test do not depend on n or seed (checked below)
            cache[dataset] = splits(dataset, first)
        parts = cache[dataset]
        for p in paths[1:]:
            d = load_model_file(p).config.data
            assert (d.train_path, d.get("split_seed"), d.get("val_path")) == (
                first.config.data.train_path,
                first.config.data.get("split_seed"),
                first.config.data.get("val_path"),
            ), f"{p}: another split than {paths[0]}"
        committee = load_committee(paths)
        t0 = time.time()
        for split, structures in parts.items():
            results = predict(committee, structures, first.config)
            a, s = rows_of(dataset, n, len(paths), split, structures, results, first.config)
            atoms += a
            structures_rows += s
        print(
            f"{dataset} n={n} M={len(paths)}: "
            + ", ".join(f"{k} {len(v)}" for k, v in parts.items())
            + f" structures, {time.time() - t0:.0f} s",
            flush=True,
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_gz(RESULTS / "atoms.csv.gz", atoms)
    write_gz(RESULTS / "structures.csv.gz", structures_rows)
    record_stage(
        "score", started, f"{len(chosen)} committees, {len(structures_rows)} structure rows"
    )


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()
    main()
