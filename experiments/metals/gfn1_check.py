"""GFN1-xTB on the PBE metals, checked before anything is trained on it (stage 1).

    OMP_NUM_THREADS=1 python -m experiments.metals.gfn1_check [--temperatures default 3000]
                                                              [--data DIR] [--out DIR]

For a fixed, documented selection of small cells of the metals set (`data/public/metals`,
placed by `python -m experiments.data.fetch`; `select`) and
for each electronic temperature, runs GFN1-xTB through orbjax's labelling code
(`orbjax.labels.xtb.run_xtb` + `orbital_labels`, i.e. what `label_structure` does, with
its default SCF retries) and appends one row per (structure, temperature) to
`results/gfn1_check.csv`: SCF converged or not, attempts (1 = converged with tblite's
default mixer; 2–3 = needed a damped retry), SCF iterations of the successful attempt
(parsed from tblite's printout), wall and CPU seconds, GFN1 energy, atomic charges (max,
mean |q|, spread max − min, per element), per-element mean s/p/d shell populations and
per-orbital populations of the Mo atoms.

Resumable: rows already in the CSV are skipped, so a killed run restarts where it stopped.
A failed SCF (or any tblite error) is a row with ``converged=False`` and the reason, not a
crash. At the end (and after every run) it rewrites from the whole CSV:
`results/gfn1_summary.csv` (mean ± std per element × structure kind × temperature, per
element over all kinds, and per element inside each alloy system), `results/gfn1_throughput.csv`
(seconds per structure and atoms/s by cell size, and a power-law fit of CPU seconds against
n_atoms), `results/gfn1_temperature_effect.csv` (per kind: higher minus default temperature,
energy per atom, max and mean |q|, SCF iterations and retries) and `results/gfn1_cellsize.csv`
(elemental bulk/AIMD cells by size: GFN1 − PBE energy per atom, a check of tblite's Γ-point-only
treatment of small cells) and `results/gfn1_mo_orbitals.csv` (per-orbital populations of Mo by
system × kind × temperature).

"default" is tblite's default electronic temperature, 300 K
(``electronic_temperature=None``); numbers are kelvin.

Selection (`select`): every file, every config_type, only cells of ≤ 64 atoms, evenly
spaced frames in file order (`np.linspace(0, n - 1, k)` over the group's small frames):
  - Surface: every frame ≤ 64 atoms (all surfaces of every element but the 66/84/96/102-atom ones);
  - Elastic ≤ 64 atoms (2-atom bcc Li/Mo/Nb/Ta/W, 54-atom Mo, 64-atom Si/Ge): 3 per group;
  - AIMD (NVT, NPT) and Vacancy: 2 per group; maml AIMD (Md, Md_90, Md_110 per element): 1
    per group, i.e. 3 per element;
  - GrainBoundary ≤ 64 atoms (two 48-atom Mo boundaries): all;
  - binary Mo/Nb/Ta/W solid solutions (16 atoms): 2 per pair × {relax, unrelax} = 24.
  Cu, Ni and Ni–Mo have no bulk cell of ≤ 64 atoms; to cover them, 1 frame (the first) of
  each such group is taken anyway: Cu/Ni Elastic (108 atoms), Ni3Mo (144) and Ni4Mo (120)
  elastic cells. Cu AIMD (108) and Cu/Ni Vacancy (107) are left out (CPU budget).
Structures are run smallest first, so an interrupted run has covered every kind.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from experiments.common.paths import METALS, METALS_FILES
from experiments.common.tables import read_rows, write_csv
from orbjax.data.structures import Structure, StructureError
from orbjax.labels.xtb import orbital_labels, run_xtb
from orbjax.orbitals import GFN1_SHELLS
from orbjax.units import HARTREE

ELEMENTS = ["Li", "Cu", "Ni", "Mo", "Nb", "Ta", "W", "Si", "Ge"]
Z = {"Li": 3, "Cu": 29, "Ni": 28, "Mo": 42, "Nb": 41, "Ta": 73, "W": 74, "Si": 14, "Ge": 32}
FOCUS = "Mo"  # element whose per-orbital populations are written out
ORBITAL_NAMES = {0: ["s"], 1: ["p_y", "p_z", "p_x"], 2: ["d_xy", "d_yz", "d_z2", "d_xz", "d_x2-y2"]}
MAX_ATOMS = 64
FILES = METALS_FILES
LARGE_EXCEPTIONS = {  # (file, config_type): groups with no cell ≤ MAX_ATOMS, one frame each
    ("mlearn_Cu_train.extxyz", "Elastic"),
    ("mlearn_Ni_train_noAIMD.extxyz", "Elastic"),
    ("snap_NiMo_elastic.extxyz", "Ni3Mo_Elastic"),
    ("snap_NiMo_elastic.extxyz", "Ni4Mo_Elastic"),
}
ROW_FIELDS = [
    "key",
    "file",
    "index",
    "system",
    "formula",
    "config_type",
    "kind",
    "n_atoms",
    "perfect_lattice",
    "setting",
    "temperature_K",
    "converged",
    "attempts",
    "iterations",
    "error",
    "wall_s",
    "cpu_s",
    "energy_eV",
    "energy_per_atom_eV",
    "pbe_energy_per_atom_eV",
    "max_abs_q",
    "mean_abs_q",
    "q_spread",
    "sum_q",
    *[f"{k}_{el}" for el in ELEMENTS for k in ("q_mean", "q_absmean", "s", "p", "d")],
    *[f"{FOCUS}_{o}" for o in ORBITAL_NAMES[2] + ORBITAL_NAMES[0] + ORBITAL_NAMES[1]],
]


# ----------------------------------------------------------------------------- selection
def kind_of(file: str, config_type: str) -> str:
    c = config_type.lower()
    if "_ss" in c:
        return "alloy_ss"
    if file.startswith("snap_NiMo"):
        return "alloy_ordered"
    for word, kind in (
        ("surface", "surface"),
        ("vacancy", "vacancy"),
        ("grainboundary", "grain_boundary"),
        ("aimd", "aimd"),
        ("elastic", "bulk_strained"),
    ):
        if word in c:
            return kind
    return "other"


def system_of(atoms) -> str:
    symbols = sorted(set(atoms.get_chemical_symbols()))
    return "".join(symbols) if len(symbols) > 1 else symbols[0]


def select(data: Path):
    """[(file, index, ase.Atoms)] of the checked cells (see the module docstring)."""
    import ase.io

    chosen = []
    for file in FILES:
        frames = ase.io.read(data / file, ":")
        groups: dict[str, list[int]] = {}
        for i, a in enumerate(frames):
            groups.setdefault(a.info["config_type"], []).append(i)
        for config_type, indices in groups.items():
            kind = kind_of(file, config_type)
            small = [i for i in indices if len(frames[i]) <= MAX_ATOMS]
            if not small:
                if (file, config_type) in LARGE_EXCEPTIONS:
                    chosen.append((file, indices[0], frames[indices[0]]))
                continue
            k = {"surface": len(small), "grain_boundary": len(small), "bulk_strained": 3}.get(
                kind, 2
            )
            if kind == "aimd" and ":" in config_type:  # maml: three AIMD groups per element
                k = 1
            # mlearn Mo has one 2-atom and 55 54-atom elastic cells: 1 + 2
            if kind == "bulk_strained":
                sizes = sorted({len(frames[i]) for i in small})
                if len(sizes) > 1:
                    picks = [
                        i
                        for n in sizes
                        for i in _spaced(
                            [j for j in small if len(frames[j]) == n], 1 if n == sizes[0] else 2
                        )
                    ]
                    chosen += [(file, i, frames[i]) for i in picks]
                    continue
            chosen += [(file, i, frames[i]) for i in _spaced(small, k)]
    chosen.sort(key=lambda t: (len(t[2]), t[0], t[1]))
    return chosen


def _spaced(indices: list[int], k: int) -> list[int]:
    if k >= len(indices):
        return list(indices)
    return [
        indices[j] for j in sorted(set(np.linspace(0, len(indices) - 1, k).round().astype(int)))
    ]


def perfect_lattice(atoms, tol: float = 1e-3) -> bool:
    """Every atom has the same sorted distances to its neighbours within 6 Å (a Bravais
    lattice, possibly strained; not a proof of symmetry, but no displaced atom passes)."""
    from ase.neighborlist import neighbor_list

    if len(set(atoms.numbers)) > 1:
        return False
    i, d = neighbor_list("id", atoms, 6.0)
    shells = [np.sort(d[i == a]) for a in range(len(atoms))]
    return all(len(s) == len(shells[0]) and np.allclose(s, shells[0], atol=tol) for s in shells)


# ----------------------------------------------------------------------------- one structure
@contextlib.contextmanager
def captured_fd_stdout():
    """Capture what native code writes to file descriptor 1 (tblite's printout)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        box = {}
        try:
            yield box
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            box["text"] = tmp.read().decode(errors="replace")


CYCLE_HEADER = re.compile(r"^\s*cycle\s+total energy", re.M)
CYCLE_LINE = re.compile(r"^\s+(\d+)\s+-?\d+\.\d+\s", re.M)


def scf_cycles(text: str) -> tuple[int, int | None]:
    """(attempts, iterations of the last attempt) from tblite's verbosity-1 printout."""
    blocks = CYCLE_HEADER.split(text)[1:]
    if not blocks:
        return 0, None
    cycles = [int(m) for m in CYCLE_LINE.findall(blocks[-1])]
    return len(blocks), (max(cycles) if cycles else None)


def check_one(
    file: str, index: int, atoms, kelvin: float | None, repeat: tuple[int, int, int] | None = None
) -> dict:
    pbe_per_atom = atoms.get_potential_energy() / len(atoms)
    if repeat is not None:  # a supercell of the frame (same PBE energy per atom)
        atoms = atoms.repeat(repeat)
    key = f"{file}:{index}" if repeat is None else f"{file}:{index}x{'x'.join(map(str, repeat))}"
    s = Structure(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc, name=key)
    row = {
        "key": key,
        "file": file,
        "index": index,
        "system": system_of(atoms),
        "formula": atoms.get_chemical_formula(),
        "config_type": atoms.info["config_type"],
        "kind": kind_of(file, atoms.info["config_type"]),
        "n_atoms": len(atoms),
        "perfect_lattice": perfect_lattice(atoms),
        "setting": "default" if kelvin is None else f"{kelvin:g}K",
        "temperature_K": 300.0
        if kelvin is None
        else kelvin,  # tblite default: 300 K exactly (tests/labels/test_xtb.py)
        "pbe_energy_per_atom_eV": pbe_per_atom,
    }
    wall, cpu = time.perf_counter(), time.process_time()
    error, res, text = "", None, ""
    try:
        with captured_fd_stdout() as out:
            res = run_xtb(s, save_integrals=True, electronic_temperature=kelvin, verbosity=1)
            labels = orbital_labels(res, s)
    except StructureError as err:
        error = err.problem
    except Exception as err:  # noqa: BLE001 — recorded, not fatal
        error = f"{type(err).__name__}: {err}"
    text = out.get("text", "")
    row["wall_s"] = time.perf_counter() - wall
    row["cpu_s"] = time.process_time() - cpu
    attempts, iterations = scf_cycles(text)
    row.update(
        attempts=attempts,
        iterations=iterations,
        converged=not error and res is not None,
        error=error.replace("\n", " ")[:300],
    )
    if error:
        return row
    q, spd, z = res.charges, labels["xtb_spd_populations"], s.atomic_numbers
    row.update(
        energy_eV=res.energy * HARTREE,
        energy_per_atom_eV=res.energy * HARTREE / s.n_atoms,
        max_abs_q=np.abs(q).max(),
        mean_abs_q=np.abs(q).mean(),
        q_spread=q.max() - q.min(),
        sum_q=q.sum(),
    )
    for el in ELEMENTS:
        mask = z == Z[el]
        if not mask.any():
            continue
        row.update(
            {
                f"q_mean_{el}": q[mask].mean(),
                f"q_absmean_{el}": np.abs(q[mask]).mean(),
                f"s_{el}": spd[mask, 0].mean(),
                f"p_{el}": spd[mask, 1].mean(),
                f"d_{el}": spd[mask, 2].mean(),
            }
        )
    if (z == Z[FOCUS]).any():
        row.update(focus_orbitals(labels, z))
    return row


def focus_orbitals(labels, z) -> dict:
    """Mean population of each orbital of the FOCUS atoms (tblite order d, s, p)."""
    pops, shell_of, atom_of_shell = (
        labels["xtb_orbital_populations"],
        labels["xtb_orbital_shell"],
        labels["xtb_shell_atom"],
    )
    shell_l = labels["xtb_shell_l"]
    names = []
    for zz in z:
        for l in GFN1_SHELLS[int(zz)]:
            names += ORBITAL_NAMES[l]
    names = np.array(names)
    focus = z[atom_of_shell[shell_of]] == Z[FOCUS]
    assert len(names) == len(pops) and (shell_l >= 0).all()
    return {f"{FOCUS}_{n}": pops[focus & (names == n)].mean() for n in set(names[focus])}


# ----------------------------------------------------------------------------- summaries
# Plain csv + numpy (the project's environment has no pandas).
TEXT_FIELDS = {"key", "file", "system", "formula", "config_type", "kind", "setting", "error"}
BOOL_FIELDS = {"perfect_lattice", "converged"}


def _typed(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        t = {}
        for k, v in r.items():
            if k in TEXT_FIELDS:
                t[k] = v
            elif k in BOOL_FIELDS:
                t[k] = str(v) == "True"
            else:
                t[k] = float(v) if v not in ("", None) else np.nan
        out.append(t)
    return out


def _group(rows, *keys) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    return dict(sorted(groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])))


