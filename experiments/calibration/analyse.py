"""Stage 2 of the calibration study: rank correlation, calibration scale, binned calibration.

    python -m experiments.calibration.analyse      # after score.py; then results_md.py

Reads `results/atoms.csv.gz` and `results/structures.csv.gz` (score.py) and writes:

- `results/spearman.csv`: Spearman ρ of the committee's spread against the error of its mean,
  per (dataset, n, split, stratum, metric), with a 95 % bootstrap percentile interval
  (`experiments.common.stats.bootstrap_ci`, `N_BOOT` resamples, one stream per cell). Metrics:
  `atom_force` σ_F,i vs |ΔF_i| over atoms; `structure_max_force` max_i σ_F,i vs max_i |ΔF_i|;
  `structure_energy` σ_E vs |ΔE|/n. Resampled units: molecules (all frames of a `mol_id`
  together) for CHNO, whose three frames per molecule are correlated; frames for acac (one
  molecule). Strata: `all`; per element (`Z=1` …); for CHNO per molecule size (`size 3-10`,
  `size 11-14`, `size 15-21` atoms), which sets the per-structure maxima. acac molecules all
  have 15 atoms, so only the element strata apply there.
- `results/scales.csv` and `results/committees/<dataset>_n<N>.json`: the calibration scale of
  each committee fitted on its validation split — s_F minimises the Gaussian negative
  log-likelihood of the force error components under ΔF_iα ~ N(0, (s σ_F,i)²/3), i.e.
  s_F² = mean_i |ΔF_i|² / σ_F,i²; s_E likewise for ΔE/n ~ N(0, (s σ_E)²) — beside the ratio of
  RMS error to RMS spread, and on every split the calibrated z = sqrt(mean |ΔF|²/(s σ)²) (1 is
  calibrated), the NLL per component raw and calibrated, and the coverage of the 68/90/95 %
  intervals (|ΔF_i| ≤ s σ_F,i sqrt(χ²₃(q)/3)). The JSON files are what
  `orbjax.load_committee(paths, calibration=FILE)` reads.
- `results/binned.csv`: per (dataset, n, split) the atoms in `N_BINS` equal-count bins of the
  calibrated spread s σ_F,i: RMS predicted (s σ_F,i) vs RMS observed |ΔF_i| (eV/Å).
- `figures/calibration_<dataset>.png`: those bins, one panel per split, one line per n.
"""

from __future__ import annotations

import json
import time

import numpy as np

from experiments.calibration.score import ARM, HERE, RESULTS, read_gz, record_stage
from experiments.common.stats import bootstrap_ci, cell_rng
from experiments.common.tables import write_csv

