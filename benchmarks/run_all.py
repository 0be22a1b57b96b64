"""Run every orbjax benchmark against mace-torch and write RESULTS.md and results.csv.

    /work/venv/bin/python benchmarks/run_all.py [--mace-python PATH] [--threads 1] [--quick]

1. Training step (train_step.py): the default model, energy-only and with the orbital
   head, vs ScaleShiftMACE at matched size (correlation 3, MACE's default, and correlation
   1, NequIP-like body order), on the same CHNO batches.
2. MD step (md_scaling.py): energy + forces (+ stress) through each ASE calculator for
   periodic water boxes of ~100 to ~10,000 atoms; neighbour list vs model; peak RSS; and
   orbjax's jitted MD loop with the on-device neighbour list (`orbjax_jit`, NVE steps).
3. Compilation (compilation.py): compiles per padding bucket over full epochs, padding waste.
4. Labelling: benchmarks/labelling.csv (benchmarks/labelling.py), run if missing.

Every comparison runs its workers side by side: each worker is a separate process that
sets up once, then times one pass per request; the passes of the implementations
alternate, so each ratio is taken over the same minutes of a shared machine's load.
Reported: medians over passes of wall time (what a user waits) and of process CPU time
(less sensitive to other jobs on the machine), and the median of the per-round ratios.
mace-torch runs from its own venv (`--mace-python`), so orbjax's environment stays clean.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT / ".." / "shared" / "data" / "chno" / "chno_wb97x.extxyz"
MACE_PYTHON = str(ROOT / ".venv-mace" / "bin" / "python")  # see benchmarks/README.md
MD_SIZES = (3, 5, 7, 10, 15, 22)  # molecules per cell edge: 81, 375, 1029, 3000, 10125, 31944 atoms


# ----------------------------------------------------------------------------- workers


# Every worker (orbjax and MACE alike) lets glibc's malloc back its blocks with transparent
# huge pages. XLA:CPU's threads get blocks > 64 MiB as fresh mmaps on every call (glibc's
# thread arenas, whatever mallopt says), and faulting them in 4 KiB pages cost ~35 % of an
# MD call at 10,000 atoms; with huge pages a call takes ~500 faults instead of ~10^5-10^6.
# It can only be set when a process starts, so the README recommends it for large MD.
GLIBC_TUNABLES = "glibc.malloc.hugetlb=1"


def thread_env(threads: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), TF_CPP_MIN_LOG_LEVEL="3",
               GLIBC_TUNABLES=GLIBC_TUNABLES)
    if threads == 1:
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"  # (orbjax workers add the YNNPACK switch: runtime.tune_cpu)
    return env


def pin(threads: int):
    """Restrict a worker to `threads` cores (the same ones for every worker). XLA:CPU keeps
    helper threads even with one intra-op thread; pinning gives both libraries the same
    hardware, so wall-time ratios compare equal resources."""
    cores = sorted(os.sched_getaffinity(0))[:threads]
    return lambda: os.sched_setaffinity(0, cores)


class Worker:
    """A benchmark worker process speaking the one-JSON-line-per-request protocol."""

    def __init__(self, name, python, script, spec, workdir, threads, log):
        self.name = name
        path = Path(workdir) / f"{name}.json"
        path.write_text(json.dumps(spec))
        self.stderr = open(Path(workdir) / f"{name}.stderr", "w")
        self.proc = subprocess.Popen([python, str(HERE / script), "worker", str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True, cwd=ROOT,
                                     env=thread_env(threads), preexec_fn=pin(threads))
        self.log = log
        self.setup = None

    def ready(self) -> dict:
        self.setup = self._read()
        self.log(f"  {self.name}: ready ({_short(self.setup)})")
        return self.setup

    def run(self) -> dict:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return self._read()

    def _read(self) -> dict:
        """The next JSON line; other output (libraries printing to stdout) is skipped."""
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait()
                self.stderr.flush()
                tail = Path(self.stderr.name).read_text()[-3000:]
                raise RuntimeError(f"worker {self.name} died (exit {self.proc.returncode}):\n{tail}")
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except json.JSONDecodeError:
                    pass

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.stderr.close()


def _short(setup: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in setup.items() if k not in ("versions",))[:300]


def alternate(workers: list[Worker], rounds: int, log) -> dict[str, list[dict]]:
    """`rounds` passes of every worker, rotating who goes first each round."""
    results = {w.name: [] for w in workers}
    for r in range(rounds):
        order = workers[r % len(workers):] + workers[: r % len(workers)]
        for w in order:
            results[w.name].append(w.run())
        log(f"  round {r + 1}/{rounds} done (load {os.getloadavg()[0]:.1f})")
    return results


# ----------------------------------------------------------------------------- 1. train step


def train_benchmark(args, workdir, labelled, log) -> dict:
    from orbjax.config import load_config_module
    from orbjax.data.batching import compute_budgets, plan_batches
    from orbjax.data.graphs import structures_to_graphs
    from orbjax.data.readers import read_structures

    config = load_config_module(str(ROOT / "configs" / "default.py")).get_config()
    bs = config.train.batch_size
    structures = read_structures(labelled)
    graphs = structures_to_graphs(structures, config.model.cutoff)
    budgets = compute_budgets(graphs, bs, config.train.n_buckets, seed=config.seed)
    plan = plan_batches(graphs, bs, budgets, seed=0, epoch=0)
    batches = [list(map(int, idx)) for idx, _ in plan]
    n_structures = sum(len(b) for b in batches)
    n_atoms = int(sum(s.n_atoms for s in structures))
    common = dict(batch_size=bs, seed=0, batches=batches, threads=args.threads)
    specs = {
        "orbjax_orbital_head": dict(impl="orbjax", variant="orbital", config=str(ROOT / "configs" / "default.py"),
                                    data=str(labelled)),
        "orbjax_energy_only": dict(impl="orbjax", variant="energy_only",
                                   config=str(ROOT / "configs" / "energy_only.py"), data=str(labelled)),
        # the orbital head reading the last layer's full features (ModelConfig.orbital_features)
        "orbjax_orbital_last_layer": dict(impl="orbjax", variant="orbital_last_layer",
                                          config=str(ROOT / "configs" / "default.py"), data=str(labelled),
                                          overrides={"model.orbital_features": "last_layer"}),
        # orbjax's XLA flags but glibc's default allocator: the same malloc as the MACE workers
        "orbjax_energy_only_glibc_malloc": dict(impl="orbjax", variant="energy_only", malloc="glibc",
                                                config=str(ROOT / "configs" / "energy_only.py"), data=str(labelled)),
    }
    if not args.skip_mace:
        for corr in (3, 1):
            specs[f"mace_correlation{corr}"] = dict(impl="mace", correlation=corr, cutoff=config.model.cutoff,
                                                    data=str(args.data))
    workers = []
    try:
        for name, spec in specs.items():
            python = args.mace_python if spec["impl"] == "mace" else sys.executable
            workers.append(Worker(f"train_{name}", python, "train_step.py", {**spec, **common}, workdir,
                                  args.threads, log))
            workers[-1].ready()  # one sets up (compiles) at a time, so compile times are not shared
        setups = {w.name: w.setup for w in workers}
        runs = alternate(workers, args.rounds, log)
    finally:
        for w in workers:
            w.close()
    out = {"n_structures": n_structures, "n_atoms": n_atoms, "n_batches": len(batches), "batch_size": bs,
           "budgets": [str(b) for b in budgets], "impls": {}}
    for w in workers:
        passes = runs[w.name]
        wall = [sum(p["step_s"]) for p in passes]
        cpu = [sum(p["cpu_s"]) for p in passes]
        out["impls"][w.name.removeprefix("train_")] = {
            "setup": setups[w.name], "pass_wall_s": wall, "pass_cpu_s": cpu,
            "median_pass_wall_s": float(np.median(wall)), "median_pass_cpu_s": float(np.median(cpu)),
            "median_step_wall_s": float(np.median([t for p in passes for t in p["step_s"]])),
            "structures_per_s": n_structures / float(np.median(wall)),
            "atoms_per_s": n_atoms / float(np.median(wall)),
            "structures_per_cpu_s": n_structures / float(np.median(cpu)),
            "n_compilations": passes[-1].get("n_compilations"),
        }
    return out


# ----------------------------------------------------------------------------- 2. MD


def md_benchmark(args, workdir, labelled, log) -> dict:
    results, skip = {}, set()
    last_step, last_rss = {}, {}
    for n in args.md_sizes:
        n_atoms = 3 * n**3
        specs = {"orbjax": dict(impl="orbjax", config=str(ROOT / "configs" / "default.py"), data=str(labelled)),
                 # the jitted MD loop with the on-device neighbour list (md_scaling.orbjax_jit_worker)
                 "orbjax_jit": dict(impl="orbjax_jit", config=str(ROOT / "configs" / "default.py"), data=str(labelled))}
        if n_atoms <= args.md_corr1_max_atoms:  # the same allocator as MACE (glibc defaults)
            specs["orbjax_glibc_malloc"] = dict(specs["orbjax"], malloc="glibc")
        if not args.skip_mace:
            specs["mace_correlation3"] = dict(impl="mace", correlation=3)
            if n_atoms <= args.md_corr1_max_atoms:
                specs["mace_correlation1"] = dict(impl="mace", correlation=1)
        for name in list(specs):
            # Skip an implementation whose extrapolated step or peak memory would exceed the limits.
            why = None
            if name in skip:
                why = "skipped at a smaller size"
            elif name in last_step and last_step[name][1] * n_atoms / last_step[name][0] > args.md_max_step_s:
                why = f"extrapolated step > {args.md_max_step_s} s"
            elif name in last_rss and last_rss[name][1] * n_atoms / last_rss[name][0] > 1024 * args.md_max_rss_gib:
                why = f"extrapolated peak memory > {args.md_max_rss_gib} GiB"
            if why:
                skip.add(name)
                log(f"  {name} at {n_atoms} atoms: skipped ({why})")
                results.setdefault(name, {})[n_atoms] = {"skipped": True, "reason": why}
                specs.pop(name)
        log(f"MD: {n_atoms} atoms ({', '.join(specs)})")
        # Side by side (alternating passes) while the processes fit in memory together;
        # above --md-together-max-atoms one at a time (at 10k atoms each needs 11-13 GB).
        groups = [list(specs)] if n_atoms <= args.md_together_max_atoms else [[k] for k in specs]
        workers, setups, runs = [], {}, {}
        for group in groups:
            alive = []
            try:
                for name in group:
                    spec = specs[name]
                    python = args.mace_python if spec["impl"] == "mace" else sys.executable
                    spec = dict(spec, n=n, steps=args.md_steps, budget_s=args.md_budget_s, threads=args.threads,
                                avg_num_neighbors=11.33)
                    alive.append(Worker(f"md{n_atoms}_{name}", python, "md_scaling.py", spec, workdir,
                                        args.threads, log))
                    setups[alive[-1].name] = alive[-1].ready()
                runs.update(alternate(alive, args.md_rounds, log))
            finally:
                for w in alive:
                    w.close()
            workers += alive
        for w in workers:
            name = w.name.split("_", 1)[1]
            passes = runs[w.name]
            steps = [t for p in passes for t in p["step_s"]]
            cpu = [t for p in passes for t in p["cpu_s"]]
            entry = {"setup": setups[w.name], "step_s": steps, "cpu_s": cpu,
                     "median_step_s": float(np.median(steps)), "median_cpu_s": float(np.median(cpu)),
                     "per_round_median_s": [float(np.median(p["step_s"])) for p in passes],
                     "us_per_atom": 1e6 * float(np.median(steps)) / n_atoms,
                     "peak_rss_mb": max(p["peak_rss_mb"] for p in passes)}
            parts = [q for p in passes for q in p.get("parts", [])]
            if parts:
                entry["neighbour_list_s"] = float(np.median([q["neighbour_list_s"] for q in parts]))
                entry["model_s"] = float(np.median([q["model_s"] for q in parts]))
                entry["n_compilations"] = passes[-1]["n_compilations"]
            results.setdefault(name, {})[n_atoms] = entry
            last_step[name] = (n_atoms, entry["median_step_s"])
            last_rss[name] = (n_atoms, entry["peak_rss_mb"])
    return results


# ----------------------------------------------------------------------------- 3. + 4.


def compilation_benchmark(args, labelled, log) -> dict:
    cmd = [sys.executable, str(HERE / "compilation.py"), str(labelled), "--config", str(ROOT / "configs" / "default.py"),
           "--epochs", str(args.compile_epochs)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=thread_env(args.threads),
                         preexec_fn=pin(args.threads))
    if out.returncode:
        raise RuntimeError(f"compilation.py failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def labelling_results(args, log) -> list[dict]:
    path = HERE / "labelling.csv"
    if args.run_labelling or not path.exists():
        log("labelling: running benchmarks/labelling.py")
        subprocess.run([sys.executable, str(HERE / "labelling.py")], check=True, cwd=ROOT)
    with open(path) as f:
        return list(csv.DictReader(f))


def label_chno(args, workdir, log) -> Path:
    """GFN1-xTB orbital labels for the CHNO set (the orbital head's training target)."""
    out = Path(workdir) / "chno_gfn1.h5"
    code = ("import sys; from orbjax.data.readers import read_structures, CHNO_KEYS; "
            "from orbjax.labels.runner import label_structures; "
            f"r = label_structures(read_structures({str(args.data)!r}, keys=CHNO_KEYS), {str(out)!r}, progress=False); "
            "sys.exit(r.n_failed != 0)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    return out


# ----------------------------------------------------------------------------- report


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1), "os": platform.platform(),
            "date": datetime.datetime.now().isoformat(timespec="seconds"), "GLIBC_TUNABLES": GLIBC_TUNABLES}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--mace-python", default=MACE_PYTHON)
    p.add_argument("--skip-mace", action="store_true")
    p.add_argument("--threads", type=int, default=1, help="threads per worker (1: robust on a shared machine)")
    p.add_argument("--rounds", type=int, default=5, help="alternating passes per train worker")
    p.add_argument("--md-sizes", type=lambda s: tuple(int(x) for x in s.split(",")), default=MD_SIZES)
    p.add_argument("--md-rounds", type=int, default=2)
    p.add_argument("--md-steps", type=int, default=5, help="MD steps per pass (fewer if --md-budget-s runs out)")
    p.add_argument("--md-budget-s", type=float, default=20.0)
    p.add_argument("--md-max-step-s", type=float, default=60.0, help="skip sizes whose step would take longer")
    p.add_argument("--md-corr1-max-atoms", type=int, default=1100,
                   help="largest box for mace correlation 1 and orbjax with glibc's allocator")
    p.add_argument("--md-max-rss-gib", type=float, default=20.0,
                   help="skip a size whose peak memory, extrapolated linearly from the last size, exceeds this")
    p.add_argument("--md-together-max-atoms", type=int, default=5000,
                   help="larger boxes run one implementation at a time (memory)")
    p.add_argument("--compile-epochs", type=int, default=2)
    p.add_argument("--run-labelling", action="store_true", help="re-run labelling.py instead of reading its CSV")
    p.add_argument("--only", default="train,md,compile,label")
    p.add_argument("--out", type=Path, default=HERE)
    p.add_argument("--report-only", type=Path, help="rewrite RESULTS.md/results.csv from a results.json")
    p.add_argument("--update", action="store_true",
                   help="re-measure only the --only sections and merge them into OUT/results.json; the report "
                        "names the date, load and commit of every section measured later than the rest")
    args = p.parse_args()
    if args.report_only:
        write_report(json.loads(args.report_only.read_text()), args.out)
        return
    if not args.skip_mace and not Path(args.mace_python).exists():
        sys.exit(f"{args.mace_python} not found: create it (see RESULTS.md) or pass --skip-mace")
    only = set(args.only.split(","))
    t_start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t_start:7.1f} s] {msg}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    results = {"machine": machine(), "load_avg_start": os.getloadavg(), "threads": args.threads,
               "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory(prefix="orbjax-bench-") as workdir:
        log("labelling the CHNO set with GFN1-xTB (orbital targets for the orbital head)")
        labelled = label_chno(args, workdir, log)
        if "train" in only:
            log("train step")
            results["train"] = train_benchmark(args, workdir, labelled, log)
        if "md" in only:
            results["md"] = md_benchmark(args, workdir, labelled, log)
        if "compile" in only:
            log("compilation")
            results["compilation"] = compilation_benchmark(args, labelled, log)
    if "label" in only:
        results["labelling"] = labelling_results(args, log)
    results["load_avg_end"] = os.getloadavg()
    results["wall_s"] = time.perf_counter() - t_start
    if args.update:
        results = merge_sections(json.loads((args.out / "results.json").read_text()), results)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    write_report(results, args.out)
    log(f"wrote {args.out / 'RESULTS.md'} and {args.out / 'results.csv'}")



# ----------------------------------------------------------------------------- report


def _paired_ratio(num: list[float], den: list[float]) -> float:
    """Median over rounds of num/den (the passes of one round ran back to back)."""
    return float(np.median(np.asarray(num) / np.asarray(den)))


def summarise(results: dict) -> tuple[list[tuple], dict]:
    """CSV rows (section, name, metric, value, unit) and the ratios the targets use."""
    rows, ratios = [], {}
    train = results.get("train")
    if train:
        impls = train["impls"]
        for name, r in impls.items():
            rows += [("train", name, "structures_per_s", r["structures_per_s"], "1/s"),
                     ("train", name, "atoms_per_s", r["atoms_per_s"], "1/s"),
                     ("train", name, "structures_per_cpu_s", r["structures_per_cpu_s"], "1/s"),
                     ("train", name, "median_step_wall_s", r["median_step_wall_s"], "s"),
                     ("train", name, "n_params", r["setup"]["n_params"], ""),
                     ("train", name, "compile_or_warmup_s", sum(r["setup"]["compile_s"].values()), "s")]
        for orb in [k for k in impls if k.startswith("orbjax")]:
            for m in [k for k in impls if k.startswith("mace")]:
                for kind in ("wall", "cpu"):
                    v = _paired_ratio(impls[m][f"pass_{kind}_s"], impls[orb][f"pass_{kind}_s"])
                    ratios[("train", m, orb, kind)] = v
                    rows.append(("train_ratio", f"{m}/{orb}", f"speedup_{kind}", v, "x"))
        for variant, suffix in (("orbjax_orbital_head", ""), ("orbjax_orbital_last_layer", "_last_layer")):
            if "orbjax_energy_only" not in impls or variant not in impls:
                continue
            for kind in ("wall", "cpu"):
                v = _paired_ratio(impls[variant][f"pass_{kind}_s"], impls["orbjax_energy_only"][f"pass_{kind}_s"]) - 1
                ratios[("head_cost" + suffix, kind)] = v
                rows.append(("train_ratio", "orbital_head_cost" + suffix, f"extra_{kind}", 100 * v, "%"))
    for name, sizes in results.get("md", {}).items():
        for n_atoms, e in sizes.items():
            if e.get("skipped"):
                rows.append(("md", name, f"skipped_{n_atoms}", 1, ""))
                continue
            for metric, unit in (("median_step_s", "s"), ("median_cpu_s", "s"), ("us_per_atom", "us"),
                                 ("peak_rss_mb", "MiB"), ("neighbour_list_s", "s"), ("model_s", "s")):
                if metric in e:
                    rows.append(("md", f"{name}@{n_atoms}", metric, e[metric], unit))
    md = results.get("md", {})
    for m in [k for k in md if k != "orbjax"]:
        for n_atoms, e in md[m].items():
            o = md.get("orbjax", {}).get(n_atoms)
            if e.get("skipped") or not o or o.get("skipped"):
                continue
            v = _paired_ratio(e["per_round_median_s"], o["per_round_median_s"])
            ratios[("md", m, int(n_atoms))] = v
            rows.append(("md_ratio", f"{m}/orbjax@{n_atoms}", "time_ratio_wall", v, "x"))
    for name, sizes in md.items():  # marginal memory per atom between successive sizes
        pts = sorted((int(n), e["peak_rss_mb"]) for n, e in sizes.items() if not e.get("skipped"))
        for (n0, m0), (n1, m1) in zip(pts, pts[1:]):
            v = (m1 - m0) / (n1 - n0)
            ratios[("md_mem_slope", name, n1)] = v
            rows.append(("md_memory", f"{name}@{n0}-{n1}", "marginal_MiB_per_atom", v, "MiB"))
    comp = results.get("compilation")
    if comp:
        for b, e in comp["per_bucket"].items():
            rows += [("compile", b, "compiles", e["compiles"], ""), ("compile", b, "compile_s", e["compile_s"], "s"),
                     ("compile", b, "steady_step_s", e["steady_step_s"], "s")]
        rows += [("compile", "epochs>0", "new_compilations", sum(x["new_compilations"] for x in comp["epochs"][1:]), ""),
                 ("compile", "padding", "node_ratio", comp["padding"]["node_ratio"], "padded/real"),
                 ("compile", "padding", "edge_ratio", comp["padding"]["edge_ratio"], "padded/real")]
    for r in results.get("labelling", []):
        rows.append(("labelling", r["mode"], "structures_per_s_per_core", float(r["structures_per_s_per_core"]), "1/s"))
        if r.get("overhead_vs_plain_pct"):
            rows.append(("labelling", r["mode"], "overhead_vs_plain", float(r["overhead_vs_plain_pct"]), "%"))
    return rows, ratios


def _f(x, digits=3):
    return "–" if x is None else f"{x:.{digits}g}"


def write_report(results: dict, out: Path) -> None:
    rows, ratios = summarise(results)
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["section", "name", "metric", "value", "unit"])
        for row in rows:
            w.writerow([*row[:3], f"{float(row[3]):.6g}", row[4]])
    (out / "RESULTS.md").write_text(_markdown(results, ratios))


