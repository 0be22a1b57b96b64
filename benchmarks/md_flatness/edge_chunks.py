"""MD model call time and peak memory against the edge-chunk size (`Potential.edge_chunk`).

  GLIBC_TUNABLES=glibc.malloc.hugetlb=1 python -m benchmarks.md_flatness.edge_chunks \
      --sizes 7 15 22 --chunks 0 1024 4096 16384 --core 0

Runs `profile_md.py N --top 0 --edge-chunk C` (the ASE calculator's jitted model call:
energy, forces and stress of a periodic water box of 3N³ atoms, default model, one thread,
median of `--calls` calls after compilation) in a fresh process per (size, chunk), pinned
to `--core`, and writes `edge_chunks.csv` beside this file: atoms, real edges, chunk, call
time, µs per atom, peak RSS. A (size, chunk) already in the CSV is skipped (`--force` reruns).
Chunk 0 = the whole edge loop at once (orbjax before the chunked loop); `--max-whole-atoms`
skips it above that size (its memory grows ~0.5 MiB per atom).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CSV = os.path.join(HERE, "edge_chunks.csv")
FIELDS = [
    "n",
    "atoms",
    "real_edges",
    "edge_chunk",
    "call_ms",
    "us_per_atom",
    "peak_rss_mib",
    "calls",
    "date",
    "commit",
    "load_avg",
]
LINE = re.compile(
    r"(\d+) atoms \(\w+ order, edge chunk (\d+)\).*real edges (\d+): model call median "
    r"([\d.]+) ms = "
    r"(\d+) µs/atom, peak RSS (\d+) MiB"
)


def measure(n: int, chunk: int, core: int, calls: int) -> dict:
    cmd = [
        "taskset",
        "-c",
        str(core),
        sys.executable,
        os.path.join(HERE, "profile_md.py"),
        str(n),
        "--top",
        "0",
        "--calls",
        str(calls),
        "--edge-chunk",
        str(chunk),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    match = LINE.search(out.stdout)
    if out.returncode or not match:
        raise RuntimeError(
            f"profile_md.py {n} --edge-chunk {chunk} "
            f"failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}"
        )
    atoms, chunk_, edges, ms, us, rss = match.groups()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout
    return {
        "n": n,
        "atoms": int(atoms),
        "real_edges": int(edges),
        "edge_chunk": int(chunk_),
        "call_ms": float(ms),
        "us_per_atom": int(us),
        "peak_rss_mib": int(rss),
        "calls": calls,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "commit": commit.strip(),
        "load_avg": f"{os.getloadavg()[0]:.2f}",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[7, 15, 22])
    p.add_argument("--chunks", type=int, nargs="+", default=[0, 1024, 4096, 16384])
    p.add_argument("--core", type=int, default=0)
    p.add_argument("--calls", type=int, default=5)
    p.add_argument("--max-whole-atoms", type=int, default=12000)
    p.add_argument("--force", action="store_true")
    args = p.parse_args()
    rows = list(csv.DictReader(open(CSV))) if os.path.exists(CSV) else []
    done = {(int(r["n"]), int(r["edge_chunk"])) for r in rows}
    for n in args.sizes:
        for chunk in args.chunks:
            if (n, chunk) in done and not args.force:
                continue
            if chunk == 0 and 3 * n**3 > args.max_whole_atoms:
                print(
                    f"n={n}: whole edge loop skipped ({3 * n**3} atoms > --max-whole-atoms)",
                    flush=True,
                )
                continue
            row = measure(n, chunk, args.core, args.calls)
            print(row, flush=True)
            rows = [r for r in rows if (int(r["n"]), int(r["edge_chunk"])) != (n, chunk)] + [row]
            rows.sort(key=lambda r: (int(r["n"]), int(r["edge_chunk"])))
            with open(CSV, "w", newline="") as f:
                w = csv.DictWriter(f, FIELDS)
                w.writeheader()
                w.writerows(rows)


if __name__ == "__main__":
    main()
