"""The runs of a sweep: planned from its config, and their directories read back.

Layout (orbjax/sweep.py): `<sweep_dir>/<run name>/` holds `run.json` (name, config file,
overrides) from launch, `attempts.jsonl` (one line per start), `metrics.csv` (step, split,
metric, value; the training loop's log), `final_metrics.json` once the run finished and,
from training, `model.orbjax` (the best-by-validation model).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from orbjax.sweep import FINAL_FILE, RUN_FILE, expand, load_sweep


@dataclass(frozen=True)
class Run:
    """One run's directory and its launch record."""

    workdir: Path
    spec: dict  # run.json

    @property
    def name(self) -> str:
        return self.workdir.name

    @property
    def config(self) -> str:
        """The training config's name (`energy_only`, `orbital`, ...)."""
        return Path(self.spec["config_path"]).stem

    @property
    def overrides(self) -> dict:
        return self.spec["overrides"]

    @property
    def finished(self) -> bool:
        return (self.workdir / FINAL_FILE).exists()

    def final_metrics(self) -> dict:
        return json.loads((self.workdir / FINAL_FILE).read_text())

    def metric_rows(self) -> Iterator[dict]:
        """The training log's rows ({step, split, metric, value}, strings); a resumed run
        repeats the rows after its checkpoint."""
        path = self.workdir / "metrics.csv"
        if path.exists():
            with open(path, newline="") as f:
                yield from csv.DictReader(f)

    def attempts(self) -> list[dict]:
        path = self.workdir / "attempts.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def sweep_runs(sweep_dir, finished: bool = True) -> list[Run]:
    """The runs under `sweep_dir` in name order (only finished ones unless `finished=False`);
    [] when the directory does not exist (its runs trained elsewhere)."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        return []
    runs = [
        Run(d, json.loads((d / RUN_FILE).read_text()))
        for d in sorted(sweep_dir.iterdir())
        if (d / RUN_FILE).exists()
    ]
    return [r for r in runs if r.finished or not finished]


def planned_run(sweep_file: str, config: str, sweep_dir: str | None = None, **values) -> dict:
    """The one run spec of `sweep_file` (`path.py[:kind]`) with training config `config` and
    the given swept values (e.g. seed=0, **{"data.n_train": 25}), named as the whole sweep
    names it; `sweep_dir` overrides where it would run."""
    specs = expand(load_sweep(sweep_file), sweep_file, sweep_dir)
    hits = [
        s
        for s in specs
        if Path(s["config_path"]).stem == config
        and all(s["overrides"].get(k) == v for k, v in values.items())
    ]
    if len(hits) != 1:
        have = {k: sorted({s["overrides"].get(k) for s in specs} - {None}) for k in values}
        raise ValueError(
            f"{sweep_file}: {len(hits)} runs with config={config} and {values}, not one "
            f"(the sweep has {have})"
        )
    return hits[0]
