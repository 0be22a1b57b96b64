"""Stage 3: does the orbital model's latent space cluster the metals by chemistry more than
controls?

    python -m experiments.metals.latent [--sweep runs/metals/decisive] [--atoms-per-element 300]
    python -m experiments.metals.latent --sweep runs/metals/long   # the 6,000-step models

Models: every finished run of the sweep (energy_only, orbital, orbital_shuffled; one per
seed) and, as the floor, untrained weights (the orbital architecture with the trained
models' statistics, initialised with seeds 0–2). Atoms: a fixed sample (`--sample-seed`) of
up to A atoms per element from every labelled frame (train, val and test: the map is of the
chemistry, not a score), drawn evenly over the element's structures.

Per model, on the per-atom invariant features the energy readout reads
(`Potential.descriptors`), z-scored per feature over the sample:
- silhouette (scikit-learn, euclidean) of the labelling by element (trivially high: the
  species embedding alone separates elements), by group and by block on all atoms, and by
  group on the six elements that share a group with another (Mo–W, Nb–Ta, Si–Ge): this
  one asks whether same-group elements sit closer than other elements, which the species
  embedding alone does not give;
- centroid ratio: mean distance between element centroids of the same group over the mean
  distance between centroids of different groups, over those six elements (< 1: same-group
  elements are closer);
- nearest-partner hits: of those six elements, how many have their group partner as the
  nearest other centroid (0–6; chance ≈ 1.2).
Writes results/latent_scores.csv (one row per model), results/latent_summary.csv (mean,
t-interval over seeds and paired differences to the orbital model) and UMAP maps
(umap-learn) of seed 0 of each variant, coloured by element and by group,
figures/latent_<variant>.png; another sweep than `decisive` adds its name to each file
(latent_scores_long.csv, figures/latent_long_<variant>.png). Resumes: features are cached
per model in runs/metals/latent_cache/ (the untrained floor is shared by all sweeps).
"""

from __future__ import annotations

import argparse
import csv
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from experiments.common.tables import write_csv
from experiments.metals.seed_tables import finished_runs, seed_interval

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "experiments" / "metals"
GROUP = {"Li": 1, "Ni": 10, "Cu": 11, "Nb": 5, "Ta": 5, "Mo": 6, "W": 6, "Si": 14, "Ge": 14}
BLOCK = {
    "Li": "s",
    "Ni": "d",
    "Cu": "d",
    "Nb": "d",
    "Ta": "d",
    "Mo": "d",
    "W": "d",
    "Si": "p",
    "Ge": "p",
}
PERIOD = {"Li": 2, "Si": 3, "Ni": 4, "Cu": 4, "Ge": 4, "Nb": 5, "Mo": 5, "Ta": 6, "W": 6}
PAIRED = ("Nb", "Ta", "Mo", "W", "Si", "Ge")


def structures(data: Path):
    from orbjax.data.dataset import read_dataset

    out = []
    for split in ("train", "val", "test"):
        out += read_dataset(data / f"{split}.h5")[0]
    return out


def sample_atoms(structs, per_element: int, seed: int) -> list[tuple[int, int, str]]:
    """[(structure index, atom index, symbol)], up to `per_element` atoms of each element,
    spread evenly over the structures that contain it."""
    from ase.data import chemical_symbols

    rng = np.random.default_rng(seed)
    by_element = defaultdict(list)
    for si, s in enumerate(structs):
        for ai, z in enumerate(s.atomic_numbers):
            by_element[chemical_symbols[int(z)]].append((si, ai))
    chosen = []
    for symbol in sorted(by_element):
        pool = by_element[symbol]
        per_structure = defaultdict(list)
        for si, ai in pool:
            per_structure[si].append(ai)
        order = rng.permutation(sorted(per_structure))
        picks, k = [], 0
        while len(picks) < min(per_element, len(pool)):  # round-robin over structures
            si = order[k % len(order)]
            atoms = per_structure[si]
            if atoms:
                picks.append((int(si), atoms.pop(int(rng.integers(len(atoms))))))
            k += 1
        chosen += [(si, ai, symbol) for si, ai in picks]
    return chosen


def features(potential, structs, sample) -> np.ndarray:
    needed = sorted({si for si, _, _ in sample})
    per_structure = {
        si: potential.descriptors(
            structs[si].positions, structs[si].atomic_numbers, structs[si].cell, structs[si].pbc
        )
        for si in needed
    }
    return np.stack([per_structure[si][ai] for si, ai, _ in sample])


def untrained(potential, structs, seed: int):
    """The same architecture and statistics with freshly initialised weights."""
    from orbjax.model.build import init_params

    fresh = init_params(potential.model, seed)
    return potential.replace(variables={**potential.variables, "params": fresh["params"]})


