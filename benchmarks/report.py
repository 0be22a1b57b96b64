"""RESULTS.md and results.csv from a benchmark run's results.json, one small function per section.

    python -m benchmarks.report [benchmarks/results.json] [--out benchmarks]

`run_all.py` calls `write_report` after measuring; this command re-renders a kept run (and
section 5 from `time_to_accuracy.csv`) without measuring. What the two sides compute, what
was changed in orbjax for speed and the remaining gaps are prose, in `README.md`.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SECTIONS = {
    "train": "1 (training step)",
    "md": "2 (MD step)",
    "compilation": "3 (compilation)",
    "labelling": "4 (labelling)",
}


def _f(x, digits=3):
    return "–" if x is None else f"{x:.{digits}g}"


def _num(x: str):
    return float(x) if x not in ("", None) else None


# ----------------------------------------------------------------------------- numbers


def _paired_ratio(num: list[float], den: list[float]) -> float:
    """Median over rounds of num/den (the passes of one round ran back to back)."""
    return float(np.median(np.asarray(num) / np.asarray(den)))


def train_ratios(train: dict) -> dict:
    """MACE time / orbjax time per (mace, orbjax, wall|cpu), and each orbital head's extra cost."""
    impls, ratios = train["impls"], {}
    for orb in [k for k in impls if k.startswith("orbjax")]:
        for m in [k for k in impls if k.startswith("mace")]:
            for kind in ("wall", "cpu"):
                ratios[("train", m, orb, kind)] = _paired_ratio(
                    impls[m][f"pass_{kind}_s"], impls[orb][f"pass_{kind}_s"]
                )
    for variant, suffix in (
        ("orbjax_orbital_head", ""),
        ("orbjax_orbital_last_layer", "_last_layer"),
    ):
        if "orbjax_energy_only" in impls and variant in impls:
            for kind in ("wall", "cpu"):
                ratios[("head_cost" + suffix, kind)] = (
                    _paired_ratio(
                        impls[variant][f"pass_{kind}_s"],
                        impls["orbjax_energy_only"][f"pass_{kind}_s"],
                    )
                    - 1
                )
    return ratios


def md_ratios(md: dict) -> dict:
    """Time relative to orbjax's ASE path per (implementation, atoms), and the marginal memory
    per atom between successive sizes."""
    ratios = {}
    for m in [k for k in md if k != "orbjax"]:
        for n_atoms, e in md[m].items():
            o = md.get("orbjax", {}).get(n_atoms)
            if not (e.get("skipped") or not o or o.get("skipped")):
                ratios[("md", m, int(n_atoms))] = _paired_ratio(
                    e["per_round_median_s"], o["per_round_median_s"]
                )
    for name, sizes in md.items():
        pts = sorted((int(n), e["peak_rss_mb"]) for n, e in sizes.items() if not e.get("skipped"))
        for (n0, m0), (n1, m1) in zip(pts, pts[1:]):
            ratios[("md_mem_slope", name, n1)] = (m1 - m0) / (n1 - n0)
    return ratios


