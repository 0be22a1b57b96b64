"""acac runs scored on the training frames they did not use: a larger, paired test set at small n.

    python -m experiments.learning_curves.score_unused      # from the repository root

acac's fixed test set is 50 frames; at n_train ≤ 200 a run leaves 200–375 of the 400 training
frames unused, and the energy-only and orbital runs of one (seed, n) leave the same ones (the
seed draws the nested subsample), so both arms can be scored on those frames, paired. They
come from the same 300 K trajectory as the test frames and were never trained on by that pair
(validation selected the checkpoint on its own 50 frames). Reads the finished runs of
`results/<sweep>.csv` whose run directories (`runs/learning_curves/<sweep>/<run>/model.orbjax`)
exist (or whose models are committed under `models/acac/`); writes `results/unused_acac.csv` (per
run) and `results/unused_ratios_acac.csv` (orbital / energy-only per comparison and size: geometric
mean over seeds, Student-t interval).
"""

from __future__ import annotations

import os
import time

from experiments.common.stats import log_ratio_summary, paired_log_ratios
from experiments.common.tables import read_rows, write_csv
from experiments.learning_curves.collect import RESULTS, SWEEPS, record_stage

HERE = os.path.dirname(os.path.abspath(__file__))

# (comparison, energy-only sweep, orbital sweep, orbital config): the arms compared, paired by (n,
# seed).
COMPARISONS = [
    ("w3000 (1x)", "acac", "acac_w3000", "orbital"),
    ("w100 (1x)", "acac", "acac", "orbital"),
    ("w3000 (4x)", "acac_long_small", "acac_long_small", "orbital"),
]
MAX_N = 200


def model_path(sweep: str, row: dict) -> str:
    """The run's scored model: the committed one-file model (`models/acac/<variant>/…`, written by
    export_models.py) where there is one, else the run directory's."""
    variant = {"acac": row["config"], "acac_w3000": "orbital_w3000"}.get(sweep)
    committed = os.path.join(
        HERE,
        "models",
        "acac",
        str(variant),
        f"n{row['data.n_train']}",
        f"seed{row['seed']}",
        "model.orbjax",
    )
    return (
        committed
        if variant and os.path.exists(committed)
        else os.path.join(SWEEPS, sweep, row["name"], "model.orbjax")
    )


def finished_runs(sweep: str) -> list[dict]:
    rows = [
        r for r in read_rows(os.path.join(RESULTS, f"{sweep}.csv")) if r["status"] == "finished"
    ]
    return [
        r
        for r in rows
        if 0 < int(r["data.n_train"]) <= MAX_N and os.path.exists(model_path(sweep, r))
    ]


def score(sweep: str, row: dict, cache: dict) -> dict:
    from orbjax.evaluation import compute_metrics, predict_structures
    from orbjax.model.io import load_model_file
    from orbjax.training.data import read, split_structures

    trained = load_model_file(model_path(sweep, row))
    data = trained.config.data
    key = (data.train_path, int(data.n_train), int(trained.config.seed))
    if key not in cache:
        used = {s.name for s in split_structures(data, trained.config.seed).train}
        pool = read(data.train_path, data)
        cache[key] = [s for s in pool if s.name not in used]
        assert len(cache[key]) == len(pool) - len(used), "training frame names are not unique"
    metrics, _ = compute_metrics(predict_structures(trained, cache[key]))
    return dict(
        sweep=sweep,
        name=row["name"],
        config=row["config"],
        seed=int(row["seed"]),
        n_train=int(row["data.n_train"]),
        n_frames=len(cache[key]),
        unused_energy_mae=metrics["energy_mae"],
        unused_forces_mae=metrics["forces_mae"],
        test_energy_mae=float(row["test_energy_mae"]),
        test_forces_mae=float(row["test_forces_mae"]),
    )


def ratios(scored: list[dict]) -> list[dict]:
    by = {(r["sweep"], r["config"], r["n_train"], r["seed"]): r for r in scored}
    out = []
    for label, base_sweep, sweep, config in COMPARISONS:
        for n in sorted({r["n_train"] for r in scored}):
            seeds = sorted(
                s
                for (sw, c, m, s) in by
                if (sw, c, m) == (sweep, config, n) and (base_sweep, "energy_only", n, s) in by
            )
            if not seeds:
                continue
            for metric in ("energy_mae", "forces_mae"):
                for test in ("unused", "test"):
                    _, log_ratio = paired_log_ratios(
                        {s: by[(sweep, config, n, s)][f"{test}_{metric}"] for s in seeds},
                        {
                            s: by[(base_sweep, "energy_only", n, s)][f"{test}_{metric}"]
                            for s in seeds
                        },
                    )
                    out.append(
                        dict(
                            comparison=label,
                            n_train=n,
                            test_set=test,
                            metric=metric,
                            n_seeds=len(seeds),
                            n_frames=by[(sweep, config, n, seeds[0])]["n_frames"]
                            if test == "unused"
                            else 50,
                            **log_ratio_summary(log_ratio),
                        )
                    )
    return out


def main() -> None:
    started = (time.time(), time.process_time())
    cache: dict = {}
    sweeps = sorted({s for _, base, sweep, _ in COMPARISONS for s in (base, sweep)})
    scored = []
    for sweep in sweeps:
        for row in finished_runs(sweep):
            if row["config"] in ("energy_only", "orbital"):
                scored.append(score(sweep, row, cache))
                print(sweep, row["name"], f"{scored[-1]['unused_energy_mae']:.3f}", flush=True)
    write_csv(os.path.join(RESULTS, "unused_acac.csv"), scored)
    write_csv(os.path.join(RESULTS, "unused_ratios_acac.csv"), ratios(scored))
    record_stage("score_unused acac", started, f"{len(scored)} runs")


if __name__ == "__main__":
    from orbjax.runtime import tune_cpu

    tune_cpu()
    main()