def _col(rows, key) -> np.ndarray:
    return np.array([r.get(key, np.nan) for r in rows], float)


def _mean_std(values) -> tuple[float, float]:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return (float(v.mean()), float(v.std())) if len(v) else (np.nan, np.nan)


def _write_csv(path: Path, records: list[dict]) -> None:
    """The summaries leave a statistic with no structures behind it (NaN) blank."""
    write_csv(
        path,
        [
            {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
            for r in records
        ],
    )


def write_summaries(rows: list[dict], out: Path) -> None:
    rows = _typed(rows)
    records = []
    for el in ELEMENTS:
        sub = [r for r in rows if el in re.findall(r"[A-Z][a-z]?", r["formula"])]
        groups = [(("all", s, k), g) for (s, k), g in _group(sub, "setting", "kind").items()]
        groups += [(("all", s, "all"), g) for (s,), g in _group(sub, "setting").items()]
        # the element in each alloy system separately
        alloys = [r for r in sub if r["system"] != el]
        groups += [
            ((y, s, k), g) for (y, s, k), g in _group(alloys, "system", "setting", "kind").items()
        ]
        for (system, setting, kind), g in groups:
            ok = [r for r in g if r["converged"]]
            rec = {
                "element": el,
                "system": system,
                "kind": kind,
                "setting": setting,
                "n_structures": len(g),
                "n_converged": len(ok),
                "n_needed_retry": int((_col(g, "attempts") > 1).sum()),
                "n_atoms_min": int(_col(g, "n_atoms").min()),
                "n_atoms_max": int(_col(g, "n_atoms").max()),
            }
            for col, name in [
                ("iterations", "iterations"),
                (f"q_mean_{el}", "q_mean"),
                (f"q_absmean_{el}", "q_absmean"),
                ("max_abs_q", "max_abs_q_structure"),
                (f"s_{el}", "s"),
                (f"p_{el}", "p"),
                (f"d_{el}", "d"),
            ]:
                rec[f"{name}_mean"], rec[f"{name}_std"] = _mean_std(_col(ok, col))
            perfect = [r for r in ok if r["perfect_lattice"]]
            rec["n_perfect_lattice"] = len(perfect)
            rec["q_spread_perfect_max"] = (
                float(_col(perfect, "q_spread").max()) if perfect else np.nan
            )
            records.append(rec)
    _write_csv(out / "gfn1_summary.csv", records)
    converged = [r for r in rows if r["converged"]]
    temperature_effect(converged, out)
    cell_size(converged, out)
    focus_orbital_table(converged, out)
    throughput(rows, out)


def throughput(rows, out: Path) -> None:
    bins = [0, 8, 20, 40, 64, 120, 200]
    records = []
    for (setting,), g in _group(rows, "setting").items():
        n = _col(g, "n_atoms")
        for lo, hi in zip(bins[:-1], bins[1:]):
            b = [r for r, m in zip(g, (n > lo) & (n <= hi)) if m]
            if not b:
                continue
            records.append(_throughput_record(setting, f"{lo + 1}-{hi}", b))
        records.append(
            {
                **_throughput_record(setting, "all", g),
                "cpu_s_total": float(_col(g, "cpu_s").sum()),
                "wall_s_total": float(_col(g, "wall_s").sum()),
            }
        )
        # fit cpu_s = c · n_atoms^a over converged structures with ≥ 16 atoms (stage-2 cost
        # estimate; below 16 atoms the fixed costs flatten the curve)
        ok = [r for r in g if r["converged"] and r["n_atoms"] >= 16]
        a, logc = np.polyfit(np.log(_col(ok, "n_atoms")), np.log(_col(ok, "cpu_s")), 1)
        records.append(
            {
                "setting": setting,
                "n_atoms_bin": "fit cpu_s = c*n^a (n >= 16)",
                "n_structures": len(ok),
                "fit_exponent_a": a,
                "fit_prefactor_c": float(np.exp(logc)),
            }
        )
    _write_csv(out / "gfn1_throughput.csv", records)


def _throughput_record(setting, label, g) -> dict:
    n, cpu, wall = _col(g, "n_atoms"), _col(g, "cpu_s"), _col(g, "wall_s")
    return {
        "setting": setting,
        "n_atoms_bin": label,
        "n_structures": len(g),
        "n_atoms_mean": n.mean(),
        "wall_s_mean": wall.mean(),
        "cpu_s_mean": cpu.mean(),
        "cpu_s_max": cpu.max(),
        "atoms_per_cpu_s": n.sum() / cpu.sum(),
        "iterations_mean": _mean_std(_col(g, "iterations"))[0],
    }


def temperature_effect(rows, out: Path) -> None:
    """Per structure kind: what the higher temperature changes (higher minus default)."""
    base = {r["key"]: r for r in rows if r["setting"] == "default"}
    records = []
    for setting in sorted({r["setting"] for r in rows} - {"default"}):
        pairs = [(base[r["key"]], r) for r in rows if r["setting"] == setting and r["key"] in base]
        by_kind: dict[str, list] = {}
        for b, h in pairs:
            by_kind.setdefault(b["kind"], []).append((b, h))
        for kind, g in sorted(by_kind.items()) + [("all", pairs)]:
            b, h = [x for x, _ in g], [y for _, y in g]
            d = {
                "dE_per_atom_meV": 1000
                * (_col(h, "energy_per_atom_eV") - _col(b, "energy_per_atom_eV")),
                "d_max_abs_q": _col(h, "max_abs_q") - _col(b, "max_abs_q"),
                "d_mean_abs_q": _col(h, "mean_abs_q") - _col(b, "mean_abs_q"),
                "iterations_default": _col(b, "iterations"),
                "iterations_hot": _col(h, "iterations"),
                "cpu_s_default": _col(b, "cpu_s"),
                "cpu_s_hot": _col(h, "cpu_s"),
            }
            rec = {
                "setting": setting,
                "kind": kind,
                "n_structures": len(g),
                "n_retry_default": int((_col(b, "attempts") > 1).sum()),
                "n_retry_hot": int((_col(h, "attempts") > 1).sum()),
            }
            for col, v in d.items():
                rec[f"{col}_mean"], rec[f"{col}_std"] = _mean_std(v)
            rec["d_max_abs_q_min"], rec["d_max_abs_q_max"] = (
                float(d["d_max_abs_q"].min()),
                float(d["d_max_abs_q"].max()),
            )
            records.append(rec)
    _write_csv(out / "gfn1_temperature_effect.csv", records)


def focus_orbital_table(rows, out: Path) -> None:
    """Mean per-orbital populations of the FOCUS (Mo) atoms by system × kind × temperature,
    with the cubic split: t2g = mean(d_xy, d_yz, d_xz), eg = mean(d_z2, d_x2-y2)."""
    names = [f"{FOCUS}_{o}" for o in ORBITAL_NAMES[2] + ORBITAL_NAMES[0] + ORBITAL_NAMES[1]]
    have = [r for r in rows if np.isfinite(r.get(names[0], np.nan))]
    records = []
    for (system, kind, setting), g in _group(have, "system", "kind", "setting").items():
        rec = {
            "system": system,
            "kind": kind,
            "setting": setting,
            "n_structures": len(g),
            "n_atoms_min": int(_col(g, "n_atoms").min()),
            "n_atoms_max": int(_col(g, "n_atoms").max()),
        }
        for name in names:
            rec[name] = _mean_std(_col(g, name))[0]
        rec["t2g_mean"] = np.mean([rec[f"{FOCUS}_{o}"] for o in ("d_xy", "d_yz", "d_xz")])
        rec["eg_mean"] = np.mean([rec[f"{FOCUS}_{o}"] for o in ("d_z2", "d_x2-y2")])
        rec["p_spread"] = max(rec[f"{FOCUS}_{o}"] for o in ORBITAL_NAMES[1]) - min(
            rec[f"{FOCUS}_{o}"] for o in ORBITAL_NAMES[1]
        )
        records.append(rec)
    _write_csv(out / f"gfn1_{FOCUS.lower()}_orbitals.csv", records)


def cell_size(rows, out: Path) -> None:
    """Elemental bulk (strained) and AIMD cells by size: GFN1 − PBE energy per atom. tblite is
    Γ-point only, so a 2-atom cell and a 54-atom cell of the same metal sample the bands
    very differently; a constant offset per element is harmless, a size-dependent one is not."""
    d = [r for r in rows if r["kind"] in ("bulk_strained", "aimd") and len(r["system"]) <= 2]
    records = []
    for (system, kind, n, setting), g in _group(d, "system", "kind", "n_atoms", "setting").items():
        diff = _col(g, "energy_per_atom_eV") - _col(g, "pbe_energy_per_atom_eV")
        m, s = _mean_std(diff)
        records.append(
            {
                "system": system,
                "kind": kind,
                "n_atoms": int(n),
                "setting": setting,
                "n_structures": len(g),
                "gfn1_minus_pbe_per_atom_eV_mean": m,
                "gfn1_minus_pbe_per_atom_eV_std": s,
                "gfn1_per_atom_eV_mean": _mean_std(_col(g, "energy_per_atom_eV"))[0],
                "pbe_per_atom_eV_mean": _mean_std(_col(g, "pbe_energy_per_atom_eV"))[0],
                "max_abs_q_mean": _mean_std(_col(g, "max_abs_q"))[0],
                "n_perfect_lattice": int(sum(r["perfect_lattice"] for r in g)),
            }
        )
    _write_csv(out / "gfn1_cellsize.csv", records)


# ----------------------------------------------------------------------------- supercells
# tblite is a Γ-point code: a 2-atom bcc cell is one k-point of the bulk metal. The same
# frame repeated n×n×n samples n³ k-points of the small cell's Brillouin zone; labels that
# change with n are finite-cell (Γ-point) artefacts, not chemistry. Cases: the middle 2-atom
# elastic frame of each bcc metal checked above (repeat 1, 2, 3 → 2, 16, 54 atoms; Ta and W,
# whose populations moved most from 16 to 54 atoms, also 4 → 128 atoms) and the
# 16-atom binary frame with the largest |q| in gfn1_check.csv (Mo9Ta7, maml binary index 328;
# repeat up to 2×2×2 = 128 atoms). tblite's default temperature only. Rows in
# results/gfn1_supercells.csv (same columns plus `repeat`).
SUPERCELL_CASES = [
    ("mlearn_Li_train.extxyz", 229, [(1, 1, 1), (2, 2, 2), (3, 3, 3)]),
    *[
        ("maml_MoNbTaW_unary_train.extxyz", i, [(1, 1, 1), (2, 2, 2), (3, 3, 3)])
        for i in (260, 581)
    ],
    *[
        ("maml_MoNbTaW_unary_train.extxyz", i, [(1, 1, 1), (2, 2, 2), (3, 3, 3), (4, 4, 4)])
        for i in (915, 1249)
    ],
    ("maml_MoNbTaW_binary_train.extxyz", 328, [(1, 1, 1), (2, 1, 1), (2, 2, 1), (2, 2, 2)]),
]


def run_supercells(data: Path, out: Path) -> None:
    import ase.io

    path = out / "gfn1_supercells.csv"
    fields = ["repeat", *ROW_FIELDS]
    done = {r["key"] for r in read_rows(path)}
    new_file = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fields)
        if new_file:
            writer.writeheader()
        for file, index, repeats in SUPERCELL_CASES:
            atoms = ase.io.read(data / file, index)
            for r in repeats:
                key = f"{file}:{index}x{'x'.join(map(str, r))}"
                if key in done:
                    continue
                row = {
                    "repeat": "x".join(map(str, r)),
                    **check_one(file, index, atoms, None, repeat=r),
                }
                writer.writerow({k: _fmt(v) for k, v in row.items()})
                f.flush()
                print(
                    f"{row['n_atoms']:4d} {key:45s} conv={row['converged']} it={row['iterations']} "
                    f"{row['cpu_s']:.1f} s "
                    f"E/atom={row.get('energy_per_atom_eV', float('nan')):.3f} "
                    f"max|q|={row.get('max_abs_q', float('nan')):.3f} {row['error']}",
                    flush=True,
                )