N_BOOT = 1000  # per cell; a cell of ~7500 atoms takes ~1 s
N_BINS = 8
SIZE_STRATA = ((3, 10), (11, 14), (15, 21))  # atoms per molecule (CHNO: 4–21)
SPLITS = ("val", "test", "shifted")
COVERAGE = (0.68, 0.90, 0.95)
ELEMENT = {1: "H", 6: "C", 7: "N", 8: "O"}


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import rankdata

    if len(x) < 3:
        return float("nan")
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def _group_index(groups: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """(unique groups, row indices of each)."""
    keys, inverse = np.unique(groups, return_inverse=True)
    return keys, [np.flatnonzero(inverse == k) for k in range(len(keys))]


def rho_with_interval(x, y, groups, key) -> dict:
    """Spearman ρ of (x, y) and its bootstrap interval over whole groups (molecules or frames)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    _, members = _group_index(np.asarray(groups))
    lo, hi = bootstrap_ci(
        np.arange(len(members)),
        lambda pick: spearman(*_gather(x, y, members, pick)),
        cell_rng(*key),
        N_BOOT,
    )
    return dict(rho=spearman(x, y), ci_low=lo, ci_high=hi, n_points=len(x), n_groups=len(members))


def _gather(x, y, members, pick):
    rows = np.concatenate([members[i] for i in pick])
    return x[rows], y[rows]


def strata(dataset: str, n_atoms: np.ndarray, z: np.ndarray | None) -> list[tuple[str, np.ndarray]]:
    out = [("all", np.ones(len(n_atoms), bool))]
    if dataset != "acac":
        out += [(f"size {a}-{b}", (n_atoms >= a) & (n_atoms <= b)) for a, b in SIZE_STRATA]
    if z is not None:
        out += [(f"Z={ELEMENT.get(k, k)}", z == k) for k in sorted(set(z.tolist()))]
    return out


def columns(rows: list[dict], *names, dtype=float) -> list[np.ndarray]:
    return [np.array([r[k] for r in rows], dtype) for k in names]


def fit_scale(err: np.ndarray, sigma: np.ndarray) -> float:
    """argmin_s of the Gaussian NLL of errors with std s·σ: sqrt(mean(err²/σ²)) (err² summed
    over the components, σ² their total variance)."""
    return float(np.sqrt(np.mean(err**2 / sigma**2)))


def nll_per_component(df: np.ndarray, sigma: np.ndarray) -> float:
    """Mean NLL per force component of ΔF_iα ~ N(0, σ_i²/3) (nats)."""
    var = sigma**2 / 3
    return float(np.mean(0.5 * np.log(2 * np.pi * var) + df**2 / (6 * var)))


def analyse_committee(dataset, n, atoms, structures) -> tuple[list, dict, list, list]:
    from scipy.stats import chi2

    spear, binned, scale_rows = [], [], []
    mol = {
        (r["split"], int(r["structure"])): (r["mol_id"] if dataset != "acac" else r["structure"])
        for r in structures
    }
    val = [r for r in atoms if r["split"] == "val"]
    sf_val, df_val = columns(val, "sigma_f", "abs_df")
    s_f = fit_scale(df_val, sf_val)
    vs = [r for r in structures if r["split"] == "val"]
    se_val, de_val = columns(vs, "sigma_e", "abs_de")
    s_e = fit_scale(de_val, se_val)
    scale = dict(
        dataset=dataset,
        n=n,
        M=int(atoms[0]["M"]),
        s_forces=s_f,
        s_forces_rms_ratio=float(np.sqrt(np.mean(df_val**2)) / np.sqrt(np.mean(sf_val**2))),
        s_energy=s_e,
    )
    for split in SPLITS:
        a = [r for r in atoms if r["split"] == split]
        s = [r for r in structures if r["split"] == split]
        if not a:
            continue
        sf, df = columns(a, "sigma_f", "abs_df")
        n_at, z, idx = columns(a, "n_atoms", "Z", "structure", dtype=int)
        groups = np.array([str(mol[(split, i)]) for i in idx])
        for name, mask in strata(dataset, n_at, z):
            if mask.sum() < 3:
                continue
            spear.append(
                dict(
                    dataset=dataset,
                    n=n,
                    split=split,
                    stratum=name,
                    metric="atom_force",
                    **rho_with_interval(
                        sf[mask], df[mask], groups[mask], (dataset, n, split, name, "atom")
                    ),
                )
            )
        s_n, s_idx = columns(s, "n_atoms", "structure", dtype=int)
        s_groups = np.array([str(mol[(split, i)]) for i in s_idx])
        for metric, (xs, ys) in {
            "structure_max_force": ("max_sigma_f", "max_abs_df"),
            "structure_energy": ("sigma_e", "abs_de"),
        }.items():
            x, y = columns(s, xs, ys)
            for name, mask in strata(dataset, s_n, None):
                if mask.sum() < 3:
                    continue
                spear.append(
                    dict(
                        dataset=dataset,
                        n=n,
                        split=split,
                        stratum=name,
                        metric=metric,
                        **rho_with_interval(
                            x[mask], y[mask], s_groups[mask], (dataset, n, split, name, metric)
                        ),
                    )
                )
        se, de = columns(s, "sigma_e", "abs_de")
        row = dict(
            dataset=dataset,
            n=n,
            M=scale["M"],
            split=split,
            n_structures=len(s),
            n_atoms=len(a),
            rmse_forces=float(np.sqrt(np.mean(df**2 / 3))),
            rms_sigma_forces=float(np.sqrt(np.mean(sf**2 / 3))),
            z_raw=fit_scale(df, sf),
            z_calibrated=fit_scale(df, s_f * sf),
            nll_raw=nll_per_component(df, sf),
            nll_calibrated=nll_per_component(df, s_f * sf),
            z_energy_calibrated=fit_scale(de, s_e * se),
        )
        for q in COVERAGE:
            bound = s_f * sf * np.sqrt(chi2.ppf(q, 3) / 3)
            row[f"coverage_{int(q * 100)}"] = float(np.mean(df <= bound))
        scale_rows.append(row)
        order = np.argsort(s_f * sf)
        for b, chunk in enumerate(np.array_split(order, N_BINS)):
            binned.append(
                dict(
                    dataset=dataset,
                    n=n,
                    split=split,
                    bin=b,
                    n_atoms=len(chunk),
                    predicted_rms=float(np.sqrt(np.mean((s_f * sf[chunk]) ** 2))),
                    observed_rms=float(np.sqrt(np.mean(df[chunk] ** 2))),
                    raw_rms=float(np.sqrt(np.mean(sf[chunk] ** 2))),
                )
            )
    return spear, scale, scale_rows, binned


def plot(dataset: str, binned: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, len(SPLITS), figsize=(4.2 * len(SPLITS), 4), squeeze=False)
    sizes = sorted({r["n"] for r in binned})
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(sizes)))
    for ax, split in zip(axes[0], SPLITS):
        lo, hi = np.inf, 0.0
        for colour, n in zip(colours, sizes):
            rows = [r for r in binned if r["n"] == n and r["split"] == split]
            if not rows:
                continue
            x = np.array([r["predicted_rms"] for r in rows])
            y = np.array([r["observed_rms"] for r in rows])
            ax.plot(x, y, "o-", color=colour, label=f"n={n}", ms=3)
            lo, hi = min(lo, x.min(), y.min()), max(hi, x.max(), y.max())
        if hi > 0:
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="calibrated")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(f"{dataset}: {split}")
        ax.set_xlabel("RMS calibrated spread s·σ_F,i (eV/Å)")
        ax.set_ylabel("RMS |ΔF_i| (eV/Å)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{dataset}: {N_BINS} equal-count bins of atoms; s fitted on val per committee")
    fig.tight_layout()
    (HERE / "figures").mkdir(exist_ok=True)
    fig.savefig(HERE / "figures" / f"calibration_{dataset}.png", dpi=100)
    plt.close(fig)


def main() -> None:
    started = (time.time(), time.process_time())
    atoms = read_gz(RESULTS / "atoms.csv.gz")
    structures = read_gz(RESULTS / "structures.csv.gz")
    keys = list(dict.fromkeys((r["dataset"], int(r["n"])) for r in structures))
    by_atoms: dict = {k: [] for k in keys}
    by_structures: dict = {k: [] for k in keys}
    for r in atoms:
        by_atoms[(r["dataset"], int(r["n"]))].append(r)
    for r in structures:
        by_structures[(r["dataset"], int(r["n"]))].append(r)
    spear, scales, per_split, binned = [], [], [], []
    out = RESULTS / "committees"
    out.mkdir(parents=True, exist_ok=True)
    for dataset, n in keys:
        t0 = time.time()
        s, scale, rows, b = analyse_committee(
            dataset, n, by_atoms[(dataset, n)], by_structures[(dataset, n)]
        )
        spear += s
        scales.append(scale)
        per_split += rows
        binned += b
        (out / f"{dataset}_n{n}.json").write_text(
            json.dumps(
                {
                    "forces": round(scale["s_forces"], 4),
                    "energy": round(scale["s_energy"], 4),
                    "members": f"experiments/learning_curves/models/{dataset}/{ARM}/n{n}/seed*",
                    "fitted_on": "validation split; Gaussian NLL of the errors, std = s * spread",
                },
                indent=1,
            )
            + "\n"
        )
        print(f"{dataset} n={n}: s_F {scale['s_forces']:.2f}, {time.time() - t0:.0f} s", flush=True)
    write_csv(RESULTS / "spearman.csv", spear)
    write_csv(
        RESULTS / "scales.csv",
        [
            {**s, **r}
            for r in per_split
            for s in scales
            if (s["dataset"], s["n"]) == (r["dataset"], r["n"])
        ],
    )
    write_csv(RESULTS / "binned.csv", binned)
    for dataset in dict.fromkeys(d for d, _ in keys):
        plot(dataset, [r for r in binned if r["dataset"] == dataset])
    record_stage("analyse", started, f"{len(keys)} committees, {len(spear)} Spearman cells")


if __name__ == "__main__":
    main()
