"""Summarise the device-machine run (`benchmarks/gpu/`) next to the one-core CPU numbers.

    python -m benchmarks.gpu_summary      # reads benchmarks/gpu/*, writes benchmarks/gpu/summary.md

Training: seconds per step between the first validation after compilation (step 1000) and
the last (step 4000), GPU run (`gpu/acac_time/metrics.csv`, 4,000-step schedule) against
orbjax's one-core CPU run of the same model on the same 400 acac frames
(`time_to_accuracy_curves.csv`, 48,000-step schedule: only the cost per step compares).
MD: the ASE-calculator path and the jitted loop per size (`gpu/md_gpu.csv`), and the
calculator's jitted predict alone against the neighbour-list force call
(`gpu/ase_path_diag.csv`).
"""

from __future__ import annotations

import csv
import os

HERE = os.path.dirname(os.path.abspath(__file__))
GPU = os.path.join(HERE, "gpu")


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def seconds_per_step_gpu(first=1000, last=4000):
    wall = {
        int(r["step"]): float(r["value"])
        for r in read(os.path.join(GPU, "acac_time", "metrics.csv"))
        if r["split"] == "time" and r["metric"] == "wall_s"
    }
    return (wall[last] - wall[first]) / (last - first)


def seconds_per_step_cpu(first=1000, last=4000):
    rows = {
        int(r["step_or_epoch"]): r
        for r in read(os.path.join(HERE, "time_to_accuracy_curves.csv"))
        if r["model"] == "orbjax" and r["run"] == "energy_only_steps48000"
    }
    return (
        (float(rows[last]["wall_s"]) - float(rows[first]["wall_s"])) / (last - first),
        (float(rows[last]["cpu_s"]) - float(rows[first]["cpu_s"])) / (last - first),
    )


def main() -> None:
    gpu_s = seconds_per_step_gpu()
    cpu_wall, cpu_cpu = seconds_per_step_cpu()
    lines = [
        "# Device-machine run (one H200), summarised by benchmarks/gpu_summary.py",
        "",
        "## Training step, default model, acac (400 frames), steps 1000-4000",
        "",
        "| machine | ms per step (wall) | steps/s |",
        "|---|---|---|",
        f"| H200 (jax CUDA) | {1e3 * gpu_s:.1f} | {1 / gpu_s:.0f} |",
        f"| one CPU core | {1e3 * cpu_wall:.1f} (process CPU {1e3 * cpu_cpu:.1f}) | "
        f"{1 / cpu_wall:.0f} |",
        "",
        f"GPU / one core speed-up: {cpu_wall / gpu_s:.1f}x",
        "",
        "## MD force call, periodic water, default model (no charge heads)",
        "",
        "| atoms | ASE path ms/step | jitted loop ms/step | ratio |",
        "|---|---|---|---|",
    ]
    md = read(os.path.join(GPU, "md_gpu.csv"))
    by = {(r["impl"], int(r["n_atoms"])): float(r["median_step_s"]) for r in md}
    for n in sorted({k[1] for k in by}):
        ase, jit = by.get(("orbjax", n)), by.get(("orbjax_jit", n))
        lines.append(
            f"| {n} | {'' if ase is None else f'{1e3 * ase:.1f}'} | "
            f"{'' if jit is None else f'{1e3 * jit:.1f}'} | "
            f"{'' if ase is None or jit is None else f'{ase / jit:.0f}'} |"
        )
    lines += [
        "",
        "## The calculator's jitted predict vs the neighbour-list force call (same potential)",
        "",
        "| atoms | edge_chunk | predict ms (stress) | predict ms (no stress) | neighbour-list "
        "call ms | ratio "
        "| 4 bytes × padded edges² / predict time (TB/s) |",
        "|---|---|---|---|---|---|---|",
    ]
    diag = read(os.path.join(GPU, "ase_path_diag.csv"))
    cases, edges = {}, {}
    for r in diag:
        key = (int(r["n_atoms"]), int(r["edge_chunk"]))
        name = r["path"] + (
            "_stress" if r["path"] == "ase_predict" and r["stress"] == "True" else ""
        )
        cases.setdefault(key, {})[name] = 1e3 * float(r["median_s"])
        if r["path"] == "ase_predict":
            edges[key] = int(r["n_edge_padded"])
    for (n, chunk), c in sorted(cases.items()):
        s, ns, nl = c.get("ase_predict_stress"), c.get("ase_predict"), c.get("neighbour_list_efs")
        fmt = lambda v: "" if v is None else f"{v:.1f}"  # noqa: E731
        # An O(E²) pass over the padded edges (the cumulative sum of the old graph index) reading
        # 4-byte words would take this memory rate: constant across sizes if it is the cost.
        rate = "" if s is None else f"{4 * edges[(n, chunk)] ** 2 / (s / 1e3) / 1e12:.1f}"
        lines.append(
            f"| {n} | {chunk} | {fmt(s)} | {fmt(ns)} | {fmt(nl)} | "
            f"{'' if s is None or nl is None else f'{s / nl:.0f}'} | {rate} |"
        )
    out = os.path.join(GPU, "summary.md")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