SECTIONS = {"train": "1 (training step)", "md": "2 (MD step)", "compilation": "3 (compilation)",
            "labelling": "4 (labelling)"}


def merge_sections(old: dict, new: dict) -> dict:
    """`old` with the sections measured in `new` replaced, each stamped with its own run."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=ROOT).stdout.strip()
    except OSError:
        commit = ""
    merged = dict(old)
    stamp = {"date": new["machine"]["date"], "load_avg": [new["load_avg_start"][0], new["load_avg_end"][0]],
             "wall_s": new["wall_s"], "commit": commit, "args": new["args"]}
    for section in SECTIONS:
        if section in new:
            merged[section] = new[section]
            merged.setdefault("section_runs", {})[section] = stamp
    return merged


def _section_notes(res: dict) -> list[str]:
    return [f"Section {SECTIONS[sec]} was re-measured at {r['date']} (commit {r['commit'] or '?'}, load "
            f"{r['load_avg'][0]:.1f}–{r['load_avg'][1]:.1f}, {r['wall_s'] / 60:.0f} min) with "
            f"`run_all.py --update --only {sec}`" + (f" `--md-sizes {','.join(map(str, r['args']['md_sizes']))} --md-rounds {r['args']['md_rounds']} "
               f"--md-steps {r['args']['md_steps']} --md-budget-s {r['args']['md_budget_s']:g}`" if sec == "md" else "")
            + ".\n"
            for sec, r in res.get("section_runs", {}).items()]


def _markdown(res: dict, ratios: dict) -> str:
    m = res["machine"]
    L = ["# orbjax performance vs mace-torch", "",
         "Generated by `benchmarks/run_all.py` (tables from this run; the analysis at the end is part of "
         "the script's template, written from the profiles described there). Raw data: `results.json`; "
         "flat table: `results.csv`.", "",
         f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}; run {m['date']}, "
         f"{res.get('wall_s', 0) / 60:.0f} min. Load average (1 min) {res['load_avg_start'][0]:.1f} at the start, "
         f"{res['load_avg_end'][0]:.1f} at the end: the machine is shared with other jobs, so absolute times "
         "are noisy; the ratios are measured side by side (alternating passes) in this run. "
         f"Every worker uses {res['threads']} thread(s); every worker's environment has "
         f"`GLIBC_TUNABLES={m.get('GLIBC_TUNABLES', '')}` (see the analysis).", ""]
    L += [note + "\n" for note in res.get("notes", [])]  # written by an earlier version (kept files)
    L += _section_notes(res)
    versions = {}
    for sec in ("train",):
        for name, r in res.get(sec, {}).get("impls", {}).items():
            versions[name.split("_")[0]] = r["setup"].get("versions", {})
    for impl, v in versions.items():
        L.append(f"- {impl} environment: " + ", ".join(f"{k} {x}" for k, x in v.items()))
    L.append("")
    L += _targets(res, ratios)
    train = res.get("train")
    if train:
        L += ["## 1. Training step", "",
              f"{train['n_batches']} batches of {train['batch_size']} structures = one epoch of the CHNO set "
              f"({train['n_structures']} structures, {train['n_atoms']} atoms, 3–21 atoms each), identical batches "
              f"for every implementation; orbjax pads to its buckets {', '.join(train['budgets'])}. "
              "One step = transfer, forward, forces by autograd, energy+force(+orbital) loss, backward, gradient "
              "clipping, Adam, EMA, synchronised. Medians over passes; compilation / warm-up excluded and listed "
              "separately.", "",
              "| implementation | parameters | structures/s | atoms/s | structures/CPU-s | median step (ms) | compile / warm-up (s) |",
              "|---|---|---|---|---|---|---|"]
        for name, r in train["impls"].items():
            L.append(f"| {name} | {r['setup']['n_params']} | {r['structures_per_s']:.1f} | {r['atoms_per_s']:.0f} | "
                     f"{r['structures_per_cpu_s']:.1f} | {1e3 * r['median_step_wall_s']:.1f} | "
                     + ", ".join(f"{k}: {v:.1f}" for k, v in r["setup"]["compile_s"].items()) + " |")
        L += ["", "Speed-up of orbjax (MACE time / orbjax time, median of per-round ratios; wall and CPU time):", "",
              "| | vs mace correlation 3 | vs mace correlation 1 |", "|---|---|---|"]
        for orb in [k for k in train["impls"] if k.startswith("orbjax")]:
            cells = []
            for mname in ("mace_correlation3", "mace_correlation1"):
                w, c = ratios.get(("train", mname, orb, "wall")), ratios.get(("train", mname, orb, "cpu"))
                cells.append(f"{_f(w)}× wall, {_f(c)}× CPU")
            L.append(f"| {orb} | " + " | ".join(cells) + " |")
        for suffix, what in (("", "reading the previous layer's features (default)"),
                             ("_last_layer", "reading the last layer's full features")):
            if ("head_cost" + suffix, "wall") in ratios:
                L += ["", f"Orbital head cost, {what}: +{100 * ratios[('head_cost' + suffix, 'wall')]:.0f}% wall, "
                          f"+{100 * ratios[('head_cost' + suffix, 'cpu')]:.0f}% CPU per train step "
                          "(vs energy-only, paired)."]
        L.append("")
    md = res.get("md")
    if md:
        names = list(md)
        L += ["## 2. MD step (energy + forces + stress, ASE calculators, periodic water at 1 g/cm³)", "",
              "Each step displaces every atom by ≤ 0.01 Å and calls `atoms.get_forces()`; both calculators "
              "build their neighbour list every step and compute the stress of the periodic cell. One fresh "
              "process per implementation and size (peak RSS is that size's). orbjax's step is also timed in "
              "its two halves: neighbour list + padding (numpy/vesin) and the jitted model.", "",
              "| atoms | " + " | ".join(f"{n} step (s) | µs/atom | RSS (MiB)" for n in names)
              + " | orbjax NL (s) | orbjax model (s) | " + " | ".join(f"{n} / orbjax time" for n in names if n != "orbjax") + " |",
              "|---" * (1 + 3 * len(names) + 2 + len(names) - 1) + "|"]
        sizes = sorted({int(k) for v in md.values() for k in v})
        for n_atoms in sizes:
            cells = [str(n_atoms)]
            for n in names:
                e = md[n].get(str(n_atoms)) or md[n].get(n_atoms) or {}
                if not e or e.get("skipped"):
                    cells += ["skipped", "", ""]
                else:
                    cells += [f"{e['median_step_s']:.3g}", f"{e['us_per_atom']:.0f}", f"{e['peak_rss_mb']:.0f}"]
            o = md.get("orbjax", {}).get(str(n_atoms)) or md.get("orbjax", {}).get(n_atoms) or {}
            cells += [_f(o.get("neighbour_list_s")), _f(o.get("model_s"))]
            cells += [_f(ratios.get(("md", n, n_atoms))) + "×" for n in names if n != "orbjax"]
            L.append("| " + " | ".join(cells) + " |")
        L += ["", "Timed steps behind each median (all rounds; fewer where the time budget ran out; the "
              "jitted loop's steps are its chunks' steps): " + "; ".join(
                  f"{n} " + ", ".join(f"{len(e['step_s'])} @{k}" for k, e in sorted(md[n].items(), key=lambda kv: int(kv[0]))
                                      if e and not e.get("skipped")) for n in names) + ".", ""]
    comp = res.get("compilation")
    if comp:
        L += ["## 3. Compilation and padding (default config, full epochs of CHNO)", "",
              f"Batch size {comp['batch_size']}, {comp['n_buckets']} buckets (default), {comp['n_structures']} "
              f"structures; {len(comp['epochs'])} epochs (different shuffles).", "",
              "| bucket | compiles | compile time (s) | steady step (ms) | steps |", "|---|---|---|---|---|"]
        for b, e in comp["per_bucket"].items():
            L.append(f"| {b} | {e['compiles']} | {e['compile_s']:.1f} | {1e3 * e['steady_step_s']:.0f} | {e['steps']} |")
        L += ["", "| epoch | batches | new compilations | seconds |", "|---|---|---|---|"]
        for e in comp["epochs"]:
            L.append(f"| {e['epoch']} | {e['batches']} | {e['new_compilations']} | {e['seconds']:.1f} |")
        p = comp["padding"]
        L += ["", f"Padding waste over an epoch: padded/real atoms {p['node_ratio']:.2f}, padded/real edges "
                  f"{p['edge_ratio']:.2f}, {p['n_batches']} batches in {p['n_shapes']} shapes.", ""]
    lab = res.get("labelling")
    if lab:
        L += ["## 4. Labelling (GFN1-xTB with tblite; from `benchmarks/labelling.csv`)", "",
              "| mode | workers | structures/s | per core | overhead vs plain (%) |", "|---|---|---|---|---|"]
        for r in lab:
            L.append(f"| {r['mode']} | {r['workers']} | {float(r['structures_per_s']):.1f} | "
                     f"{float(r['structures_per_s_per_core']):.1f} | {r.get('overhead_vs_plain_pct') or ''} |")
        L.append("")
    L += _time_to_accuracy(HERE / "time_to_accuracy.csv")
    L += NOTES
    return "\n".join(L) + "\n"


def _time_to_accuracy(path: Path) -> list[str]:
    """Section 5 from `time_to_accuracy.csv` (written by `benchmarks/time_to_accuracy.py`)."""
    if not path.exists():
        return []
    rows = list(csv.DictReader(open(path, newline="")))
    if not rows:
        return []
    force_cols = [k for k in rows[0] if k.startswith("cpu_s_to_forces_")]
    energy_cols = [k for k in rows[0] if k.startswith("cpu_s_to_energy_")]

    def hours(x):
        return f"{float(x) / 3600:.2f}" if x else "not reached"

    L = ["## 5. Time to accuracy (acetylacetone, 400 training frames, one pinned core each)", "",
         "From `time_to_accuracy.csv` (`benchmarks/time_to_accuracy.py`; one seed per run): validation "
         "(50 frames of train_300K) error against the CPU-hours of the training process, setup and "
         "validation included. orbjax runs with a planned step budget (its learning rate decays over "
         "it), so each budget is its own row; mace-torch's plateau scheduler needs none. Test errors are "
         "those of the model each run selected by validation (test: 50 frames of train_300K; test600: "
         "train_600K): orbjax selects by validation energy + forces with its training weights, mace-torch by its "
         "validation loss (for `mace_defaults`, the CLI's defaults: energy weight 1, forces 100, no EMA, no SWA, "
         "so the selected epoch can carry an energy offset that the best-energy epoch does not). Curves: "
         "`time_to_accuracy.png`, `time_to_accuracy_curves.csv`. mace-torch at orbjax's size keeps MACE's "
         "correlation 3 (4-body messages per layer; orbjax's are 2-body).", "",
         "| model | run | CPU-h | best val E (meV/atom) | best val F (meV/Å) | test E / F | test600 E / F |",
         "|---|---|---|---|---|---|---|"]
    for r in rows:
        L.append(f"| {r['model']} | {r['run']} | {hours(r['total_cpu_s'])} | {float(r['best_val_energy_mae']):.3g} | "
                 f"{float(r['best_val_forces_mae']):.3g} | {_f(_num(r['test_energy_mae']))} / "
                 f"{_f(_num(r['test_forces_mae']))} | {_f(_num(r['test600_energy_mae']))} / "
                 f"{_f(_num(r['test600_forces_mae']))} |")
    L += ["", "CPU-hours until the validation error first reaches each level:", "",
          "| model | run | " + " | ".join(f"F ≤ {c.rsplit('_', 1)[1]} meV/Å" for c in force_cols) + " | "
          + " | ".join(f"E ≤ {c.rsplit('_', 1)[1]} meV/atom" for c in energy_cols) + " |",
          "|---|---|" + "---|" * (len(force_cols) + len(energy_cols))]
    for r in rows:
        L.append(f"| {r['model']} | {r['run']} | " + " | ".join(hours(r[c]) for c in force_cols + energy_cols) + " |")
    return L + [""]


def _num(x: str):
    return float(x) if x not in ("", None) else None


def _targets(res, ratios) -> list[str]:
    L = ["## Targets", "", "| target | measured | met |", "|---|---|---|"]

    def row(name, value, ok):
        L.append(f"| {name} | {value} | {'yes' if ok else 'no'} |")

    for orb in ("orbjax_energy_only", "orbjax_orbital_head"):
        for mname in ("mace_correlation3", "mace_correlation1"):
            v = ratios.get(("train", mname, orb, "wall"))
            if v is not None:
                row(f"train step ≥1.5× faster: {orb} vs {mname}", f"{v:.2f}×", v >= 1.5)
    # matched work: orbjax computing every last-layer message (and its orbital head besides)
    # against MACE at orbjax's body order
    v = ratios.get(("train", "mace_correlation1", "orbjax_orbital_last_layer", "wall"))
    if v is not None:
        row("matched work, train step: orbjax with full last-layer messages (+ orbital head) vs mace_correlation1",
            f"{v:.2f}× (CPU {ratios[('train', 'mace_correlation1', 'orbjax_orbital_last_layer', 'cpu')]:.2f}×)",
            v >= 1.0)
    v = ratios.get(("train", "mace_correlation3", "orbjax_energy_only_glibc_malloc", "wall"))
    if v is not None:
        row("same allocator as MACE (glibc defaults), train step: orbjax_energy_only vs mace_correlation3",
            f"{v:.2f}× (CPU {ratios[('train', 'mace_correlation3', 'orbjax_energy_only_glibc_malloc', 'cpu')]:.2f}×)",
            v >= 1.5)
    md = [(k[1], k[2], v) for k, v in ratios.items() if k[0] == "md"]
    for mname in sorted({k[0] for k in md}):
        vals = sorted((n, v) for k, n, v in md if k == mname)
        listed = ", ".join(f"{v:.2f}× @{n}" for n, v in vals)
        if mname.startswith("mace"):
            row(f"MD step ≥1.5× faster than {mname}", listed, all(v >= 1.5 for n, v in vals))
        elif mname == "orbjax_jit":
            row("jitted MD loop at least as fast as the ASE path (time ratio ≤ 1) at every size", listed,
                all(v <= 1.0 for n, v in vals))
        else:
            row(f"{mname} time / orbjax time (information)", listed, True)
    for name in ("orbjax", "orbjax_jit"):
        slopes = sorted((n, v) for k, v in ratios.items() if k[0] == "md_mem_slope" and k[1] == name
                        for n in [k[2]] if n > 2000)
        if len(slopes) >= 2:
            vals = [v for _, v in slopes]
            row(f"{name} peak memory linear in atoms (marginal MiB per atom between successive sizes above "
                "1,000 atoms: max/min ≤ 1.5)", ", ".join(f"{v:.2f} up to {n}" for n, v in slopes),
                max(vals) <= 1.5 * min(vals))
    if ("head_cost", "wall") in ratios:
        v = ratios[("head_cost", "wall")]
        row("orbital head adds ≤10% to the train step (default: head reads the previous layer)",
            f"+{100 * v:.0f}% (CPU +{100 * ratios[('head_cost', 'cpu')]:.0f}%)", v <= 0.10)
    if ("head_cost_last_layer", "wall") in ratios:
        v = ratios[("head_cost_last_layer", "wall")]
        row("orbital head adds ≤10% (option orbital_features='last_layer')",
            f"+{100 * v:.0f}% (CPU +{100 * ratios[('head_cost_last_layer', 'cpu')]:.0f}%)", v <= 0.10)
    row("orbital head adds nothing to inference", "the potential calls the model without heads: the same "
        "compiled function for both configs (tests/model: identical energies/forces)", True)
    orb = res.get("md", {}).get("orbjax", {})
    per_atom = {int(n): e["us_per_atom"] for n, e in orb.items() if not e.get("skipped") and int(n) >= 1000}
    if len(per_atom) >= 2:
        ref = per_atom[min(per_atom)]
        spread = max(abs(v / ref - 1) for v in per_atom.values())
        row(f"MD time per atom flat (±20%) from 1,000 to {max(per_atom):,} atoms",
            ", ".join(f"{v:.0f} µs @{n}" for n, v in sorted(per_atom.items())) + f" (max {100 * spread:.0f}% off)",
            spread <= 0.2 and max(per_atom) >= 9000)
    L.append("")
    return L


NOTES = """
## What each side computes (read before the ratios)