# ----------------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=METALS)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    p.add_argument(
        "--temperatures",
        nargs="+",
        default=["default", "3000"],
        help="'default' (tblite's, ≈ 300 K) and/or kelvin values",
    )
    p.add_argument(
        "--max-atoms",
        type=int,
        default=None,
        help="skip selected cells larger than this (this run only)",
    )
    p.add_argument("--list", action="store_true", help="print the selection and exit")
    p.add_argument(
        "--no-supercells", action="store_true", help="skip the supercell (Γ-point) check"
    )
    args = p.parse_args(argv)
    settings = [None if t == "default" else float(t) for t in args.temperatures]
    chosen = select(args.data)
    if args.list:
        for file, i, a in chosen:
            print(f"{len(a):4d} {file}:{i} {a.info['config_type']} {a.get_chemical_formula()}")
        print(f"{len(chosen)} structures, {sum(len(a) for _, _, a in chosen)} atoms")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "gfn1_check.csv"
    rows = read_rows(path)
    done = {(r["key"], r["setting"]) for r in rows}
    new_file = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, ROW_FIELDS, extrasaction="raise")
        if new_file:
            writer.writeheader()
        for file, index, atoms in chosen:
            if args.max_atoms and len(atoms) > args.max_atoms:
                continue
            for kelvin in settings:  # both temperatures of a structure together
                setting = "default" if kelvin is None else f"{kelvin:g}K"
                if (f"{file}:{index}", setting) in done:
                    continue
                row = check_one(file, index, atoms, kelvin)
                writer.writerow({k: _fmt(v) for k, v in row.items()})
                f.flush()
                rows.append({k: _fmt(v) for k, v in row.items()})
                print(
                    f"{row['n_atoms']:4d} {row['key']:45s} {setting:8s} conv={row['converged']} "
                    f"att={row['attempts']} it={row['iterations']} {row['cpu_s']:.1f} s "
                    f"max|q|={row.get('max_abs_q', float('nan')):.3f} {row['error']}",
                    flush=True,
                )
    if not args.no_supercells:
        run_supercells(args.data, args.out)
    write_summaries(rows, args.out)
    print(f"{len(rows)} rows in {path}; summaries written", flush=True)
    return 0


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.8g}"
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


if __name__ == "__main__":
    sys.exit(main())