def csv_rows(results: dict, ratios: dict) -> list[tuple]:
    """results.csv: (section, name, metric, value, unit) for every measured number and ratio."""
    rows = []
    train = results.get("train")
    if train:
        for name, r in train["impls"].items():
            rows += [
                ("train", name, "structures_per_s", r["structures_per_s"], "1/s"),
                ("train", name, "atoms_per_s", r["atoms_per_s"], "1/s"),
                ("train", name, "structures_per_cpu_s", r["structures_per_cpu_s"], "1/s"),
                ("train", name, "median_step_wall_s", r["median_step_wall_s"], "s"),
                ("train", name, "n_params", r["setup"]["n_params"], ""),
                ("train", name, "compile_or_warmup_s", sum(r["setup"]["compile_s"].values()), "s"),
            ]
        for key, v in ratios.items():
            if key[0] == "train":
                rows.append(("train_ratio", f"{key[1]}/{key[2]}", f"speedup_{key[3]}", v, "x"))
        for key, v in ratios.items():
            if key[0].startswith("head_cost"):
                rows.append(("train_ratio", "orbital_" + key[0], f"extra_{key[1]}", 100 * v, "%"))
    md = results.get("md", {})
    for name, sizes in md.items():
        for n_atoms, e in sizes.items():
            if e.get("skipped"):
                rows.append(("md", name, f"skipped_{n_atoms}", 1, ""))
                continue
            for metric, unit in (
                ("median_step_s", "s"),
                ("median_cpu_s", "s"),
                ("us_per_atom", "us"),
                ("peak_rss_mb", "MiB"),
                ("neighbour_list_s", "s"),
                ("model_s", "s"),
            ):
                if metric in e:
                    rows.append(("md", f"{name}@{n_atoms}", metric, e[metric], unit))
    rows += [
        ("md_ratio", f"{k[1]}/orbjax@{k[2]}", "time_ratio_wall", v, "x")
        for k, v in ratios.items()
        if k[0] == "md"
    ]
    rows += [
        ("md_memory", f"{k[1]}@{n0}-{k[2]}", "marginal_MiB_per_atom", v, "MiB")
        for k, v in ratios.items()
        if k[0] == "md_mem_slope"
        for n0 in [_previous_size(md[k[1]], k[2])]
    ]
    comp = results.get("compilation")
    if comp:
        for b, e in comp["per_bucket"].items():
            rows += [
                ("compile", b, "compiles", e["compiles"], ""),
                ("compile", b, "compile_s", e["compile_s"], "s"),
                ("compile", b, "steady_step_s", e["steady_step_s"], "s"),
            ]
        rows += [
            (
                "compile",
                "epochs>0",
                "new_compilations",
                sum(x["new_compilations"] for x in comp["epochs"][1:]),
                "",
            ),
            ("compile", "padding", "node_ratio", comp["padding"]["node_ratio"], "padded/real"),
            ("compile", "padding", "edge_ratio", comp["padding"]["edge_ratio"], "padded/real"),
        ]
    for r in results.get("labelling", []):
        rows.append(
            (
                "labelling",
                r["mode"],
                "structures_per_s_per_core",
                float(r["structures_per_s_per_core"]),
                "1/s",
            )
        )
        if r.get("overhead_vs_plain_pct"):
            rows.append(
                (
                    "labelling",
                    r["mode"],
                    "overhead_vs_plain",
                    float(r["overhead_vs_plain_pct"]),
                    "%",
                )
            )
    return rows


def _previous_size(sizes: dict, n_atoms: int) -> int:
    """The measured size just below `n_atoms` (the start of a marginal-memory interval)."""
    return max(int(n) for n, e in sizes.items() if not e.get("skipped") and int(n) < n_atoms)


def summarise(results: dict) -> tuple[list[tuple], dict]:
    """CSV rows and the ratios the tables and targets use."""
    ratios = {
        **(train_ratios(results["train"]) if results.get("train") else {}),
        **md_ratios(results.get("md", {})),
    }
    return csv_rows(results, ratios), ratios


# ----------------------------------------------------------------------------- sections


def header(res: dict) -> list[str]:
    m = res["machine"]
    return [
        "# orbjax performance vs mace-torch",
        "",
        "Generated by `python -m benchmarks.report` from `results.json` (the raw data of the "
        "run, measured by "
        "`python -m benchmarks.run_all`); flat table: `results.csv`. What each side computes, "
        "what was "
        "changed in orbjax for speed and the remaining gaps: `README.md`.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}; run "
        f"{m['date']}, "
        f"{res.get('wall_s', 0) / 60:.0f} min. Load average (1 min) "
        f"{res['load_avg_start'][0]:.1f} at the start, "
        f"{res['load_avg_end'][0]:.1f} at the end: the machine is shared with other jobs, so "
        "absolute times "
        "are noisy; the ratios are measured side by side (alternating passes) in this run. "
        f"Every worker uses {res['threads']} thread(s); every worker's environment has "
        f'`GLIBC_TUNABLES={m.get("GLIBC_TUNABLES", "")}` (see README.md, "Allocator").',
        "",
    ]


