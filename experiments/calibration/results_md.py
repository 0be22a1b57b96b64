"""The tables of RESULTS.md, drawn from the committed CSVs of `results/` (never typed).

    python -m experiments.calibration.results_md            # rewrite the marked tables
    python -m experiments.calibration.results_md --check    # exit 1 if one is out of date

Each table sits between `<!-- table: NAME -->` and `<!-- end table -->`; NAME is a key of
`RENDERERS`. Spearman ρ prints as "ρ [95 % bootstrap interval]"; a ρ whose interval lies at
or above the goal (0.6) and rests on at least 5 resampled units is bold.
"""

from __future__ import annotations

import sys
from pathlib import Path

from experiments.calibration.score import RESULTS
from experiments.common.tables import md_rows, read_rows, results_main

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"
GOAL = 0.6
MIN_UNITS_BOLD = 5  # fewer molecules/frames: too few distinct resamples to call an interval
NAMES = {
    "acac": "acac",
    "chno": "CHNO",
    "chno_grown": "grown CHNO",
    "chno_grown_cool": "grown CHNO, trained ≤ 500 K",
}


def _rows(name: str) -> list[dict]:
    return read_rows(RESULTS / f"{name}.csv")


def _rho(r: dict | None) -> str:
    if r is None:
        return "–"
    rho, lo, hi = float(r["rho"]), float(r["ci_low"]), float(r["ci_high"])
    if lo != lo:  # one resampling unit: no interval
        return f"{rho:.2f} (one unit)"
    text = f"{rho:.2f} [{lo:.2f}, {hi:.2f}]"
    return f"**{text}**" if lo >= GOAL and int(r["n_groups"]) >= MIN_UNITS_BOLD else text


def _milli(value) -> str:
    return f"{float(value) * 1000:.0f}"


def _find(rows, **key) -> dict | None:
    for r in rows:
        if all(str(r[k]) == str(v) for k, v in key.items()):
            return r
    return None


def _strata(rows, dataset) -> list[str]:
    return list(dict.fromkeys(r["stratum"] for r in rows if r["dataset"] == dataset))


def committees() -> list[str]:
    rows = _rows("scales")
    body = []
    for dataset in NAMES:
        for n in dict.fromkeys(int(r["n"]) for r in rows if r["dataset"] == dataset):
            cells = {r["split"]: r for r in rows if r["dataset"] == dataset and int(r["n"]) == n}
            body.append(
                [NAMES[dataset], str(n), cells["val"]["M"]]
                + [
                    f"{cells[s]['n_structures']} / {cells[s]['n_atoms']}" if s in cells else "–"
                    for s in ("val", "test", "shifted")
                ]
            )
    return md_rows(["dataset", "n", "M", "val (structures / atoms)", "test", "shifted"], body)


def spearman(metric: str, split_pair=("test", "shifted")) -> list[str]:
    rows = [r for r in _rows("spearman") if r["metric"] == metric]
    body = []
    for dataset in NAMES:
        for stratum in _strata(rows, dataset):
            for n in dict.fromkeys(int(r["n"]) for r in rows if r["dataset"] == dataset):
                cells = [
                    _find(rows, dataset=dataset, n=n, split=s, stratum=stratum) for s in split_pair
                ]
                if all(c is None for c in cells):
                    continue
                groups = [c["n_groups"] if c else "–" for c in cells]
                body.append(
                    [NAMES[dataset], stratum, str(n)]
                    + [_rho(c) for c in cells]
                    + [" / ".join(groups)]
                )
    unit = "molecules (CHNO) or frames (acac)"
    return md_rows(
        ["dataset", "stratum", "n"] + [f"ρ {s}" for s in split_pair] + [f"{unit}, test / shifted"],
        body,
    )


def scales() -> list[str]:
    rows = _rows("scales")
    body = []
    for r in rows:
        if r["split"] == "val":
            continue
        body.append(
            [
                NAMES[r["dataset"]],
                r["n"],
                r["split"],
                f"{float(r['s_forces']):.2f}",
                f"{float(r['s_forces_rms_ratio']):.2f}",
                f"{float(r['rmse_forces']) * 1000:.0f}",
                f"{float(r['z_raw']):.2f}",
                f"{float(r['z_calibrated']):.2f}",
                f"{float(r['nll_raw']):.2f} → {float(r['nll_calibrated']):.2f}",
                " / ".join(f"{float(r[f'coverage_{q}']):.2f}" for q in (68, 90, 95)),
                f"{float(r['s_energy']):.2f}",
                f"{float(r['z_energy_calibrated']):.2f}",
            ]
        )
    return md_rows(
        [
            "dataset",
            "n",
            "split",
            "s_F (val NLL)",
            "RMS ratio (val)",
            "force RMSE (meV/Å)",
            "z raw",
            "z calibrated",
            "NLL/component raw → calibrated",
            "coverage 68 / 90 / 95 %",
            "s_E (val)",
            "z_E calibrated",
        ],
        body,
    )


def binned() -> list[str]:
    """The binned calibration of the largest committee of each dataset, test and shifted."""
    rows = _rows("binned")
    body = []
    for dataset in NAMES:
        sizes = [int(r["n"]) for r in rows if r["dataset"] == dataset]
        if not sizes:
            continue
        n = max(sizes)
        for split in ("val", "test", "shifted"):
            cells = [
                r
                for r in rows
                if r["dataset"] == dataset and int(r["n"]) == n and r["split"] == split
            ]
            body.append(
                [NAMES[dataset], str(n), split]
                + [f"{_milli(c['predicted_rms'])} → {_milli(c['observed_rms'])}" for c in cells]
            )
    n_bins = max((int(r["bin"]) for r in rows), default=-1) + 1
    return md_rows(["dataset", "n", "split"] + [f"bin {b + 1}" for b in range(n_bins)], body)


def stage_times() -> list[str]:
    body = [
        [r["stage"], f"{float(r['wall_s']) / 60:.1f}", f"{float(r['cpu_s']) / 60:.1f}", r["detail"]]
        for r in _rows("stage_times")
    ]
    return md_rows(["stage", "wall (min)", "CPU (min, this process)", "what"], body)


RENDERERS = {
    "committees": committees,
    "spearman-atoms": lambda: spearman("atom_force"),
    "spearman-max-force": lambda: spearman("structure_max_force"),
    "spearman-energy": lambda: spearman("structure_energy"),
    "scales": scales,
    "binned": binned,
    "stage-times": stage_times,
}


if __name__ == "__main__":
    sys.exit(results_main(RESULTS_MD, RENDERERS))