- **orbjax** `configs/default.py`: 2 interaction layers, hidden 32x0e+32x1o+32x2e, spherical
  harmonics l ≤ 2, cutoff 5 Å, 8 Bessel functions × polynomial envelope (p = 6), radial MLP
  8→64→64→(one weight per message irrep), per-layer messages h_j ⊕ h_j⊗Y(r̂_ij) (2-body,
  NequIP-style), gated nonlinearity, element-dependent self-connection, scalar readout 16.
  `configs/energy_only.py` is the same without the orbital head.
- **mace-torch** `ScaleShiftMACE` built in `train_step.mace_model`: hidden_irreps
  32x0e+32x1o+32x2e, max_ell 2, num_interactions 2, r_max 5, num_bessel 8,
  num_polynomial_cutoff 6, radial_MLP [64, 64], MLP_irreps 16x0e,
  RealAgnosticResidualInteractionBlock.
- **Body order.** MACE's per-layer body order is set by `correlation`: **correlation 3** is
  MACE's default (4-body messages per layer, what a user gets), **correlation 1** the closest
  to orbjax's 2-body convolution. No accuracy is compared here: the accuracy of the two at
  equal training time is issue 17's time-to-accuracy benchmark (`benchmarks/mace_reference.py`).
- **Last layer.** Both keep only scalars after the last layer, but MACE's last interaction
  still computes every l ≤ 2 message (its product basis then keeps the scalars), while
  orbjax's last layer computes the scalar messages only whenever no readout reads more (all
  inference; training with the default orbital head). XLA would drop unused messages from
  a compiled function in any case, so orbjax has no "energy-only with full messages" mode;
  the **matched-work row** is `orbjax_orbital_last_layer`, whose orbital head reads the last
  layer's full features, so it computes every last-layer message and the head besides,
  against `mace_correlation1`.