def run_notes(res: dict) -> list[str]:
    """Notes kept with the run, then one line per section measured later than the rest."""
    lines = [note + "\n" for note in res.get("notes", [])]
    for sec, r in res.get("section_runs", {}).items():
        md_args = (
            (
                f" `--md-sizes {','.join(map(str, r['args']['md_sizes']))} --md-rounds "
                f"{r['args']['md_rounds']} "
                f"--md-steps {r['args']['md_steps']} --md-budget-s {r['args']['md_budget_s']:g}`"
            )
            if sec == "md"
            else ""
        )
        lines.append(
            f"Section {SECTIONS[sec]} was re-measured at {r['date']} (commit "
            f"{r['commit'] or '?'}, load "
            f"{r['load_avg'][0]:.1f}–{r['load_avg'][1]:.1f}, {r['wall_s'] / 60:.0f} min) with "
            f"`run_all.py --update --only {sec}`{md_args}.\n"
        )
    return lines


def environments(res: dict) -> list[str]:
    versions = {
        name.split("_")[0]: r["setup"].get("versions", {})
        for name, r in res.get("train", {}).get("impls", {}).items()
    }
    return [
        f"- {impl} environment: " + ", ".join(f"{k} {x}" for k, x in v.items())
        for impl, v in versions.items()
    ] + [""]


def targets(res: dict, ratios: dict) -> list[str]:
    lines = ["## Targets", "", "| target | measured | met |", "|---|---|---|"]

    def row(name, value, ok):
        lines.append(f"| {name} | {value} | {'yes' if ok else 'no'} |")

    def with_cpu(mace, orb):
        return (
            f"{ratios[('train', mace, orb, 'wall')]:.2f}× (CPU "
            f"{ratios[('train', mace, orb, 'cpu')]:.2f}×)"
        )

    for orb in ("orbjax_energy_only", "orbjax_orbital_head"):
        for mname in ("mace_correlation3", "mace_correlation1"):
            v = ratios.get(("train", mname, orb, "wall"))
            if v is not None:
                row(f"train step ≥1.5× faster: {orb} vs {mname}", f"{v:.2f}×", v >= 1.5)
    # matched work: orbjax computing every last-layer message (and its orbital head besides)
    # against MACE at orbjax's body order
    v = ratios.get(("train", "mace_correlation1", "orbjax_orbital_last_layer", "wall"))
    if v is not None:
        row(
            "matched work, train step: orbjax with full last-layer messages (+ orbital head) "
            "vs mace_correlation1",
            with_cpu("mace_correlation1", "orbjax_orbital_last_layer"),
            v >= 1.0,
        )
    v = ratios.get(("train", "mace_correlation3", "orbjax_energy_only_glibc_malloc", "wall"))
    if v is not None:
        row(
            "same allocator as MACE (glibc defaults), train step: orbjax_energy_only vs "
            "mace_correlation3",
            with_cpu("mace_correlation3", "orbjax_energy_only_glibc_malloc"),
            v >= 1.5,
        )
    md = [(k[1], k[2], v) for k, v in ratios.items() if k[0] == "md"]
    for mname in sorted({k[0] for k in md}):
        vals = sorted((n, v) for k, n, v in md if k == mname)
        listed = ", ".join(f"{v:.2f}× @{n}" for n, v in vals)
        if mname.startswith("mace"):
            row(f"MD step ≥1.5× faster than {mname}", listed, all(v >= 1.5 for n, v in vals))
        elif mname == "orbjax_jit":
            row(
                "jitted MD loop at least as fast as the ASE path (time ratio ≤ 1) at every size",
                listed,
                all(v <= 1.0 for n, v in vals),
            )
        else:
            row(f"{mname} time / orbjax time (information)", listed, True)
    for name in ("orbjax", "orbjax_jit"):
        slopes = sorted(
            (k[2], v)
            for k, v in ratios.items()
            if k[0] == "md_mem_slope" and k[1] == name and k[2] > 2000
        )
        if len(slopes) >= 2:
            vals = [v for _, v in slopes]
            row(
                f"{name} peak memory linear in atoms (marginal MiB per atom between "
                "successive sizes above "
                "1,000 atoms: max/min ≤ 1.5)",
                ", ".join(f"{v:.2f} up to {n}" for n, v in slopes),
                max(vals) <= 1.5 * min(vals),
            )
    for suffix, name in (
        ("", "orbital head adds ≤10% to the train step (default: head reads the previous layer)"),
        ("_last_layer", "orbital head adds ≤10% (option orbital_features='last_layer')"),
    ):
        if ("head_cost" + suffix, "wall") in ratios:
            v = ratios[("head_cost" + suffix, "wall")]
            row(
                name,
                f"+{100 * v:.0f}% (CPU +{100 * ratios[('head_cost' + suffix, 'cpu')]:.0f}%)",
                v <= 0.10,
            )
    row(
        "orbital head adds nothing to inference",
        "the potential calls the model without heads: the same "
        "compiled function for both configs (tests/model: identical energies/forces)",
        True,
    )
    orb = res.get("md", {}).get("orbjax", {})
    per_atom = {
        int(n): e["us_per_atom"] for n, e in orb.items() if not e.get("skipped") and int(n) >= 1000
    }
    if len(per_atom) >= 2:
        ref = per_atom[min(per_atom)]
        spread = max(abs(v / ref - 1) for v in per_atom.values())
        row(
            f"MD time per atom flat (±20%) from 1,000 to {max(per_atom):,} atoms",
            ", ".join(f"{v:.0f} µs @{n}" for n, v in sorted(per_atom.items()))
            + f" (max {100 * spread:.0f}% off)",
            spread <= 0.2 and max(per_atom) >= 9000,
        )
    return lines + [""]


