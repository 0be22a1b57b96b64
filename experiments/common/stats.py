"""Seed statistics, written once for every study.

Every comparison in the studies is paired by seed: a seed fixes the initialisation and the
training subsample for every variant, so the unit of evidence is one seed's log ratio
err(variant) / err(baseline). A comparison is summarised by the geometric mean of those
ratios with a 95 % Student-t interval; with 2–5 seeds a bootstrap interval has only a
handful of distinct resamples and is too narrow to trust alone, so it is given beside it.
"""

from __future__ import annotations

import zlib

import numpy as np

N_BOOT = 10000


def t_interval(values: np.ndarray) -> tuple[float, float]:
    """95 % Student-t interval of the mean of `values` (NaN for fewer than two): with a few
    seeds it says how little they pin down."""
    from scipy import stats

    values = np.asarray(values, float)
    if len(values) < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def bootstrap_ci(
    values: np.ndarray, stat, rng: np.random.Generator, n_boot: int = N_BOOT
) -> tuple[float, float]:
    """95 % percentile interval of `stat` over resamples (with replacement) of `values`' rows."""
    if len(values) < 2:
        return float("nan"), float("nan")
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    stats = np.array([stat(values[i]) for i in idx])
    return float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))


def cell_rng(*key) -> np.random.Generator:
    """A bootstrap stream of its own per table cell (e.g. dataset, variant, size, test set,
    metric): a cell's interval does not move when other cells are added or removed."""
    return np.random.default_rng(zlib.crc32("|".join(map(str, key)).encode()))


def paired_log_ratios(values: dict, base: dict) -> tuple[list, np.ndarray]:
    """(seeds, log(values[s] / base[s]) per seed) over the seeds both {seed: error} dicts have."""
    seeds = sorted(set(values) & set(base))
    return seeds, np.log([values[s] / base[s] for s in seeds])


def log_ratio_summary(log_ratio: np.ndarray, suffix: str = "", better: str = "n_better") -> dict:
    """The one summary of paired log ratios every table uses: the geometric-mean ratio, its
    95 % t interval, how many pairs are below 1 (key `better`) and each pair's ratio; `suffix`
    is appended to every key (e.g. "_4x")."""
    lo, hi = t_interval(log_ratio)
    return {
        f"ratio{suffix}": float(np.exp(log_ratio.mean())),
        f"t_ci_low{suffix}": float(np.exp(lo)),
        f"t_ci_high{suffix}": float(np.exp(hi)),
        f"{better}{suffix}": int((log_ratio < 0).sum()),
        f"per_seed{suffix}": " ".join(f"{np.exp(x):.3f}" for x in log_ratio),
    }


def power_law(n: np.ndarray, err: np.ndarray) -> tuple[float, float]:
    """(a, b) of log err = a + b log n, least squares: a learning curve's fit."""
    b, a = np.polyfit(np.log(n), np.log(err), 1)
    return float(a), float(b)


def efficiency_factor(sizes, base_means, other_means, at: int) -> float:
    """n_base(err_other(at)) / at: how many more structures the baseline needs for the error
    the other variant reaches with `at`.

    Both curves are smoothed by their power-law fits (err = e^a n^b), so the factor at n is
    (fit_other(n) / fit_base(n))^(1/b_base): with shallow slopes (b ≈ −0.2 … −0.35) a few per
    cent in error is a sizeable factor in data, and so is its uncertainty."""
    n = np.array(sizes, float)
    a, b = power_law(n, np.array(base_means))
    a_o, b_o = power_law(n, np.array(other_means))
    target = a_o + b_o * np.log(at)  # log of the variant's fitted error at `at`
    return float(np.exp((target - a) / b) / at)


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a fraction (NaN for no trials): unlike the normal
    approximation it stays inside [0, 1] and is not empty at 0 or all successes."""
    if trials == 0:
        return float("nan"), float("nan")
    p = successes / trials
    centre = (p + z**2 / (2 * trials)) / (1 + z**2 / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / (1 + z**2 / trials)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
