"""The generated tables of the metals RESULTS.md, from the files `results/` holds.

    python -m experiments.metals.results_md [--check]

Each table sits between `<!-- table: NAME -->` and `<!-- end table -->`. The per-system
tables are `score.py`'s `results/scores_decisive_tables.md` (written from
`scores_decisive_summary.csv`), copied whole; the overall tables of the 1,200- and
6,000-step runs and the NPT lattice constants are drawn here from their CSVs.
"""

from __future__ import annotations

import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from experiments.common.tables import md_rows, read_rows, results_main

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"


def include(name: str):
    """A generated markdown file of results/, without its surrounding blank lines."""
    return lambda: (HERE / "results" / name).read_text().strip("\n").split("\n")


def digits(value: str, places: int, pad: bool = False) -> str:
    """A CSV number (`write_csv` keeps 4 significant digits) rounded half-up to `places`
    decimals, the way the printed value reads; one with fewer decimals stays as written
    unless `pad` (ratios: 0.9 → 0.90)."""
    d = Decimal(value)
    if d.as_tuple().exponent >= -places and not pad:
        return value
    return str(d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


QUANTITIES = (("energy_meV_per_atom", 1), ("forces_meV_per_A", 1), ("stress_meV_per_A3", 2))
ERROR_COLUMNS = ["variant", "energy (meV/atom)", "forces (meV/Å)", "stress (meV/Å³)"]


def _ratio_cell(r: dict, places: int, seeds_better: str, per_seed: bool = False) -> str:
    """`mean, ratio R (low–high), k/n`: the ratio to energy-only over paired seeds."""
    text = f"{digits(r['mae_mean' if 'mae_mean' in r else 'mean'], places)}, ratio "
    text += digits(r["ratio"], 2, pad=True)
    if r["ratio_ci_low"] != "nan":
        low, high = (digits(r[f"ratio_ci_{end}"], 2, pad=True) for end in ("low", "high"))
        text += f" ({low}–{high})"
        text += f", {seeds_better}"
        if per_seed:
            text += f" ({r['per_seed']})"
    return text


def _better(r: dict, suffix: str = "", bold: bool = False) -> str:
    text = f"{r['seeds_better']}/{r['paired_seeds']}{suffix}"
    return f"**{text}**" if bold else text


def _excludes_one(r: dict) -> bool:
    return float(r["ratio_ci_low"]) > 1 or float(r["ratio_ci_high"]) < 1


def decisive_overall() -> list[str]:
    """Stage 2: the overall test errors of the 1,200-step runs (`scores_decisive_summary.csv`,
    the shell row from `scores_decisive_shell_summary.csv`); **k/n** where the interval of the
    ratio excludes 1."""
    rows = read_rows(HERE / "results" / "scores_decisive_summary.csv")
    rows += [
        r
        for r in read_rows(HERE / "results" / "scores_decisive_shell_summary.csv")
        if r["variant"] == "shell"
    ]
    by = {(r["variant"], r["quantity"]): r for r in rows if r["group"] == "all"}
    base = [by[("energy_only", q)] for q, _ in QUANTITIES]
    out = [
        [
            "energy-only",
            *(
                f"{digits(r['mae_mean'], p)} ({digits(r['ci_low'], p)}–{digits(r['ci_high'], p)})"
                for r, (_, p) in zip(base, QUANTITIES)
            ),
        ]
    ]
    for variant, label in (
        ("orbital", "orbital"),
        ("orbital_shuffled", "shuffled"),
        ("shell", "shell (s/p/d)"),
    ):
        cells = []
        for k, (q, p) in enumerate(QUANTITIES):
            r = by[(variant, q)]
            suffix = " seeds better" if variant == "orbital" and k == 0 else ""
            cells.append(_ratio_cell(r, p, _better(r, suffix, bold=_excludes_one(r))))
        out.append([label, *cells])
    return md_rows(ERROR_COLUMNS, out)


# The cells of the 6,000-step table set in bold: every seed worse.
LONG_BOLD = {("orbital", "energy_meV_per_atom"), ("orbital", "forces_meV_per_A")}
LONG_BOLD |= {("orbital_shuffled", "energy_meV_per_atom")}


def long_runs() -> list[str]:
    """The 6,000-step runs' overall test errors (`runs_long_long_w100_ratios.csv`, written by
    `collect.py`): mean over seeds, 2 decimals; ratio to energy-only with its t-interval."""
    rows = read_rows(HERE / "results" / "runs_long_long_w100_ratios.csv")
    by = {(r["variant"], r["metric"]): r for r in rows}
    out = [["energy-only", *(digits(by[("energy_only", q)]["mean"], 2) for q, _ in QUANTITIES)]]
    for variant, label in (
        ("orbital", "orbital (weight 1000)"),
        ("orbital_w100", "orbital (weight 100), seed 0 only"),
        ("orbital_shuffled", "shuffled orbital (weight 1000)"),
    ):
        cells = []
        for k, (q, _) in enumerate(QUANTITIES):
            r = by[(variant, q)]
            bold = (variant, q) in LONG_BOLD
            suffix = " seeds better" if variant == "orbital" and k == 0 else ""
            per_seed = q != "stress_meV_per_A3"
            cells.append(_ratio_cell(r, 2, _better(r, suffix, bold), per_seed=per_seed))
        out.append([label, *cells])
    return md_rows(ERROR_COLUMNS, out)


def npt() -> list[str]:
    """The NPT lattice constant of bcc Mo per model (`npt_Mo128.csv`, written by `npt.py`)."""
    names = {"energy_only": "energy-only", "orbital": "orbital"}
    names["orbital_shuffled"] = "shuffled orbital"
    rows = [
        [
            names[r["variant"]],
            f"{float(r['a_mean_second_half_A']):.4f}",
            f"{float(r['a_std_second_half_A']):.4f}",
            f"{float(r['a_minus_pbe_A']):+.3f}",
        ]
        for r in read_rows(HERE / "results" / "npt_Mo128.csv")
    ]
    columns = ["model (seed 0, 6,000 steps)", "a, mean of the second ps (Å)", "std (Å)"]
    return md_rows([*columns, "a − 3.16 Å"], rows)


def _signed(value: str, places: int, sign: bool = False) -> str:
    """`digits` with a typographic minus (and a plus when `sign`)."""
    text = digits(value, places, pad=True)
    if sign and not text.startswith("-"):
        text = "+" + text
    return text.replace("-", "−")


LATENT_VARIANTS = ("orbital", "energy_only", "orbital_shuffled", "untrained")
LATENT_LABELS = {
    "latent": [
        ("silhouette_element", "silhouette by element (reference: trivial)"),
        ("silhouette_group", "silhouette by group"),
        ("silhouette_block", "silhouette by block (s/p/d)"),
        ("silhouette_period", "silhouette by period"),
        (
            "silhouette_group_paired",
            "silhouette by group, elements with a group partner (Nb–Ta, Mo–W, Si–Ge)",
        ),
        (
            "centroid_ratio",
            "centroid ratio same-group / other-group (lower = more chemical)",
        ),
        (
            "nearest_partner_hits",
            "nearest other centroid is the group partner (of 6; chance ≈ 1.2)",
        ),
    ],
    "latent-long": [
        ("silhouette_element", "silhouette by element"),
        ("silhouette_group", "silhouette by group"),
        ("silhouette_block", "silhouette by block"),
        ("silhouette_period", "silhouette by period"),
        ("silhouette_group_paired", "silhouette by group, paired elements"),
        ("centroid_ratio", "centroid ratio same/other group"),
        ("nearest_partner_hits", "nearest other centroid is the group partner (of 6)"),
    ],
}


def latent(name: str, csv: str, differences: tuple = ()):
    """Stage 4: mean (t-interval) over seeds per variant and metric (`latent.py`'s `csv`),
    with the paired differences orbital − each of `differences`."""

    def render() -> list[str]:
        by = {(r["variant"], r["metric"]): r for r in read_rows(HERE / "results" / csv)}
        rows = []
        for metric, label in LATENT_LABELS[name]:
            cells = []
            for v in LATENT_VARIANTS:
                r = by[(v, metric)]
                if metric == "nearest_partner_hits":
                    cells.append(digits(r["mean"], 1, pad=True))
                else:
                    low, high = (_signed(r[k], 2) for k in ("ci_low", "ci_high"))
                    cells.append(f"{_signed(r['mean'], 2)} ({low}–{high})")
            for v in differences:
                r = by[(v, metric)]
                if metric == "nearest_partner_hits":
                    cells.append("")
                    continue
                diff = _signed(r["orbital_minus_this"], 2, sign=True)
                low, high = (_signed(r[k], 2, sign=True) for k in ("diff_ci_low", "diff_ci_high"))
                cells.append(f"{diff} ({low} to {high})")
            rows.append([label, *cells])
        columns = ["orbital", "energy-only", "shuffled", "untrained"]
        columns += [
            {"energy_only": "orbital − energy-only"}.get(v, "orbital − shuffled")
            for v in differences
        ]
        first = (
            "metric (higher = more chemical clustering, except the ratio)"
            if not differences
            else "metric"
        )
        return md_rows([first, *columns], rows)

    return render


def charges_by_element() -> list[str]:
    """Stage 1: max |q| per structure, mean over structures, per element and kind of cell
    (`gfn1_summary.csv`, default electronic temperature)."""
    by = {
        (r["element"], r["kind"]): r["max_abs_q_structure_mean"]
        for r in read_rows(HERE / "results" / "gfn1_summary.csv")
        if r["system"] == "all" and r["setting"] == "default"
    }
    kinds = ("aimd", "vacancy", "surface")
    rows = [
        [element, *(f"{float(by[(element, k)]):.3f}" if (element, k) in by else "" for k in kinds)]
        for element in ("Li", "Mo", "Nb", "Ta", "W", "Si", "Ge", "Cu", "Ni")
    ]
    return md_rows(["element", "AIMD", "vacancy", "surface"], rows)


def mo_orbitals() -> list[str]:
    """Stage 1: mean population per Mo orbital by kind of structure (`gfn1_mo_orbitals.csv`,
    default electronic temperature); the p spread only for the elemental cells."""
    by = {
        (r["system"], r["kind"]): r
        for r in read_rows(HERE / "results" / "gfn1_mo_orbitals.csv")
        if r["setting"] == "default"
    }

    def atoms(r, fmt):
        return fmt.format(lo=r["n_atoms_min"], hi=r["n_atoms_max"])

    cells = [
        (("Mo", "aimd"), "bulk AIMD ({lo} atoms)", True),
        (("Mo", "vacancy"), "vacancy ({lo})", True),
        (("Mo", "surface"), "surfaces ({lo}–{hi})", True),
        (("Mo", "grain_boundary"), "grain boundaries ({lo})", True),
        (("MoNb", "alloy_ss"), "MoNb", False),
        (("MoTa", "alloy_ss"), "MoTa", False),
        (("MoW", "alloy_ss"), "MoW", False),
        (("MoNi", "alloy_ordered"), "Ni–Mo (ordered)", False),
    ]
    rows = []
    for key, label, elemental in cells:
        r = by[key]
        values = [r["t2g_mean"], r["eg_mean"], *((r["Mo_s"], r["p_spread"]) if elemental else ())]
        rows.append(
            [atoms(r, label), *(f"{float(v):.3f}" for v in values), *[""] * (2 - 2 * elemental)]
        )
    return md_rows(["structures", "t2g", "eg", "s", "p spread (max − min of p_y, p_z, p_x)"], rows)


def _q(value: float) -> str:
    return f"{value:+.3f}".replace("-", "−")


# (label, system in the CSV, first element, second element, ± on the charges, ± on max |q|)
ALLOYS = [
    ("MoTa (16 atoms)", "MoTa", "Mo", "Ta", True, True),
    ("TaW (16 atoms)", "TaW", "Ta", "W", False, False),
    ("NbMo (16 atoms)", "MoNb", "Nb", "Mo", False, False),
    ("Ni3Mo/Ni4Mo (144/120 atoms)", "MoNi", "Mo", "Ni", True, False),
    ("MoW (16 atoms)", "MoW", "Mo", "W", False, False),
    ("NbTa (16 atoms)", "NbTa", "Nb", "Ta", False, False),
    ("NbW (16 atoms)", "NbW", "Nb", "W", False, False),
]


def alloy_charges() -> list[str]:
    """Stage 1: the mean charge of each element of a binary alloy and max |q| per structure,
    mean (± std) over its structures (`gfn1_summary.csv`, default electronic temperature)."""
    by = {
        (r["element"], r["system"]): r
        for r in read_rows(HERE / "results" / "gfn1_summary.csv")
        if r["setting"] == "default" and r["system"] != "all"
    }
    rows = []
    for label, system, first, second, q_std, max_std in ALLOYS:
        cells = []
        for element in (first, second):
            r = by[(element, system)]
            cell = f"{element} {_q(float(r['q_mean_mean']))}"
            cells.append(cell + (f" ± {float(r['q_mean_std']):.3f}" if q_std else ""))
        r = by[(first, system)]
        biggest = f"{float(r['max_abs_q_structure_mean']):.3f}"
        if max_std:
            biggest += f" ± {float(r['max_abs_q_structure_std']):.3f}"
        rows.append([label, *cells, biggest])
    return md_rows(["system", "first element", "second element", "max \\|q\\| per structure"], rows)


def temperature_effect() -> list[str]:
    """Stage 1: what 3000 K instead of the default electronic temperature changes, over every
    structure (`gfn1_temperature_effect.csv`); the alloy row from the solid-solution alloys."""
    by = {r["kind"]: r for r in read_rows(HERE / "results" / "gfn1_temperature_effect.csv")}
    a, alloys = by["all"], by["alloy_ss"]

    def pm(r, key, fmt):
        return f"{fmt.format(float(r[key + '_mean']))} ± {fmt.format(float(r[key + '_std']))}"

    n = int(a["n_structures"])
    low, high = float(a["d_max_abs_q_min"]), float(a["d_max_abs_q_max"])
    rows = [
        [
            "energy per atom",
            f"{pm(a, 'dE_per_atom_meV', '{:.0f}')} meV (tblite's energy includes the −TS term "
            "of the smeared occupations)",
        ],
        [
            "max \\|q\\| per structure",
            f"{pm(a, 'd_max_abs_q', '{:.3f}')} e (range {_q(low)} … {_q(high)})",
        ],
        ["mean \\|q\\|", f"{pm(a, 'd_mean_abs_q', '{:.3f}')} e"],
        ["max \\|q\\| in the binary alloys", f"{pm(alloys, 'd_max_abs_q', '{:.3f}')} e"],
        [
            "SCF iterations",
            f"{float(a['iterations_default_mean']):.1f} → {float(a['iterations_hot_mean']):.1f}",
        ],
        ["damped retries", f"{a['n_retry_default']} → {a['n_retry_hot']}"],
        [
            "CPU time",
            f"{n * float(a['cpu_s_default_mean']):.1f} → {n * float(a['cpu_s_hot_mean']):.1f} s",
        ],
    ]
    rows = [[k, v.replace("-", "−")] for k, v in rows]
    return md_rows(["quantity", "change at 3000 K (mean ± std)"], rows)


CELL_METALS = ("Li", "Mo", "Nb", "Ta", "W")


def _shells(values: list[float]) -> list[str]:
    """s, p, d populations to 3 decimals (no −0.000); d left empty where it is 0 (Li)."""
    s, p, d = (0.0 if abs(v) < 5e-4 else v for v in values)
    return [f"{s:.3f}", f"{p:.3f}", f"{d:.3f}" if d else ""]


def two_atom_cells() -> list[str]:
    """Stage 1: shell populations of the 2-atom bcc cells at Γ, mean over the sample's cells
    of each metal (`gfn1_check.csv`); metals with the same populations share a row."""
    cells = {e: [] for e in CELL_METALS}
    for r in read_rows(HERE / "results" / "gfn1_check.csv"):
        if r["n_atoms"] == "2" and r["setting"] == "default" and r["system"] in cells:
            e = r["system"]
            cells[e].append([float(r[f"{shell}_{e}"] or 0) for shell in "spd"])
    groups: dict[tuple, list[str]] = {}
    for e, values in cells.items():
        mean = [sum(v[k] for v in values) / len(values) for k in range(3)]
        groups.setdefault(tuple(_shells(mean)), []).append(e)
    return md_rows(["metal", "s", "p", "d"], [[", ".join(m), *c] for c, m in groups.items()])


def supercell_shells() -> list[str]:
    """Stage 1: the same 2-atom frames repeated 3×3×3 (`gfn1_supercells.csv`)."""
    rows = []
    for r in read_rows(HERE / "results" / "gfn1_supercells.csv"):
        e = r["system"]
        if r["repeat"] == "3x3x3" and r["setting"] == "default" and e in CELL_METALS:
            rows.append([e, *_shells([float(r[f"{shell}_{e}"] or 0) for shell in "spd"])])
    return md_rows(["metal", "s", "p", "d"], rows)


RENDERERS = {
    "scores-decisive": include("scores_decisive_tables.md"),
    "decisive-overall": decisive_overall,
    "long-runs": long_runs,
    "npt": npt,
    "charges-by-element": charges_by_element,
    "mo-orbitals": mo_orbitals,
    "alloy-charges": alloy_charges,
    "temperature-effect": temperature_effect,
    "two-atom-cells": two_atom_cells,
    "supercell-shells": supercell_shells,
    "latent": latent("latent", "latent_summary.csv"),
    "latent-long": latent(
        "latent-long", "latent_summary_long.csv", ("energy_only", "orbital_shuffled")
    ),
}


def main(argv=None) -> int:
    return results_main(RESULTS_MD, RENDERERS, argv)


if __name__ == "__main__":
    sys.exit(main())