def train_section(train: dict, ratios: dict) -> list[str]:
    lines = [
        "## 1. Training step",
        "",
        f"{train['n_batches']} batches of {train['batch_size']} structures = one epoch of the "
        "CHNO set "
        f"({train['n_structures']} structures, {train['n_atoms']} atoms, 3–21 atoms each), "
        "identical batches "
        f"for every implementation; orbjax pads to its buckets {', '.join(train['budgets'])}. "
        "One step = transfer, forward, forces by autograd, energy+force(+orbital) loss, "
        "backward, gradient "
        "clipping, Adam, EMA, synchronised. Medians over passes; compilation / warm-up "
        "excluded and listed "
        "separately.",
        "",
        "| implementation | parameters | structures/s | atoms/s | structures/CPU-s | median "
        "step (ms) | compile / warm-up (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in train["impls"].items():
        lines.append(
            f"| {name} | {r['setup']['n_params']} | {r['structures_per_s']:.1f} | "
            f"{r['atoms_per_s']:.0f} | "
            f"{r['structures_per_cpu_s']:.1f} | {1e3 * r['median_step_wall_s']:.1f} | "
            + ", ".join(f"{k}: {v:.1f}" for k, v in r["setup"]["compile_s"].items())
            + " |"
        )
    lines += [
        "",
        "Speed-up of orbjax (MACE time / orbjax time, median of per-round ratios; wall and "
        "CPU time):",
        "",
        "| | vs mace correlation 3 | vs mace correlation 1 |",
        "|---|---|---|",
    ]
    for orb in [k for k in train["impls"] if k.startswith("orbjax")]:
        cells = [
            f"{_f(ratios.get(('train', m, orb, 'wall')))}× wall, "
            f"{_f(ratios.get(('train', m, orb, 'cpu')))}× CPU"
            for m in ("mace_correlation3", "mace_correlation1")
        ]
        lines.append(f"| {orb} | " + " | ".join(cells) + " |")
    for suffix, what in (
        ("", "reading the previous layer's features (default)"),
        ("_last_layer", "reading the last layer's full features"),
    ):
        if ("head_cost" + suffix, "wall") in ratios:
            lines += [
                "",
                f"Orbital head cost, {what}: "
                f"+{100 * ratios[('head_cost' + suffix, 'wall')]:.0f}% wall, "
                f"+{100 * ratios[('head_cost' + suffix, 'cpu')]:.0f}% CPU per train step "
                "(vs energy-only, paired).",
            ]
    return lines + [""]


def _size_entry(sizes: dict, n_atoms: int) -> dict:
    """A size's entry (results.json keys are strings, a fresh run's ints)."""
    return sizes.get(str(n_atoms)) or sizes.get(n_atoms) or {}


def md_section(md: dict, ratios: dict) -> list[str]:
    names = list(md)
    others = [n for n in names if n != "orbjax"]
    lines = [
        "## 2. MD step (energy + forces + stress, ASE calculators, periodic water at 1 g/cm³)",
        "",
        "Each step displaces every atom by ≤ 0.01 Å and calls `atoms.get_forces()`; both "
        "calculators "
        "build their neighbour list every step and compute the stress of the periodic cell. "
        "One fresh "
        "process per implementation and size (peak RSS is that size's). orbjax's step is also "
        "timed in "
        "its two halves: neighbour list + padding (numpy/vesin) and the jitted model.",
        "",
        "| atoms | "
        + " | ".join(f"{n} step (s) | µs/atom | RSS (MiB)" for n in names)
        + " | orbjax NL (s) | orbjax model (s) | "
        + " | ".join(f"{n} / orbjax time" for n in others)
        + " |",
        "|---" * (1 + 3 * len(names) + 2 + len(others)) + "|",
    ]
    for n_atoms in sorted({int(k) for v in md.values() for k in v}):
        cells = [str(n_atoms)]
        for n in names:
            e = _size_entry(md[n], n_atoms)
            cells += (
                ["skipped", "", ""]
                if not e or e.get("skipped")
                else [
                    f"{e['median_step_s']:.3g}",
                    f"{e['us_per_atom']:.0f}",
                    f"{e['peak_rss_mb']:.0f}",
                ]
            )
        o = _size_entry(md.get("orbjax", {}), n_atoms)
        cells += [_f(o.get("neighbour_list_s")), _f(o.get("model_s"))]
        cells += [_f(ratios.get(("md", n, n_atoms))) + "×" for n in others]
        lines.append("| " + " | ".join(cells) + " |")
    counts = "; ".join(
        f"{n} "
        + ", ".join(
            f"{len(e['step_s'])} @{k}"
            for k, e in sorted(md[n].items(), key=lambda kv: int(kv[0]))
            if e and not e.get("skipped")
        )
        for n in names
    )
    return lines + [
        "",
        "Timed steps behind each median (all rounds; fewer where the time budget ran out; the "
        f"jitted loop's steps are its chunks' steps): {counts}.",
        "",
    ]


def compilation_section(comp: dict) -> list[str]:
    lines = [
        "## 3. Compilation and padding (default config, full epochs of CHNO)",
        "",
        f"Batch size {comp['batch_size']}, {comp['n_buckets']} buckets (default), "
        f"{comp['n_structures']} "
        f"structures; {len(comp['epochs'])} epochs (different shuffles).",
        "",
        "| bucket | compiles | compile time (s) | steady step (ms) | steps |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {b} | {e['compiles']} | {e['compile_s']:.1f} | {1e3 * e['steady_step_s']:.0f} | "
        f"{e['steps']} |"
        for b, e in comp["per_bucket"].items()
    ]
    lines += ["", "| epoch | batches | new compilations | seconds |", "|---|---|---|---|"]
    lines += [
        f"| {e['epoch']} | {e['batches']} | {e['new_compilations']} | {e['seconds']:.1f} |"
        for e in comp["epochs"]
    ]
    p = comp["padding"]
    return lines + [
        "",
        f"Padding waste over an epoch: padded/real atoms {p['node_ratio']:.2f}, padded/real edges "
        f"{p['edge_ratio']:.2f}, {p['n_batches']} batches in {p['n_shapes']} shapes.",
        "",
    ]


def labelling_section(lab: list[dict]) -> list[str]:
    lines = [
        "## 4. Labelling (GFN1-xTB with tblite; from `benchmarks/labelling.csv`)",
        "",
        "| mode | workers | structures/s | per core | overhead vs plain (%) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['mode']} | {r['workers']} | {float(r['structures_per_s']):.1f} | "
        f"{float(r['structures_per_s_per_core']):.1f} | {r.get('overhead_vs_plain_pct') or ''} |"
        for r in lab
    ]
    return lines + [""]


def time_to_accuracy_section(path: Path) -> list[str]:
    """Section 5 from `time_to_accuracy.csv` (written by `benchmarks/time_to_accuracy.py`)."""
    rows = list(csv.DictReader(open(path, newline=""))) if path.exists() else []
    if not rows:
        return []
    force_cols = [k for k in rows[0] if k.startswith("cpu_s_to_forces_")]
    energy_cols = [k for k in rows[0] if k.startswith("cpu_s_to_energy_")]

    def hours(x):
        return f"{float(x) / 3600:.2f}" if x else "not reached"

    lines = [
        "## 5. Time to accuracy (acetylacetone, 400 training frames, one pinned core each)",
        "",
        "From `time_to_accuracy.csv` (`benchmarks/time_to_accuracy.py`; one seed per run): "
        "validation "
        "(50 frames of train_300K) error against the CPU-hours of the training process, setup and "
        "validation included. orbjax runs with a planned step budget (its learning rate "
        "decays over "
        "it), so each budget is its own row; mace-torch's plateau scheduler needs none. Test "
        "errors are "
        "those of the model each run selected by validation (test: 50 frames of train_300K; "
        "test600: "
        "train_600K): orbjax selects by validation energy + forces with its training weights, "
        "mace-torch by its "
        "validation loss (for `mace_defaults`, the CLI's defaults: energy weight 1, forces "
        "100, no EMA, no SWA, "
        "so the selected epoch can carry an energy offset that the best-energy epoch does "
        "not). Curves: "
        "`time_to_accuracy.png`, `time_to_accuracy_curves.csv`. mace-torch at orbjax's size "
        "keeps MACE's "
        "correlation 3 (4-body messages per layer; orbjax's are 2-body).",
        "",
        "| model | run | CPU-h | best val E (meV/atom) | best val F (meV/Å) | test E / F | "
        "test600 E / F |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['run']} | {hours(r['total_cpu_s'])} | "
            f"{float(r['best_val_energy_mae']):.3g} | "
            f"{float(r['best_val_forces_mae']):.3g} | {_f(_num(r['test_energy_mae']))} / "
            f"{_f(_num(r['test_forces_mae']))} | {_f(_num(r['test600_energy_mae']))} / "
            f"{_f(_num(r['test600_forces_mae']))} |"
        )
    lines += [
        "",
        "CPU-hours until the validation error first reaches each level:",
        "",
        "| model | run | "
        + " | ".join(f"F ≤ {c.rsplit('_', 1)[1]} meV/Å" for c in force_cols)
        + " | "
        + " | ".join(f"E ≤ {c.rsplit('_', 1)[1]} meV/atom" for c in energy_cols)
        + " |",
        "|---|---|" + "---|" * (len(force_cols) + len(energy_cols)),
    ]
    lines += [
        f"| {r['model']} | {r['run']} | "
        + " | ".join(hours(r[c]) for c in force_cols + energy_cols)
        + " |"
        for r in rows
    ]
    return lines + [""]


def markdown(
    res: dict, ratios: dict, time_to_accuracy: Path = HERE / "time_to_accuracy.csv"
) -> str:
    lines = [*header(res), *run_notes(res), *environments(res), *targets(res, ratios)]
    if res.get("train"):
        lines += train_section(res["train"], ratios)
    if res.get("md"):
        lines += md_section(res["md"], ratios)
    if res.get("compilation"):
        lines += compilation_section(res["compilation"])
    if res.get("labelling"):
        lines += labelling_section(res["labelling"])
    lines += time_to_accuracy_section(time_to_accuracy)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_report(results: dict, out: Path) -> None:
    rows, ratios = summarise(results)
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["section", "name", "metric", "value", "unit"])
        for row in rows:
            w.writerow([*row[:3], f"{float(row[3]):.6g}", row[4]])
    (out / "RESULTS.md").write_text(markdown(results, ratios))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path, nargs="?", default=HERE / "results.json")
    p.add_argument("--out", type=Path, default=HERE)
    args = p.parse_args()
    write_report(json.loads(args.results.read_text()), args.out)
    print(args.out / "RESULTS.md")


if __name__ == "__main__":
    main()
