"""GFN1-xTB on the PBE metals, checked before anything is trained on it (issue 14, stage 1).

    OMP_NUM_THREADS=1 python experiments/metals/gfn1_check.py [--temperatures default 3000]
                                                              [--data DIR] [--out DIR]

For a fixed, documented selection of small cells of `../shared/data/metals` (`select`) and
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
`results/gfn1_summary.csv` (mean ± std per element × structure kind × temperature, and per
element over all kinds) and `results/gfn1_throughput.csv` (seconds per structure and atoms/s
by cell size).

"default" is tblite's default electronic temperature, 9.5e-4 Hartree ≈ 300 K
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

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # this checkout's orbjax, not an installed one

from orbjax.data.structures import Structure, StructureError  # noqa: E402
from orbjax.labels.xtb import orbital_labels, run_xtb  # noqa: E402
from orbjax.orbitals import GFN1_SHELLS  # noqa: E402
from orbjax.units import HARTREE  # noqa: E402

ELEMENTS = ["Li", "Cu", "Ni", "Mo", "Nb", "Ta", "W", "Si", "Ge"]
Z = {"Li": 3, "Cu": 29, "Ni": 28, "Mo": 42, "Nb": 41, "Ta": 73, "W": 74, "Si": 14, "Ge": 32}
FOCUS = "Mo"  # element whose per-orbital populations are written out
ORBITAL_NAMES = {0: ["s"], 1: ["p_y", "p_z", "p_x"], 2: ["d_xy", "d_yz", "d_z2", "d_xz", "d_x2-y2"]}
MAX_ATOMS = 64
FILES = [
    "mlearn_Li_train.extxyz", "mlearn_Cu_train.extxyz", "mlearn_Ni_train_noAIMD.extxyz",
    "mlearn_Mo_train.extxyz", "mlearn_Si_train.extxyz", "mlearn_Ge_train.extxyz", "snap_Mo_npt_gb.extxyz",
    "snap_NiMo_elastic.extxyz", "maml_MoNbTaW_unary_train.extxyz", "maml_MoNbTaW_binary_train.extxyz",
]
LARGE_EXCEPTIONS = {  # (file, config_type): groups with no cell ≤ MAX_ATOMS, one frame each
    ("mlearn_Cu_train.extxyz", "Elastic"), ("mlearn_Ni_train_noAIMD.extxyz", "Elastic"),
    ("snap_NiMo_elastic.extxyz", "Ni3Mo_Elastic"), ("snap_NiMo_elastic.extxyz", "Ni4Mo_Elastic"),
}
ROW_FIELDS = [
    "key", "file", "index", "system", "formula", "config_type", "kind", "n_atoms", "perfect_lattice",
    "setting", "temperature_K", "converged", "attempts", "iterations", "error", "wall_s", "cpu_s",
    "energy_eV", "energy_per_atom_eV", "pbe_energy_per_atom_eV",
    "max_abs_q", "mean_abs_q", "q_spread", "sum_q",
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
    for word, kind in (("surface", "surface"), ("vacancy", "vacancy"), ("grainboundary", "grain_boundary"),
                       ("aimd", "aimd"), ("elastic", "bulk_strained")):
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
            k = {"surface": len(small), "grain_boundary": len(small), "bulk_strained": 3}.get(kind, 2)
            if kind == "aimd" and ":" in config_type:  # maml: three AIMD groups per element
                k = 1
            if kind == "bulk_strained":  # mlearn Mo has one 2-atom and 55 54-atom elastic cells: 1 + 2
                sizes = sorted({len(frames[i]) for i in small})
                if len(sizes) > 1:
                    picks = [i for n in sizes for i in _spaced([j for j in small if len(frames[j]) == n],
                                                               1 if n == sizes[0] else 2)]
                    chosen += [(file, i, frames[i]) for i in picks]
                    continue
            chosen += [(file, i, frames[i]) for i in _spaced(small, k)]
    chosen.sort(key=lambda t: (len(t[2]), t[0], t[1]))
    return chosen


def _spaced(indices: list[int], k: int) -> list[int]:
    if k >= len(indices):
        return list(indices)
    return [indices[j] for j in sorted(set(np.linspace(0, len(indices) - 1, k).round().astype(int)))]


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


def check_one(file: str, index: int, atoms, kelvin: float | None) -> dict:
    s = Structure(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc, name=f"{file}:{index}")
    row = {
        "key": f"{file}:{index}", "file": file, "index": index, "system": system_of(atoms),
        "formula": atoms.get_chemical_formula(), "config_type": atoms.info["config_type"],
        "kind": kind_of(file, atoms.info["config_type"]), "n_atoms": len(atoms),
        "perfect_lattice": perfect_lattice(atoms),
        "setting": "default" if kelvin is None else f"{kelvin:g}K",
        "temperature_K": 300.0 if kelvin is None else kelvin,  # tblite default 9.5e-4 Eh ≈ 300 K
        "pbe_energy_per_atom_eV": atoms.get_potential_energy() / len(atoms),
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
    row.update(attempts=attempts, iterations=iterations, converged=not error and res is not None,
               error=error.replace("\n", " ")[:300])
    if error:
        return row
    q, spd, z = res.charges, labels["xtb_spd_populations"], s.atomic_numbers
    row.update(
        energy_eV=res.energy * HARTREE, energy_per_atom_eV=res.energy * HARTREE / s.n_atoms,
        max_abs_q=np.abs(q).max(), mean_abs_q=np.abs(q).mean(), q_spread=q.max() - q.min(), sum_q=q.sum(),
    )
    for el in ELEMENTS:
        mask = z == Z[el]
        if not mask.any():
            continue
        row.update({f"q_mean_{el}": q[mask].mean(), f"q_absmean_{el}": np.abs(q[mask]).mean(),
                    f"s_{el}": spd[mask, 0].mean(), f"p_{el}": spd[mask, 1].mean(), f"d_{el}": spd[mask, 2].mean()})
    if (z == Z[FOCUS]).any():
        row.update(focus_orbitals(labels, z))
    return row


def focus_orbitals(labels, z) -> dict:
    """Mean population of each orbital of the FOCUS atoms (tblite order d, s, p)."""
    pops, shell_of, atom_of_shell = (labels["xtb_orbital_populations"], labels["xtb_orbital_shell"],
                                     labels["xtb_shell_atom"])
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
def write_summaries(rows: list[dict], out: Path) -> None:
    import pandas as pd

    df = pd.DataFrame(rows)
    num = [c for c in df.columns if c not in ("key", "file", "system", "formula", "config_type", "kind", "setting",
                                              "error", "perfect_lattice", "converged")]
    df[num] = df[num].apply(pd.to_numeric, errors="coerce")
    df["converged"] = df["converged"].astype(str) == "True"
    df["perfect_lattice"] = df["perfect_lattice"].astype(str) == "True"
    records = []
    for el in ELEMENTS:
        has = df[f"s_{el}"].notna() | df["formula"].str.contains(rf"{el}(?![a-z])", regex=True)
        sub = df[has]
        for (setting, kind), g in list(sub.groupby(["setting", "kind"])) + [((s, "all"), g) for s, g in sub.groupby("setting")]:
            ok = g[g["converged"]]
            rec = {"element": el, "kind": kind, "setting": setting, "n_structures": len(g),
                   "n_converged": int(g["converged"].sum()), "n_needed_retry": int((g["attempts"] > 1).sum()),
                   "n_atoms_min": int(g["n_atoms"].min()), "n_atoms_max": int(g["n_atoms"].max())}
            for col, name in [("iterations", "iterations"), (f"q_mean_{el}", "q_mean"), (f"q_absmean_{el}", "q_absmean"),
                              ("max_abs_q", "max_abs_q_structure"), (f"s_{el}", "s"), (f"p_{el}", "p"), (f"d_{el}", "d")]:
                rec[f"{name}_mean"], rec[f"{name}_std"] = ok[col].mean(), ok[col].std(ddof=0)
            perfect = ok[ok["perfect_lattice"]]
            rec["n_perfect_lattice"] = len(perfect)
            rec["q_spread_perfect_max"] = perfect["q_spread"].max() if len(perfect) else np.nan
            records.append(rec)
    pd.DataFrame(records).to_csv(out / "gfn1_summary.csv", index=False, float_format="%.6g")

    bins = [0, 8, 20, 40, 64, 120, 200]
    df["size_bin"] = pd.cut(df["n_atoms"], bins).astype(str)
    tp = []
    for (setting, size_bin), g in df.groupby(["setting", "size_bin"], sort=True):
        tp.append({"setting": setting, "n_atoms_bin": size_bin, "n_structures": len(g),
                   "n_atoms_mean": g["n_atoms"].mean(), "wall_s_mean": g["wall_s"].mean(),
                   "cpu_s_mean": g["cpu_s"].mean(), "cpu_s_max": g["cpu_s"].max(),
                   "atoms_per_cpu_s": g["n_atoms"].sum() / g["cpu_s"].sum(),
                   "iterations_mean": g["iterations"].mean()})
    for setting, g in df.groupby("setting"):
        tp.append({"setting": setting, "n_atoms_bin": "all", "n_structures": len(g), "n_atoms_mean": g["n_atoms"].mean(),
                   "wall_s_mean": g["wall_s"].mean(), "cpu_s_mean": g["cpu_s"].mean(), "cpu_s_max": g["cpu_s"].max(),
                   "atoms_per_cpu_s": g["n_atoms"].sum() / g["cpu_s"].sum(), "iterations_mean": g["iterations"].mean(),
                   "cpu_s_total": g["cpu_s"].sum()})
    # fit cpu_s = c · n_atoms^a over converged structures with ≥ 6 atoms (stage-2 cost estimate)
    for setting, g in df[(df["n_atoms"] >= 6) & df["converged"]].groupby("setting"):
        a, logc = np.polyfit(np.log(g["n_atoms"]), np.log(g["cpu_s"]), 1)
        tp.append({"setting": setting, "n_atoms_bin": "fit cpu_s = c*n^a", "n_structures": len(g),
                   "fit_exponent_a": a, "fit_prefactor_c": np.exp(logc)})
    pd.DataFrame(tp).to_csv(out / "gfn1_throughput.csv", index=False, float_format="%.6g")


# ----------------------------------------------------------------------------- main
def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=REPO / ".." / "shared" / "data" / "metals")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    p.add_argument("--temperatures", nargs="+", default=["default", "3000"],
                   help="'default' (tblite's, ≈ 300 K) and/or kelvin values")
    p.add_argument("--max-atoms", type=int, default=None, help="skip selected cells larger than this (this run only)")
    p.add_argument("--list", action="store_true", help="print the selection and exit")
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
                print(f"{row['n_atoms']:4d} {row['key']:45s} {setting:8s} conv={row['converged']} "
                      f"att={row['attempts']} it={row['iterations']} {row['cpu_s']:.1f} s "
                      f"max|q|={row.get('max_abs_q', float('nan')):.3f} {row['error']}", flush=True)
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