def scores(x: np.ndarray, symbols: list[str]) -> dict[str, float]:
    from sklearn.metrics import silhouette_score

    std = x.std(axis=0)
    z = (x[:, std > 1e-8] - x[:, std > 1e-8].mean(axis=0)) / std[std > 1e-8]
    symbols = np.asarray(symbols)
    out = {
        "silhouette_element": silhouette_score(z, symbols),
        "silhouette_group": silhouette_score(z, [GROUP[s] for s in symbols]),
        "silhouette_block": silhouette_score(z, [BLOCK[s] for s in symbols]),
        "silhouette_period": silhouette_score(z, [PERIOD[s] for s in symbols]),
    }
    paired = np.isin(symbols, PAIRED)
    out["silhouette_group_paired"] = silhouette_score(
        z[paired], [GROUP[s] for s in symbols[paired]]
    )
    centroids = {s: z[symbols == s].mean(axis=0) for s in PAIRED}
    same, other, hits = [], [], 0
    for a in PAIRED:
        dists = {b: float(np.linalg.norm(centroids[a] - centroids[b])) for b in PAIRED if b != a}
        hits += int(GROUP[min(dists, key=dists.get)] == GROUP[a])
        for b, d in dists.items():
            (same if GROUP[a] == GROUP[b] else other).append(d)
    out["centroid_ratio"] = float(np.mean(same) / np.mean(other))
    out["nearest_partner_hits"] = hits
    return {k: float(v) for k, v in out.items()}


def models(sweep: Path):
    for variant, seed, _, run in finished_runs(sweep):
        yield variant, seed, run


def umap_figure(x, symbols, variant, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import umap

    std = x.std(axis=0)
    z = (x[:, std > 1e-8] - x[:, std > 1e-8].mean(axis=0)) / std[std > 1e-8]
    xy = umap.UMAP(n_neighbors=30, min_dist=0.3, random_state=0).fit_transform(z)
    symbols = np.asarray(symbols)
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, (title, key) in zip(
        axes, (("element", lambda s: s), ("group", lambda s: f"group {GROUP[s]}"))
    ):
        labels = [key(s) for s in symbols]
        for i, lab in enumerate(sorted(set(labels), key=str)):
            m = np.asarray(labels) == lab
            ax.scatter(xy[m, 0], xy[m, 1], s=3, label=lab, color=plt.cm.tab10(i % 10))
        ax.set_title(f"{variant}: coloured by {title}")
        ax.legend(markerscale=4, fontsize=7)
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def summarise(rows: list[dict]) -> list[dict]:
    metrics = [k for k in rows[0] if k not in ("variant", "seed", "n_atoms")]
    by_variant = defaultdict(dict)
    for r in rows:
        by_variant[r["variant"]][r["seed"]] = r
    out = []
    for variant, seeds in sorted(by_variant.items()):
        for m in metrics:
            values = np.array([seeds[s][m] for s in sorted(seeds)])
            row = {
                "variant": variant,
                "metric": m,
                "n_seeds": len(values),
                "mean": values.mean(),
                **seed_interval(values),
            }
            ref = by_variant.get("orbital", {})
            common = sorted(set(seeds) & set(ref))
            if variant != "orbital" and common:
                diff = np.array([ref[s][m] - seeds[s][m] for s in common])
                row.update(
                    {
                        "orbital_minus_this": diff.mean(),
                        **{f"diff_{k}": v for k, v in seed_interval(diff).items()},
                    }
                )
            out.append(row)
    return out


def main() -> None:
    import orbjax

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweep", type=Path, default=ROOT / "runs" / "metals" / "decisive")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "metals")
    parser.add_argument("--atoms-per-element", type=int, default=300)
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--untrained-seeds", type=int, default=3)
    args = parser.parse_args()
    structs = structures(args.data)
    sample = sample_atoms(structs, args.atoms_per_element, args.sample_seed)
    symbols = [s for _, _, s in sample]
    cache = ROOT / "runs" / "metals" / "latent_cache"
    cache.mkdir(parents=True, exist_ok=True)
    found = list(models(args.sweep))
    jobs = list(found)
    template = next((run for v, _, run in found if v == "orbital"), None)
    if template is not None:
        jobs += [("untrained", seed, template) for seed in range(args.untrained_seeds)]
    rows, firsts = [], {}
    tag = "" if args.sweep.name == "decisive" else f"_{args.sweep.name}"
    for variant, seed, run in jobs:
        # untrained: shared
        prefix = f"{args.sweep.name}_" if tag and variant != "untrained" else ""
        path = (
            cache / f"{prefix}{variant}_seed{seed}_{args.sample_seed}_{args.atoms_per_element}.npy"
        )
        if not path.exists():
            potential = orbjax.load_potential(str(run / "model.orbjax"))
            if variant == "untrained":
                potential = untrained(potential, structs, seed)
            np.save(path, features(potential, structs, sample))
        x = np.load(path)
        rows.append(
            {"variant": variant, "seed": seed, "n_atoms": len(sample), **scores(x, symbols)}
        )
        firsts.setdefault(variant, x)
        print(rows[-1], flush=True)
    results = HERE / "results"
    write_csv(results / f"latent_scores{tag}.csv", rows, digits=4)
    write_csv(results / f"latent_summary{tag}.csv", summarise(rows), digits=4)
    with open(results / "latent_sample.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["structure", "atom", "element", "config_type", "split"])
        w.writerows(
            [
                (
                    si,
                    ai,
                    sym,
                    structs[si].info.get("config_type", ""),
                    structs[si].info.get("split", ""),
                )
                for si, ai, sym in sample
            ]
        )
    for variant, x in firsts.items():
        umap_figure(x, symbols, variant, HERE / "figures" / f"latent{tag}_{variant}.png")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
