"""CPU cost of the GFN1 sampler per molecule (`orbjax.labels.sampler.sample_molecule`).

    python -m benchmarks.sampler_cost [--pool PATH] [--n 10] [--out benchmarks/sampler_cost.csv]

The first N molecules of a SMILES pool (e.g. `pretrain_pool.txt`), embedded and sampled one
after another in this process with the default settings (5 frames 20 fs apart after 20 fs,
orbitals on), one thread: CPU seconds per molecule (embedding + 200 MD steps + labels).
"""

from __future__ import annotations

import argparse
import csv
import os
import time


def main(argv=None) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from orbjax.labels.sample_job import read_molecules
    from orbjax.labels.sampler import SampleSettings, embed_smiles, molecule_seed, sample_molecule

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pool", required=True, help="SMILES file (mol_id<TAB>SMILES)")
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "sampler_cost.csv"))
    args = p.parse_args(argv)
    rows = []
    for m in read_molecules(args.pool, limit=args.n):
        t = time.process_time()
        seed = molecule_seed(0, m.index)
        frames = sample_molecule(
            embed_smiles(m.smiles, seed, m.name, m.mol_id), seed, SampleSettings()
        )
        rows.append(
            {
                "mol_id": m.mol_id,
                "n_atoms": frames[0].n_atoms,
                "cpu_s": time.process_time() - t,
                "load_avg_1min": os.getloadavg()[0],
            }
        )
        print(rows[-1], flush=True)
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    mean = sum(r["cpu_s"] for r in rows) / len(rows)
    print(f"{len(rows)} molecules, {mean:.2f} CPU-s per molecule; wrote {args.out}")


if __name__ == "__main__":
    main()