- **Parameters.** The parameter column counts every trained array. orbjax initialises the
  last layer's l > 0 weights in every model (one tree for all configs) and does not use them
  where it computes scalars only; MACE's correlation-1 and -3 models differ in their product
  basis weights.
- **Allocator.** Every worker gets `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` (above). orbjax's
  command lines also set glibc mallopt (`orbjax/runtime.py`: no mmap blocks, no trimming),
  which MACE's workers do not get; the `*_glibc_malloc` rows run orbjax with glibc's default
  allocator, as MACE runs, so both ways are reported.
- Both in float32, random weights (the cost does not depend on them), the same batches
  (training) and the same structures (MD). Losses: per-atom energy MSE + 10 × force MSE
  (+ orbital populations for orbjax's head), Adam, gradient clipping 10, EMA 0.99.
- **Threads and cores.** Each worker runs with 1 thread (XLA: `--xla_cpu_multi_thread_eigen=false`;
  torch: `set_num_threads(1)`) and is pinned to the same single core (`sched_setaffinity`);
  `--threads 2` uses both cores. XLA:CPU keeps helper threads even with one intra-op
  thread, so an unpinned orbjax worker can use more than one core of CPU time per second of
  wall time; pinned, both get exactly one core, and the structures/CPU-s column and the CPU
  ratios are the check.

## What was changed in orbjax for speed (the tables above measure the result)

Found with `jax.profiler` (perfetto traces of the compiled calls, every HLO op mapped back to
its Flax module) and page-fault counts from `getrusage`. The before/after timings of each
change were taken during development on a shared machine and are not kept, so none is
quoted here; the profiles of the present code are in `benchmarks/md_flatness/`.

1. **Edge tensor product**: per output irrep one batched matrix product h_j · A(Y) instead of
   e3nn-jax's per-path einsums.
2. **Unused radial weights**: where the last layer needs scalars only, `RadialMLP`
   (`orbjax/model/radial.py`, same parameters as e3nn's MLP) multiplies only the used columns
   of the last kernel, so no zero cotangents of the unused weights are built.
3. **Channels-last messages**: [edge, component, channel]; products and reductions run along
   32-wide rows.
4. **XLA:CPU's YNNPACK fusions off** (`--xla_cpu_experimental_ynn_fusion_type=` first in
   `XLA_FLAGS`, `orbjax/runtime.py`): a large multiply-reduce of the first layer's weight
   gradient ran far slower inside a YNNPACK fusion than in XLA's own emitter.
5. **Page faults**: XLA allocates its temporaries with malloc and frees them after each call;
   glibc returned them to the kernel, so every call faulted its memory in again.
   `orbjax/runtime.py` sets mallopt (no mmap blocks, no trimming, 64 MiB top pad); the
   `*_glibc_malloc` rows measure what that buys. XLA's worker threads still get blocks > 64
   MiB as fresh mmaps (glibc's thread arenas ignore mallopt), hence the huge-page tunable
   for large MD (`results_no_hugetlb.json` keeps an otherwise identical earlier run
   without it).
6. **The orbital head** reads the l ≤ 2 features of the previous layer with the last layer's
   scalars (`model.orbital_features = "previous_layer"`, the default), so the last layer
   computes scalars only in training too; its shell diagonals are one constant matrix
   product. The head's cost is the "orbital head adds" rows.
7. **MD padding**: the calculator's edge budget is 1.1 × the edges needed, rounded up on the
   ladder 2^k × {1, 1.25, 1.5, 1.75}.
8. **Chunked edge loop** (`orbjax/model/blocks.py:chunked_messages`, `Potential.edge_chunk`,
   default 4,096 edges): a potential runs each layer's edge loop (radial MLP, gather,
   messages, scatter into the node sums in place) over chunks of edges under
   `jax.checkpoint`, so no [n_edges, …] tensor is ever whole and the backward recomputes one
   chunk at a time. The per-op profiles had shown the edge tensors growing slower per edge
   once they left the caches; `benchmarks/md_flatness/edge_chunks.csv` has the call time and
   peak memory against the chunk size. Training keeps the whole loop (small batches).

All `tests/model` (e3nn reference for messages and gradients, symmetries, D·B·Dᵀ, padding,
finite differences) pass after each change.

## Remaining gaps

- MD time per atom above 1,000 atoms: see the flatness row (with the chunked edge loop;
  before it, the memory-bound edge tensors made it grow, `benchmarks/md_flatness/`).
- MD computes the stress of every periodic call (so does MACE's calculator; like for like).
- The host neighbour list (vesin; `benchmarks/neighbour_lists.csv` compares it with matscipy)
  and padding are the "orbjax NL" column; the jitted loop (`orbjax_jit`) keeps the neighbour
  list on the device with a skin.
- Compilation of the default model takes tens of seconds per bucket (section 3); it is paid
  once per bucket per run.
""".strip("\n").splitlines()


if __name__ == "__main__":
    main()
