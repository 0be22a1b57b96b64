"""Pieces of the learning-curve analysis (experiments/learning_curves/analyse.py) that decide
which runs a committed CSV holds and how its intervals are drawn."""
import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("orbjax_lc_analyse", ROOT / "experiments" / "learning_curves" / "analyse.py")
analyse = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = analyse
spec.loader.exec_module(analyse)


def test_merge_keeps_committed_runs_and_replaces_recollected_ones():
    old = [{"name": "a", "v": "1"}, {"name": "b", "v": "1"}, {"name": "b", "v": "2"}, {"name": "c", "v": "1"}]
    new = [{"name": "b", "v": "9"}, {"name": "d", "v": "9"}]
    merged = analyse.merge_by_name(old, new)
    # a and c (not collected now) survive in place; b's two curve rows become new's one row; d is appended.
    assert [(r["name"], r["v"]) for r in merged] == [("a", "1"), ("b", "9"), ("c", "1"), ("d", "9")]
    assert analyse.merge_by_name([], new) == new
    assert analyse.merge_by_name(old, []) == old


def test_bootstrap_stream_depends_on_its_cell_only():
    values = np.log(np.array([0.9, 1.1, 0.8, 1.0, 0.95]))
    first = analyse.bootstrap_ci(values, np.mean, analyse.cell_rng("chno", "orbital", 50, "test", "energy_mae"))
    # Drawing other cells' intervals in between (a new variant in the group) changes nothing.
    analyse.bootstrap_ci(values, np.mean, analyse.cell_rng("chno", "shell", 50, "test", "energy_mae"))
    again = analyse.bootstrap_ci(values, np.mean, analyse.cell_rng("chno", "orbital", 50, "test", "energy_mae"))
    other = analyse.bootstrap_ci(values, np.mean, analyse.cell_rng("chno", "orbital", 200, "test", "energy_mae"))
    assert first == again
    assert first != other


def _grid(errors):
    """{(variant, n): {seed: row}} from {(variant, n, seed): test energy error}."""
    grid = {}
    for (variant, n, seed), err in errors.items():
        grid.setdefault((variant, n), {})[seed] = {"test_energy_mae": str(err), "test_forces_mae": str(err)}
    return grid


def test_shuffled_control_pairs_with_its_own_weight():
    grid = _grid({(v, 50, 0): 1.0 for v in ("energy_only", "orbital[w=1000]", "orbital_shuffled[w=1000]",
                                              "orbital_shuffled[w=10]", "orbital")})
    # The w=10 shuffled run has no real counterpart; weight-100 `orbital` has no shuffled one.
    assert analyse.shuffled_pairs(grid) == [("orbital[w=1000]", "orbital_shuffled[w=1000]")]


def test_pooled_ratio_takes_the_seed_as_its_unit():
    errors = {}
    for seed, gains in {0: (0.9, 0.8), 1: (1.0, 1.0), 2: (0.81, 1.0)}.items():
        for n, gain in zip((50, 200), gains):
            errors[("energy_only", n, seed)] = 2.0
            errors[("orbital", n, seed)] = 2.0 * gain
    errors[("energy_only", 400, 0)] = 2.0  # a size with one arm only is left out
    (row,) = [r for r in analyse.pooled_over_sizes("chno", _grid(errors), [("orbital", "energy_only")])
              if r["test_set"] == "test" and r["metric"] == "energy_mae"]
    per_seed = np.array([np.log(0.72) / 2, 0.0, np.log(0.81) / 2])  # each seed's mean log ratio
    assert (row["n_seeds"], row["n_pairs"], row["seeds_better"], row["pairs_better"]) == (3, 6, 2, 3)
    np.testing.assert_allclose(row["ratio"], np.exp(per_seed.mean()), rtol=1e-12)
    lo, hi = analyse.t_interval(per_seed)  # over 3 seeds, not over the 6 seed-size pairs
    np.testing.assert_allclose([row["t_ci_low"], row["t_ci_high"]], np.exp([lo, hi]), rtol=1e-12)
