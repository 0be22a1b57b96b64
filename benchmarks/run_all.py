"""Run every orbjax benchmark against mace-torch and write RESULTS.md and results.csv.

    python -m benchmarks.run_all [--mace-python PATH] [--threads 1] [--only train,md,compile,label]

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
The measurements go to results.json; `report.py` renders RESULTS.md and results.csv from it.
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

from benchmarks.report import SECTIONS, write_report
from experiments.common.paths import CHNO

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = CHNO
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
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        TF_CPP_MIN_LOG_LEVEL="3",
        GLIBC_TUNABLES=GLIBC_TUNABLES,
    )
    if threads == 1:
        env["XLA_FLAGS"] = (
            # (orbjax workers add the YNNPACK switch: runtime.tune_cpu)
            "--xla_cpu_multi_thread_eigen=false"
        )
    return env


def pin(threads: int):
    """Restrict a worker to `threads` cores (the same ones for every worker). XLA:CPU keeps
    helper threads even with one intra-op thread; pinning gives both libraries the same
    hardware, so wall-time ratios compare equal resources."""
    cores = sorted(os.sched_getaffinity(0))[:threads]
    return lambda: os.sched_setaffinity(0, cores)


class Worker:
    """A benchmark worker process speaking the one-JSON-line-per-request protocol."""

    def __init__(self, name, python, module, spec, workdir, threads, log):
        self.name = name
        path = Path(workdir) / f"{name}.json"
        path.write_text(json.dumps(spec))
        self.stderr = open(Path(workdir) / f"{name}.stderr", "w")
        self.proc = subprocess.Popen(
            [python, "-m", f"benchmarks.{module}", "worker", str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            cwd=ROOT,
            env=thread_env(threads),
            preexec_fn=pin(threads),
        )
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
                raise RuntimeError(
                    f"worker {self.name} died (exit {self.proc.returncode}):\n{tail}"
                )
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
        order = workers[r % len(workers) :] + workers[: r % len(workers)]
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
        "orbjax_orbital_head": dict(
            impl="orbjax",
            variant="orbital",
            config=str(ROOT / "configs" / "default.py"),
            data=str(labelled),
        ),
        "orbjax_energy_only": dict(
            impl="orbjax",
            variant="energy_only",
            config=str(ROOT / "configs" / "energy_only.py"),
            data=str(labelled),
        ),
        # the orbital head reading the last layer's full features (ModelConfig.orbital_features)
        "orbjax_orbital_last_layer": dict(
            impl="orbjax",
            variant="orbital_last_layer",
            config=str(ROOT / "configs" / "default.py"),
            data=str(labelled),
            overrides={"model.orbital_features": "last_layer"},
        ),
        # orbjax's XLA flags but glibc's default allocator: the same malloc as the MACE workers
        "orbjax_energy_only_glibc_malloc": dict(
            impl="orbjax",
            variant="energy_only",
            malloc="glibc",
            config=str(ROOT / "configs" / "energy_only.py"),
            data=str(labelled),
        ),
    }
    if not args.skip_mace:
        for corr in (3, 1):
            specs[f"mace_correlation{corr}"] = dict(
                impl="mace", correlation=corr, cutoff=config.model.cutoff, data=str(args.data)
            )
    workers = []
    try:
        for name, spec in specs.items():
            python = args.mace_python if spec["impl"] == "mace" else sys.executable
            workers.append(
                Worker(
                    f"train_{name}",
                    python,
                    "train_step",
                    {**spec, **common},
                    workdir,
                    args.threads,
                    log,
                )
            )
            workers[-1].ready()  # one sets up (compiles) at a time, so compile times are not shared
        setups = {w.name: w.setup for w in workers}
        runs = alternate(workers, args.rounds, log)
    finally:
        for w in workers:
            w.close()
    out = {
        "n_structures": n_structures,
        "n_atoms": n_atoms,
        "n_batches": len(batches),
        "batch_size": bs,
        "budgets": [str(b) for b in budgets],
        "impls": {},
    }
    for w in workers:
        passes = runs[w.name]
        wall = [sum(p["step_s"]) for p in passes]
        cpu = [sum(p["cpu_s"]) for p in passes]
        out["impls"][w.name.removeprefix("train_")] = {
            "setup": setups[w.name],
            "pass_wall_s": wall,
            "pass_cpu_s": cpu,
            "median_pass_wall_s": float(np.median(wall)),
            "median_pass_cpu_s": float(np.median(cpu)),
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
        specs = {
            "orbjax": dict(
                impl="orbjax", config=str(ROOT / "configs" / "default.py"), data=str(labelled)
            ),
            # the jitted MD loop with the on-device neighbour list (md_scaling.orbjax_jit_worker)
            "orbjax_jit": dict(
                impl="orbjax_jit", config=str(ROOT / "configs" / "default.py"), data=str(labelled)
            ),
        }
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
            elif (
                name in last_step
                and last_step[name][1] * n_atoms / last_step[name][0] > args.md_max_step_s
            ):
                why = f"extrapolated step > {args.md_max_step_s} s"
            elif (
                name in last_rss
                and last_rss[name][1] * n_atoms / last_rss[name][0] > 1024 * args.md_max_rss_gib
            ):
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
                    spec = dict(
                        spec,
                        n=n,
                        steps=args.md_steps,
                        budget_s=args.md_budget_s,
                        threads=args.threads,
                        avg_num_neighbors=11.33,
                    )
                    alive.append(
                        Worker(
                            f"md{n_atoms}_{name}",
                            python,
                            "md_scaling",
                            spec,
                            workdir,
                            args.threads,
                            log,
                        )
                    )
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
            entry = {
                "setup": setups[w.name],
                "step_s": steps,
                "cpu_s": cpu,
                "median_step_s": float(np.median(steps)),
                "median_cpu_s": float(np.median(cpu)),
                "per_round_median_s": [float(np.median(p["step_s"])) for p in passes],
                "us_per_atom": 1e6 * float(np.median(steps)) / n_atoms,
                "peak_rss_mb": max(p["peak_rss_mb"] for p in passes),
            }
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
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.compilation",
        str(labelled),
        "--config",
        str(ROOT / "configs" / "default.py"),
        "--epochs",
        str(args.compile_epochs),
    ]
    out = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=thread_env(args.threads),
        preexec_fn=pin(args.threads),
    )
    if out.returncode:
        raise RuntimeError(f"compilation.py failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def labelling_results(args, log) -> list[dict]:
    path = HERE / "labelling.csv"
    if args.run_labelling or not path.exists():
        log("labelling: running benchmarks/labelling.py")
        subprocess.run([sys.executable, "-m", "benchmarks.labelling"], check=True, cwd=ROOT)
    with open(path) as f:
        return list(csv.DictReader(f))


def label_chno(args, workdir, log) -> Path:
    """GFN1-xTB orbital labels for the CHNO set (the orbital head's training target)."""
    out = Path(workdir) / "chno_gfn1.h5"
    code = (
        "import sys; from orbjax.data.readers import read_structures, CHNO_KEYS; "
        "from orbjax.labels.runner import label_structures; "
        f"r = label_structures(read_structures({str(args.data)!r}, keys=CHNO_KEYS), "
        f"{str(out)!r}, progress=False); "
        "sys.exit(r.n_failed != 0)"
    )
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
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "os": platform.platform(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "GLIBC_TUNABLES": GLIBC_TUNABLES,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--mace-python", default=MACE_PYTHON)
    p.add_argument("--skip-mace", action="store_true")
    p.add_argument(
        "--threads", type=int, default=1, help="threads per worker (1: robust on a shared machine)"
    )
    p.add_argument("--rounds", type=int, default=5, help="alternating passes per train worker")
    p.add_argument(
        "--md-sizes", type=lambda s: tuple(int(x) for x in s.split(",")), default=MD_SIZES
    )
    p.add_argument("--md-rounds", type=int, default=2)
    p.add_argument(
        "--md-steps",
        type=int,
        default=5,
        help="MD steps per pass (fewer if --md-budget-s runs out)",
    )
    p.add_argument("--md-budget-s", type=float, default=20.0)
    p.add_argument(
        "--md-max-step-s", type=float, default=60.0, help="skip sizes whose step would take longer"
    )
    p.add_argument(
        "--md-corr1-max-atoms",
        type=int,
        default=1100,
        help="largest box for mace correlation 1 and orbjax with glibc's allocator",
    )
    p.add_argument(
        "--md-max-rss-gib",
        type=float,
        default=20.0,
        help="skip a size whose peak memory, extrapolated linearly from the last size, "
        "exceeds this",
    )
    p.add_argument(
        "--md-together-max-atoms",
        type=int,
        default=5000,
        help="larger boxes run one implementation at a time (memory)",
    )
    p.add_argument("--compile-epochs", type=int, default=2)
    p.add_argument(
        "--run-labelling",
        action="store_true",
        help="re-run labelling.py instead of reading its CSV",
    )
    p.add_argument("--only", default="train,md,compile,label")
    p.add_argument("--out", type=Path, default=HERE)
    p.add_argument(
        "--report-only", type=Path, help="rewrite RESULTS.md/results.csv from a results.json"
    )
    p.add_argument(
        "--update",
        action="store_true",
        help="re-measure only the --only sections and merge them into OUT/results.json; the report "
        "names the date, load and commit of every section measured later than the rest",
    )
    args = p.parse_args()
    if args.report_only:
        write_report(json.loads(args.report_only.read_text()), args.out)
        return
    if not args.skip_mace and not Path(args.mace_python).exists():
        sys.exit(f"{args.mace_python} not found: create it (see README.md) or pass --skip-mace")
    only = set(args.only.split(","))
    t_start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t_start:7.1f} s] {msg}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    results = {
        "machine": machine(),
        "load_avg_start": os.getloadavg(),
        "threads": args.threads,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
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


# ----------------------------------------------------------------------------- partial re-runs


def merge_sections(old: dict, new: dict) -> dict:
    """`old` with the sections measured in `new` replaced, each stamped with its own run."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
    except OSError:
        commit = ""
    merged = dict(old)
    stamp = {
        "date": new["machine"]["date"],
        "load_avg": [new["load_avg_start"][0], new["load_avg_end"][0]],
        "wall_s": new["wall_s"],
        "commit": commit,
        "args": new["args"],
    }
    for section in SECTIONS:
        if section in new:
            merged[section] = new[section]
            merged.setdefault("section_runs", {})[section] = stamp
    return merged


if __name__ == "__main__":
    main()
