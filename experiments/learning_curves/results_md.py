"""The tables of RESULTS.md, drawn from the committed CSVs of `results/` (never typed).

    python -m experiments.learning_curves.results_md            # rewrite the marked tables
    python -m experiments.learning_curves.results_md --check    # exit 1 if one is out of date

Each table sits between `<!-- table: NAME -->` and `<!-- end table -->` in RESULTS.md; NAME
is a key of `RENDERERS`. Ratios print to 3 decimals with their 95 % Student-t interval over
seeds and the seeds better ("k/n"); an interval that excludes 1 is printed bold where a
table marks it. The prose around the tables is written by hand and quotes these numbers.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

from experiments.common.paths import REPO
from experiments.common.stats import log_ratio_summary, paired_log_ratios
from experiments.common.tables import md_rows, read_rows, results_main
from experiments.learning_curves.collect import (
    BASELINE,
    FULL_SIZE,
    GROUPS,
    RESULTS,
    load_runs,
    run_seconds,
    table,
)

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"
NAMES = {"acac": "acac", "chno": "CHNO", "chno_grown": "grown CHNO"}
CHOSEN = {"acac": 3000, "chno": 1000, "chno_grown": 1000}  # configs/sweeps/lc_*.py AUX_WEIGHT


# ----------------------------------------------------------------------------- reading the CSVs


@cache
def _rows(name: str) -> tuple:
    return tuple(read_rows(os.path.join(RESULTS, f"{name}.csv")))


def ratio(group: str, variant: str, n: int, test: str, metric: str, csv: str = "ratios") -> dict:
    """One row of ratios_<group>.csv (or contrasts_<group>.csv), numbers as floats."""
    for r in _rows(f"{csv}_{group}"):
        if (r["variant"], int(r["n_train"]), r["test_set"], r["metric"]) == (
            variant,
            n,
            test,
            metric,
        ):
            return _typed(r)
    raise KeyError((csv, group, variant, n, test, metric))


def summary(group: str, variant: str, n: int, test: str, metric: str) -> dict:
    for r in _rows(f"summary_{group}"):
        if (r["variant"], int(r["n_train"]), r["test_set"], r["metric"]) == (
            variant,
            n,
            test,
            metric,
        ):
            return _typed(r)
    raise KeyError(("summary", group, variant, n, test, metric))


def pooled(group: str, variant: str, baseline: str, test: str, metric: str) -> dict:
    for r in _rows(f"pooled_{group}"):
        if (r["variant"], r["baseline"], r["test_set"], r["metric"]) == (
            variant,
            baseline,
            test,
            metric,
        ):
            return _typed(r)
    raise KeyError(("pooled", group, variant, baseline, test, metric))


def sizes(group: str, variant: str) -> list[int]:
    return sorted({int(r["n_train"]) for r in _rows(f"ratios_{group}") if r["variant"] == variant})


def _typed(r: dict) -> dict:
    out = dict(r)
    for k, v in r.items():
        try:
            out[k] = (
                int(v)
                if k
                in (
                    "n_train",
                    "n_seeds",
                    "n_better",
                    "seeds_better",
                    "n_pairs",
                    "better_1x",
                    "better_4x",
                    "n_frames",
                )
                else float(v)
            )
        except (TypeError, ValueError):
            pass
    return out


def seed_subset_ratio(group: str, variant: str, n: int, metric: str, seeds) -> dict:
    """The paired ratio to energy-only on test over the given seeds only (the controls' seeds)."""
    grid = table(load_runs(group))
    other, base = grid[(variant, n)], grid[(BASELINE, n)]
    keep = set(seeds) & set(other) & set(base)
    _, logs = paired_log_ratios(
        {s: float(other[s][f"test_{metric}"]) for s in keep},
        {s: float(base[s][f"test_{metric}"]) for s in keep},
    )
    return {**log_ratio_summary(logs), "n_seeds": len(keep)}


# ----------------------------------------------------------------------------- cells


def _excludes_one(r: dict, low: str = "t_ci_low", high: str = "t_ci_high") -> bool:
    return r[high] < 1 or r[low] > 1


def _bold(text: str, on: bool) -> str:
    return f"**{text}**" if on else text


def ci(r: dict, digits: int = 3, suffix: str = "") -> str:
    return f"{r[f't_ci_low{suffix}']:.{digits}f}–{r[f't_ci_high{suffix}']:.{digits}f}"


def better(r: dict, key: str = "n_better") -> str:
    return f"{r[key]}/{r['n_seeds']}"


def full(r: dict, key: str = "n_better", bold: bool = True, suffix: str = "") -> str:
    """'ratio (t CI; k/n)', bold when the interval excludes 1."""
    text = (
        f"{r[f'ratio{suffix}']:.3f} ({ci(r, suffix=suffix)}; "
        f"{r[f'{key}{suffix}'] if suffix else r[key]}/{r['n_seeds']})"
    )
    return _bold(text, bold and _excludes_one(r, f"t_ci_low{suffix}", f"t_ci_high{suffix}"))


def unanimous(r: dict) -> str:
    """'0.935 (3/3)' when every seed agrees, else '0.940'."""
    return f"{r['ratio']:.3f}" + (f" ({better(r)})" if r["n_better"] in (0, r["n_seeds"]) else "")


# ----------------------------------------------------------------------------- the tables


def weight100_ratios() -> list[str]:
    """Section 1: orbital at weight 100 against energy-only, seeds 0–2."""
    rows = []
    for group in ("acac", "chno"):
        for n in sizes(group, "orbital"):
            e, f = (
                ratio(group, "orbital", n, "test", "energy_mae"),
                ratio(group, "orbital", n, "test", "forces_mae"),
            )
            rows.append(
                [
                    NAMES[group],
                    str(n),
                    str(e["n_seeds"]),
                    f"{e['ratio']:.3f}",
                    ci(e),
                    better(e),
                    f"{f['ratio']:.3f}",
                ]
            )
    return md_rows(
        [
            "dataset",
            "n_train",
            "seeds",
            "energy MAE ratio",
            "95 % t CI",
            "seeds better",
            "force MAE ratio",
        ],
        rows,
    )


def decisive_ratios() -> list[str]:
    """Section 2: orbital at the chosen weight against energy-only, 5 seeds."""
    rows = []
    for group in ("acac", "chno"):
        variant = f"orbital[w={CHOSEN[group]}]"
        for n in sizes(group, variant):
            e, f = (
                ratio(group, variant, n, "test", "energy_mae"),
                ratio(group, variant, n, "test", "forces_mae"),
            )
            rows.append(
                [
                    f"{NAMES[group]} (w {CHOSEN[group]})",
                    str(n),
                    f"{e['ratio']:.3f}",
                    ci(e),
                    better(e),
                    e["per_seed"],
                    f"{f['ratio']:.3f}",
                ]
            )
    return md_rows(
        [
            "dataset",
            "n_train",
            "energy MAE ratio",
            "95 % t CI",
            "seeds better",
            "per seed",
            "force MAE ratio",
        ],
        rows,
    )


def grown_curve() -> list[str]:
    """Section 2b: the grown CHNO set, means of both arms and the paired ratios."""
    group, variant = "chno_grown", "orbital[w=1000]"
    rows = []
    for n in sizes(group, variant):
        means = [
            f"{summary(group, v, n, 'test', 'energy_mae')['mean']:.1f} / "
            f"{summary(group, v, n, 'test', 'forces_mae')['mean']:.0f}"
            for v in (BASELINE, variant)
        ]
        e, f = (
            ratio(group, variant, n, "test", "energy_mae"),
            ratio(group, variant, n, "test", "forces_mae"),
        )
        rows.append(
            [
                str(n),
                *means,
                f"{e['ratio']:.3f}",
                ci(e, 2),
                better(e),
                e["per_seed"],
                f"{f['ratio']:.3f} ({ci(f)}; {better(f)})",
            ]
        )
    return md_rows(
        [
            "n_train",
            "energy-only E / F",
            "orbital E / F",
            "energy MAE ratio",
            "95 % t CI",
            "seeds better",
            "per seed",
            "force MAE ratio (t CI; better)",
        ],
        rows,
    )


POOLED = [  # (dataset label, comparison label, group, variant, baseline, test set)
    ("acac", "orbital w 3000 / energy-only", "acac", "orbital[w=3000]", BASELINE, "test"),
    ("acac, 600 K", "orbital w 3000 / energy-only", "acac", "orbital[w=3000]", BASELINE, "test600"),
    ("acac", "orbital w 100 / energy-only", "acac", "orbital", BASELINE, "test"),
    ("CHNO", "orbital w 1000 / energy-only", "chno", "orbital[w=1000]", BASELINE, "test"),
    ("CHNO", "orbital w 100 / energy-only", "chno", "orbital", BASELINE, "test"),
    (
        "grown CHNO",
        "orbital w 1000 / energy-only",
        "chno_grown",
        "orbital[w=1000]",
        BASELINE,
        "test",
    ),
    (
        "acac",
        "orbital / **shuffled** (w 3000)",
        "acac",
        "orbital[w=3000]",
        "orbital_shuffled[w=3000]",
        "test",
    ),
    (
        "CHNO",
        "orbital / **shuffled** (w 1000)",
        "chno",
        "orbital[w=1000]",
        "orbital_shuffled[w=1000]",
        "test",
    ),
    (
        "grown CHNO",
        "orbital / **shuffled** (w 1000)",
        "chno_grown",
        "orbital[w=1000]",
        "orbital_shuffled[w=1000]",
        "test",
    ),
    (
        "acac, no force labels",
        "orbital w 100 / energy-only",
        "acac_noforces",
        "orbital",
        BASELINE,
        "test",
    ),
    (
        "acac, no force labels, 600 K",
        "orbital w 100 / energy-only",
        "acac_noforces",
        "orbital",
        BASELINE,
        "test600",
    ),
    (
        "acac, no force labels",
        "orbital / **shuffled** (w 100)",
        "acac_noforces",
        "orbital",
        "orbital_shuffled",
        "test",
    ),
    (
        "acac, no force labels, 600 K",
        "orbital / **shuffled** (w 100)",
        "acac_noforces",
        "orbital",
        "orbital_shuffled",
        "test600",
    ),
    (
        "CHNO, no force labels",
        "orbital w 100 / energy-only",
        "chno_noforces",
        "orbital",
        BASELINE,
        "test",
    ),
    (
        "CHNO, no force labels",
        "orbital / **shuffled** (w 100)",
        "chno_noforces",
        "orbital",
        "orbital_shuffled",
        "test",
    ),
]


def pooled_ratios() -> list[str]:
    """Section 2c: every comparison pooled over sizes with the seed as the unit."""
    rows = []
    for label, comparison, group, variant, baseline, test in POOLED:
        e, f = (pooled(group, variant, baseline, test, m) for m in ("energy_mae", "forces_mae"))
        n_sizes = len(sizes(group, variant if baseline == BASELINE else baseline))
        rows.append(
            [
                label,
                comparison,
                f"{e['n_seeds']} ({n_sizes})",
                full(e, "seeds_better"),
                full(f, "seeds_better"),
            ]
        )
    return md_rows(
        ["dataset", "comparison", "seeds (sizes)", "energy MAE ratio", "force MAE ratio"], rows
    )


CONTROLS = [
    ("per-orbital **shuffled** within element", "orbital_shuffled"),
    ("per-orbital, invariant head", "orbital_invariant"),
    ("s/p/d shell sums", "shell"),
    ("GFN1 atomic charges", "atomic"),
    ("DFT Mulliken charges", "dft_charges"),
]


def controls() -> list[str]:
    """Section 3: each control against energy-only at n = 50 and 200, seeds 0–2."""
    cells = [(g, n) for g in ("acac", "chno") for n in (50, 200)]
    rows = [
        ["per-orbital, equivariant head (seeds 0–2, as the controls; 5 seeds in section 2)"]
        + [
            " / ".join(
                unanimous(seed_subset_ratio(g, f"orbital[w={CHOSEN[g]}]", n, m, (0, 1, 2)))
                for m in ("energy_mae", "forces_mae")
            )
            for g, n in cells
        ]
    ]
    for label, control in CONTROLS:
        row = [label]
        for g, n in cells:
            try:
                row.append(
                    " / ".join(
                        unanimous(ratio(g, f"{control}[w={CHOSEN[g]}]", n, "test", m))
                        for m in ("energy_mae", "forces_mae")
                    )
                )
            except KeyError:
                row.append("–")  # no such target on this dataset (acac has no DFT charges)
        rows.append(row)
    return md_rows(["target (same weight)", *(f"{NAMES[g]} n={n}" for g, n in cells)], rows)


def grown_controls() -> list[str]:
    """Section 3b: the controls on the grown CHNO set, seeds 0–2, and pooled over both sizes."""

    def cell(r, first):
        interval = f"; {'t CI ' if first else ''}{ci(r, 2)}" if _excludes_one(r) else ""
        return f"{r['ratio']:.3f} ({better(r)}{interval})"

    group = "chno_grown"
    rows = [
        ["per-orbital, equivariant head (seeds 0–2)"]
        + [
            " / ".join(
                cell(
                    seed_subset_ratio(group, "orbital[w=1000]", n, m, (0, 1, 2)), m == "energy_mae"
                )
                for m in ("energy_mae", "forces_mae")
            )
            for n in (50, 200)
        ]
        + [
            f"{full(pooled(group, 'orbital[w=1000]', BASELINE, 'test', 'energy_mae'), 'seeds_better')}, "  # noqa: E501
            "5 seeds × 6 sizes (section 2c)"
        ]
    ]
    for label, control in [(lab.replace("invariant", "**invariant**"), c) for lab, c in CONTROLS]:
        variant = f"{control}[w=1000]"
        rows.append(
            [label]
            + [
                " / ".join(
                    cell(ratio(group, variant, n, "test", m), m == "energy_mae")
                    for m in ("energy_mae", "forces_mae")
                )
                for n in (50, 200)
            ]
            + [full(pooled(group, variant, BASELINE, "test", "energy_mae"), "seeds_better")]
        )
    return md_rows(
        [
            "target (weight 1000)",
            "n=50 energy / forces",
            "n=200 energy / forces",
            "pooled energy (t CI; seeds better)",
        ],
        rows,
    )


def rotated_heads() -> list[str]:
    """Section 4: per-orbital error of both heads, seed 0 at the chosen weight, as given and
    rotated."""
    rows = []
    for group in ("acac", "chno"):
        for n in (50, 200):
            cells = []
            for head in ("orbital", "orbital_invariant"):
                r = next(
                    r
                    for r in _rows("rotated")
                    if (r["dataset"], r["config"], r["seed"], int(r["n_train"]))
                    == (group, head, "0", n)
                    and float(r["weight"]) == CHOSEN[group]
                )
                cells.append(
                    f"{float(r['original_orbital_mae']):.2f} / "
                    f"{float(r['rotated_orbital_mae']):.2f}"
                )
            rows.append([f"{NAMES[group]} (w {CHOSEN[group]})", str(n), *cells])
    return md_rows(
        ["dataset", "n_train", "equivariant: original / rotated", "invariant: original / rotated"],
        rows,
    )


def head_input(group: str):
    """Section 4b: the orbital head reading the previous (default) or the last layer, weight 100."""

    def render() -> list[str]:
        rows = []
        for n in (50, 200):
            for label, variant in (
                ("previous layer (default)", "orbital"),
                ("last layer", "orbital[last_layer]"),
            ):
                e, f = (
                    ratio(group, variant, n, "test", "energy_mae"),
                    ratio(group, variant, n, "test", "forces_mae"),
                )
                row = [label, str(n), full(e, bold=False), f"{f['ratio']:.3f}"]
                if group == "acac":
                    row.append(f"{ratio(group, variant, n, 'test600', 'energy_mae')['ratio']:.3f}")
                s = summary(group, variant, n, "test", "orbital_populations_mae")
                rows.append(row + [f"{s['mean']:.2f} ± {s['std']:.2f}"])
        return md_rows(
            [
                "head input",
                "n_train",
                "energy MAE ratio (t CI; seeds better)",
                "force MAE ratio",
                *(["test600 energy ratio"] if group == "acac" else []),
                "per-orbital MAE (me)",
            ],
            rows,
        )

    return render


def noforces(group: str):
    """Section 5: force-free training, ratio to force-free energy-only per size (seeds better)."""
    tests = ("test", "test600") if group == "acac" else ("test",)

    def render() -> list[str]:
        g = f"{group}_noforces"
        rows = []
        for label, variant in (
            ("per-orbital (equivariant" + (")" if group == "acac" else ", w 100)"), "orbital"),
            ("per-orbital **shuffled**", "orbital_shuffled"),
        ):
            row = [label]
            for test in tests:
                for metric in ("energy_mae", "forces_mae"):
                    rs = [ratio(g, variant, n, test, metric) for n in sizes(g, variant)]
                    row.append(
                        " ".join(f"{r['ratio']:.2f}" for r in rs)
                        + " ("
                        + " ".join(str(r["n_better"]) for r in rs)
                        + ")"
                    )
            rows.append(row)
        columns = (
            ["300 K energy", "300 K forces", "600 K energy", "600 K forces"]
            if group == "acac"
            else ["energy", "forces"]
        )
        return md_rows(["target", *columns], rows)

    return render


def longer(group: str, n: int):
    """Section 7: both arms at the curve's budget and at 4×, the same seeds."""

    def render() -> list[str]:
        by = {
            (r["variant"], r["test_set"], r["metric"]): _typed(r)
            for r in _rows("longer_budget")
            if r["dataset"] == group and int(r["n_train"]) == n
        }
        variant = f"orbital[w={CHOSEN[group]}]"
        e_digits = 3 if group == "acac" else 2
        rows = []
        for test in ("test", "test600") if group == "acac" else ("test",):
            for b in ("1x", "4x"):
                steps = int(by[(BASELINE, test, "energy_mae")][f"steps_{b}"])
                label = f"{b[0]}× ({steps:,} steps)" if test == "test" else f"600 K, {b[0]}×"
                means = [
                    f"{by[(v, test, 'energy_mae')][f'mean_{b}']:.{e_digits}f} / "
                    f"{by[(v, test, 'forces_mae')][f'mean_{b}']:.1f}"
                    for v in (BASELINE, variant)
                ]
                rows.append(
                    [
                        label,
                        *means,
                        *(
                            full(by[(variant, test, m)], "better", suffix=f"_{b}")
                            for m in ("energy_mae", "forces_mae")
                        ),
                    ]
                )
        return md_rows(
            [
                "",
                "energy-only E / F",
                "orbital E / F",
                "orbital / energy-only, energy (t CI; better)",
                "forces (t CI; better)",
            ],
            rows,
        )

    return render


def unused_frames() -> list[str]:
    """Section 7: acac orbital / energy-only energy ratio on the unused training frames and on
    test."""
    rows_by = {
        (r["comparison"], int(r["n_train"]), r["test_set"], r["metric"]): _typed(r)
        for r in _rows("unused_ratios_acac")
    }
    out = []
    for comparison, label in (
        ("w3000 (1x)", "w 3000, 1× budget"),
        ("w3000 (4x)", "w 3000, 4× budget"),
        ("w100 (1x)", "w 100, 1× budget"),
    ):
        for test, what in (("unused", "unused frames"), ("test", "test frames")):
            if comparison == "w100 (1x)" and test == "test":
                continue  # the weight-100 test-frame ratios are section 1's
            cells = []
            for n in (25, 50, 100, 200):
                r = rows_by.get((comparison, n, test, "energy_mae"))
                cells.append(
                    ""
                    if r is None
                    else f"{r['ratio']:.3f} ({ci(r)}; {better(r)})"
                    if comparison.endswith("(4x)")
                    else f"{r['ratio']:.3f} ({better(r)})"
                )
            out.append([f"{label}: {what}", *cells])
    return md_rows(["comparison", "n = 25", "n = 50", "n = 100", "n = 200"], out)


def mace_reference() -> list[str]:
    """Section 6: mace-torch at orbjax's size against orbjax's energy-only runs on the CHNO
    split."""
    mace = {
        (int(r["n_train"]), r["test_set"]): r
        for r in read_rows(REPO / "benchmarks" / "mace_reference.csv")
        if (r["dataset"], r["variant"], r["seed"]) == ("chno", "orbjax_size", "0")
    }
    runs = {
        (int(r["data.n_train"]), int(r["seed"])): r
        for r in _rows("chno")
        if r["config"] == BASELINE
    }
    wall = {r["name"]: float(r["seconds"]) for r in _rows("chno_wall_time")}
    rows = []
    for n, title in ((0, ""), (50, "n = 50"), (200, "n = 200")):
        test, val = mace[(n, "test")], mace[(n, "val")]
        seed0 = runs[(n, 0)]
        epochs = str(int(seed0["train.num_steps"]) * 8 // (n or FULL_SIZE["chno"]))  # batch 8
        head = f"**{title}**: " if title else ""
        rows.append(
            [
                f"{head}mace-torch, orbjax's size"
                + (", correlation 3" if not n else "")
                + " (seed 0)",
                f"{test['epochs']} (best {test['best_epoch']})",
                f"{float(test['total_cpu_s']) / 3600:.1f} core-h",
                f"{float(test['energy_mae']):.1f}",
                f"{float(test['forces_mae']):.1f}",
                f"{float(val['energy_mae']):.1f} / {float(val['forces_mae']):.1f}",
            ]
        )
        prefix = f"{title}: " if title else ""
        seconds = wall[seed0["name"]]
        rows.append(
            [
                f"{prefix}orbjax energy-only, seed 0",
                epochs,
                f"{seconds / 3600:.2f} core-h ({int(seconds + 0.5)} s wall)",
                f"{float(seed0['test_energy_mae']):.1f}",
                f"{float(seed0['test_forces_mae']):.1f}",
                f"{float(seed0['energy_mae']):.1f} / {float(seed0['forces_mae']):.1f}",
            ]
        )
        size = n or FULL_SIZE["chno"]
        e, f = (summary("chno", BASELINE, size, "test", m) for m in ("energy_mae", "forces_mae"))
        each = sorted(wall[runs[(n, s)]["name"]] / 3600 for s in range(5))
        rows.append(
            [
                f"{prefix}orbjax energy-only, seeds 0–4",
                epochs,
                "" if n else f"{each[0]:.2f}–{each[-1]:.2f} core-h each",
                f"{e['mean']:.1f} ± {e['std']:.1f}",
                f"{f['mean']:.1f} ± {f['std']:.1f}",
                "",
            ]
        )
    return md_rows(
        [
            "model",
            "epochs",
            "CPU",
            "test energy (meV/atom)",
            "test forces (meV/Å)",
            "validation energy / forces",
        ],
        rows,
    )


# The training behind each section: (command, CSVs, sweeps). Every section's numbers then come
# from `python -m experiments.learning_curves.analyse` and, here, `results_md`.
SECTIONS = {
    "1": (
        "bash experiments/learning_curves/queue.sh lc_acac lc_chno",
        "ratios_acac.csv, ratios_chno.csv, summary_*.csv",
        ("acac", "chno"),
    ),
    "2": (
        "bash experiments/learning_curves/queue.sh lc_acac:weights lc_acac:curve_chosen "
        "lc_chno:weights "
        "lc_chno:curve_chosen",
        "weights.csv, weights_choice.csv, ratios_*.csv, efficiency.json",
        ("acac_weights", "chno_weights", "acac_w3000", "chno_w1000"),
    ),
    "2b": (
        "bash experiments/learning_curves/run.sh chno_grown (energy-only, curve_chosen and "
        "weights stages)",
        "ratios_chno_grown.csv, summary_chno_grown.csv, efficiency.json",
        ("chno_grown", "chno_grown_w1000", "chno_grown_weights"),
    ),
    "2c": (
        "python -m experiments.learning_curves.analyse --no-collect (no training)",
        "pooled_*.csv, contrasts_*.csv",
        (),
    ),
    "3": (
        "bash experiments/learning_curves/queue.sh lc_acac:controls lc_chno:controls",
        "ratios_acac.csv, ratios_chno.csv",
        ("acac_controls_w3000", "chno_controls_w1000"),
    ),
    "3b": (
        "bash experiments/learning_curves/queue.sh lc_chno_grown:controls",
        "ratios_chno_grown.csv, pooled_chno_grown.csv",
        ("chno_grown_controls_w1000",),
    ),
    "4": (
        "python -m experiments.learning_curves.rotated (after the sweeps: tblite relabelling, "
        "no training)",
        "rotated.csv",
        (),
    ),
    "4b": (
        "bash experiments/learning_curves/queue.sh lc_acac:head_input lc_chno:head_input",
        "ratios_acac.csv, ratios_chno.csv, summary_*.csv",
        ("acac_head_input", "chno_head_input"),
    ),
    "5": (
        "bash experiments/learning_curves/queue.sh lc_acac:noforces lc_acac:noforces_controls "
        "lc_chno:noforces "
        "lc_chno:noforces_controls",
        "ratios_*_noforces.csv, pooled_*_noforces.csv, summary_*_noforces.csv",
        ("acac_noforces", "acac_noforces_controls", "chno_noforces", "chno_noforces_controls"),
    ),
    "6": (
        "python -m benchmarks.mace_reference train --dataset chno --n-train N --seed 0 "
        "--variant orbjax_size "
        "--budget-cpu-s 3600 (N = 0, 50, 200; mace-torch's venv: benchmarks/README.md)",
        "benchmarks/mace_reference.csv, chno.csv",
        (),
    ),
    "7": (
        "bash experiments/learning_curves/queue.sh lc_acac:long lc_acac:long_small "
        "lc_chno:long@0 lc_chno:long@1 "
        "lc_chno:long@2 lc_chno_grown:long lc_chno_grown:long_small; python -m "
        "experiments.learning_curves.score_unused",
        "longer_budget.csv, budget_*_long.csv, unused_ratios_acac.csv",
        ("acac_long", "acac_long_small", "chno_long", "chno_grown_long", "chno_grown_long_small"),
    ),
}


UNTIMED = {
    "2c": "seconds (statistics only; `results/stage_times.csv`)",
    "4": "not recorded (tblite relabelling of the two test sets, then 16 scorings)",
}


def cost_line(section: str):
    """The line under a section's heading: how to reproduce it, where its numbers are, what it
    cost."""

    def render() -> list[str]:
        command, csvs, sweeps = SECTIONS[section]
        timed = [t for sweep in sweeps for t, _ in run_seconds(sweep)]
        if timed:
            cost = (
                f"{len(timed)} runs, {sum(timed) / 3600:.2f} core-hours (sweeps "
                f"{', '.join(sweeps)}; one core "
                "per run, `results/<sweep>_wall_time.csv`)"
            )
        elif section == "6":
            mace = {
                (r["n_train"], r["total_cpu_s"])
                for r in read_rows(REPO / "benchmarks" / "mace_reference.csv")
                if (r["dataset"], r["variant"]) == ("chno", "orbjax_size")
            }
            cost = (
                f"{len(mace)} mace-torch runs, {sum(float(c) for _, c in mace) / 3600:.2f} "
                "core-hours"
            )
        else:
            cost = UNTIMED[section]
        code, _, note = command.partition(" (")
        then = (
            ""
            if "analyse" in code or "benchmarks" in code
            else ", then `python -m experiments.learning_curves.analyse`"
        )
        csv_list = ", ".join(f"`{c if '/' in c else 'results/' + c}`" for c in csvs.split(", "))
        return [
            f"*Reproduce:* `{code}`{f' ({note}' if note else ''}{then}. *Numbers:* "
            f"{csv_list}. *CPU:* {cost}."
        ]

    return render


def total_cost() -> list[str]:
    """Every training run behind this file, as `tables.md` "CPU time per sweep" row "all" counts
    it."""
    timed = [t for group in GROUPS.values() for sweep in group for t, _ in run_seconds(sweep)]
    return [
        f"**{len(timed)} runs, {sum(timed) / 3600:.2f} core-hours** of training "
        "(`results/*_wall_time.csv`)."
    ]


RENDERERS = {
    "weight100-ratios": weight100_ratios,
    "decisive-ratios": decisive_ratios,
    "grown-curve": grown_curve,
    "pooled": pooled_ratios,
    "controls": controls,
    "grown-controls": grown_controls,
    "rotated-heads": rotated_heads,
    "head-input-acac": head_input("acac"),
    "head-input-chno": head_input("chno"),
    "noforces-acac": noforces("acac"),
    "noforces-chno": noforces("chno"),
    "longer-acac": longer("acac", 400),
    "longer-chno-grown": longer("chno_grown", 1205),
    "longer-acac-small": longer("acac", 50),
    "unused-frames": unused_frames,
    "mace-reference": mace_reference,
    **{f"cost-{section}": cost_line(section) for section in SECTIONS},
    "cost-all": total_cost,
}


def main(argv=None) -> int:
    return results_main(RESULTS_MD, RENDERERS, argv)


if __name__ == "__main__":
    sys.exit(main())
