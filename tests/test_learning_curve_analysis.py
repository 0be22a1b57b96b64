"""Pieces of the learning-curve analysis (experiments/learning_curves/: collect, statistics)
that decide which runs a committed CSV holds and how its intervals are drawn."""

import numpy as np

from experiments.common import stats
from experiments.learning_curves import collect, score_unused, statistics


def test_merge_keeps_committed_runs_and_replaces_recollected_ones():
    old = [
        {"name": "a", "v": "1"},
        {"name": "b", "v": "1"},
        {"name": "b", "v": "2"},
        {"name": "c", "v": "1"},
    ]
    new = [{"name": "b", "v": "9"}, {"name": "d", "v": "9"}]
    merged = collect.merge_by_name(old, new)
    # a and c (not collected now) survive in place; b's two curve rows become new's one row; d is
    # appended.
    assert [(r["name"], r["v"]) for r in merged] == [("a", "1"), ("b", "9"), ("c", "1"), ("d", "9")]
    assert collect.merge_by_name([], new) == new
    assert collect.merge_by_name(old, []) == old


def test_bootstrap_stream_depends_on_its_cell_only():
    values = np.log(np.array([0.9, 1.1, 0.8, 1.0, 0.95]))
    first = stats.bootstrap_ci(
        values, np.mean, stats.cell_rng("chno", "orbital", 50, "test", "energy_mae")
    )
    # Drawing other cells' intervals in between (a new variant in the group) changes nothing.
    stats.bootstrap_ci(values, np.mean, stats.cell_rng("chno", "shell", 50, "test", "energy_mae"))
    again = stats.bootstrap_ci(
        values, np.mean, stats.cell_rng("chno", "orbital", 50, "test", "energy_mae")
    )
    other = stats.bootstrap_ci(
        values, np.mean, stats.cell_rng("chno", "orbital", 200, "test", "energy_mae")
    )
    assert first == again
    assert first != other


def _grid(errors):
    """{(variant, n): {seed: row}} from {(variant, n, seed): test energy error}."""
    grid = {}
    for (variant, n, seed), err in errors.items():
        grid.setdefault((variant, n), {})[seed] = {
            "test_energy_mae": str(err),
            "test_forces_mae": str(err),
        }
    return grid


def test_shuffled_control_pairs_with_its_own_weight():
    grid = _grid(
        {
            (v, 50, 0): 1.0
            for v in (
                "energy_only",
                "orbital[w=1000]",
                "orbital_shuffled[w=1000]",
                "orbital_shuffled[w=10]",
                "orbital",
            )
        }
    )
    # The w=10 shuffled run has no real counterpart; weight-100 `orbital` has no shuffled one.
    assert statistics.shuffled_pairs(grid) == [("orbital[w=1000]", "orbital_shuffled[w=1000]")]


def test_pooled_ratio_takes_the_seed_as_its_unit():
    errors = {}
    for seed, gains in {0: (0.9, 0.8), 1: (1.0, 1.0), 2: (0.81, 1.0)}.items():
        for n, gain in zip((50, 200), gains):
            errors[("energy_only", n, seed)] = 2.0
            errors[("orbital", n, seed)] = 2.0 * gain
    errors[("energy_only", 400, 0)] = 2.0  # a size with one arm only is left out
    (row,) = [
        r
        for r in statistics.pooled_over_sizes("chno", _grid(errors), [("orbital", "energy_only")])
        if r["test_set"] == "test" and r["metric"] == "energy_mae"
    ]
    per_seed = np.array([np.log(0.72) / 2, 0.0, np.log(0.81) / 2])  # each seed's mean log ratio
    assert (row["n_seeds"], row["n_pairs"], row["seeds_better"], row["pairs_better"]) == (
        3,
        6,
        2,
        3,
    )
    np.testing.assert_allclose(row["ratio"], np.exp(per_seed.mean()), rtol=1e-12)
    lo, hi = stats.t_interval(per_seed)  # over 3 seeds, not over the 6 seed-size pairs
    np.testing.assert_allclose([row["t_ci_low"], row["t_ci_high"]], np.exp([lo, hi]), rtol=1e-12)


def test_longer_budget_pairs_each_arm_with_its_own_short_run(monkeypatch):
    def rows(group):
        long = group.endswith("_long")
        out = []
        for seed in (0, 1, 2):
            for variant, err in (("energy_only", 2.0), ("orbital[w=1000]", 1.8)):
                if long:
                    err = {"energy_only": 1.0, "orbital[w=1000]": 1.1}[variant]
                if long and seed == 2:
                    continue  # not trained at 4x: left out of both budgets' numbers
                out.append(
                    {
                        "variant": variant,
                        "n": 400,
                        "seed": seed,
                        "train.num_steps": 16000 if long else 4000,
                        "test_energy_mae": err * (1 + 0.1 * seed),
                        "test_forces_mae": err,
                    }
                )
        return out

    monkeypatch.setattr(statistics, "load_runs", rows)
    monkeypatch.setitem(statistics.TEST_SETS, "chno", ("test",))
    by_variant = {(r["variant"], r["metric"]): r for r in statistics.longer_budget("chno")}
    eo, orbital = (
        by_variant[("energy_only", "energy_mae")],
        by_variant[("orbital[w=1000]", "energy_mae")],
    )
    assert (eo["n_seeds"], eo["steps_1x"], eo["steps_4x"]) == (
        2,
        4000,
        16000,
    ) and "ratio_1x" not in eo
    np.testing.assert_allclose([eo["mean_1x"], eo["mean_4x"], eo["gain_4x"]], [2.1, 1.05, 0.5])
    # The orbital model leads at the short budget (0.9) and trails at the long one (1.1), on both
    # seeds.
    np.testing.assert_allclose([orbital["ratio_1x"], orbital["ratio_4x"]], [0.9, 1.1])
    assert (orbital["better_1x"], orbital["better_4x"]) == (2, 0)


def test_log_ratio_summary_is_the_geometric_mean_with_a_t_interval():
    ratios = np.array([0.9, 0.8, 1.1])
    summary = stats.log_ratio_summary(np.log(ratios), suffix="_4x", better="better")
    assert summary["ratio_4x"] == np.exp(np.log(ratios).mean())
    assert summary["t_ci_low_4x"] < summary["ratio_4x"] < summary["t_ci_high_4x"]
    assert summary["better_4x"] == 2 and summary["per_seed_4x"] == "0.900 0.800 1.100"
    one = stats.log_ratio_summary(np.log([0.9]))  # one seed: a ratio, no interval
    assert abs(one["ratio"] - 0.9) < 1e-12
    assert np.isnan(one["t_ci_low"]) and np.isnan(one["t_ci_high"])


def test_unused_frame_ratios_pair_the_arms_by_size_and_seed():
    """score_unused.ratios: orbital / energy-only on the frames both arms of one (n, seed) left
    unused; a seed with only one arm is left out, and each comparison reads its own sweeps."""

    def row(sweep, config, n, seed, energy, forces=100.0):
        return dict(
            sweep=sweep,
            config=config,
            n_train=n,
            seed=seed,
            n_frames=400 - n,
            unused_energy_mae=energy,
            unused_forces_mae=forces,
            test_energy_mae=2 * energy,
            test_forces_mae=forces,
        )

    scored = [
        row("acac", "energy_only", 50, 0, 10.0),
        row("acac_w3000", "orbital", 50, 0, 8.0),
        row("acac", "energy_only", 50, 1, 10.0),
        row("acac_w3000", "orbital", 50, 1, 12.5),
        row("acac_w3000", "orbital", 50, 2, 1.0),  # no energy-only partner: not counted
        row("acac", "orbital", 50, 0, 20.0),
    ]  # the w100 comparison, seed 0 only
    out = {(r["comparison"], r["test_set"], r["metric"]): r for r in score_unused.ratios(scored)}
    w3000 = out[("w3000 (1x)", "unused", "energy_mae")]
    assert w3000["n_seeds"] == 2 and w3000["n_frames"] == 350 and w3000["n_better"] == 1
    assert abs(w3000["ratio"] - np.sqrt(0.8 * 1.25)) < 1e-12 and w3000["per_seed"] == "0.800 1.250"
    assert out[("w3000 (1x)", "unused", "forces_mae")]["ratio"] == 1.0
    assert out[("w100 (1x)", "test", "energy_mae")]["ratio"] == 2.0
    assert not any(k[0] == "w3000 (4x)" for k in out)  # no long_small rows given


def test_weight_scan_keeps_one_row_of_identical_scan_and_curve_runs():
    """The scan's run at the chosen weight and the curve's seed-0 run are the same config: one
    row when their numbers agree exactly, both (visibly) when they do not."""

    def run(sweep, name, config, weight, val, test=1.0, n=50, seed=0):
        return {
            "sweep": sweep,
            "name": name,
            "config": config,
            "seed": seed,
            "n": n,
            "selected_step": "500",
            statistics.WEIGHT: weight,
            "test_energy_mae": str(test),
            "test_forces_mae": "10",
        }, {
            (sweep, name): {
                "energy_mae": [(250, 9.0), (500, val)],
                "forces_mae": [(250, 90.0), (500, 80.0)],
            }
        }

    rows, curves = [], {}
    for sweep, name, config, weight, val, test in [
        ("d_weights", "w1000", "orbital", "1000.0", 2.0, 1.5),
        ("d_w1000", "s0", "orbital", "1000.0", 2.0, 1.5),
        ("d", "eo", "energy_only", "", 3.0, 2.0),
        ("d", "eo1", "energy_only", "", 3.0, 2.0),
    ]:
        row, curve = run(sweep, name, config, weight, val, test, seed=1 if name == "eo1" else 0)
        rows.append(row)
        curves.update(curve)
    out = statistics.weight_choice("d", rows, curves)
    # seed 1 is not scanned
    assert [(r["weight"], r["val_energy_mae"]) for r in out] == [(0.0, 3.0), (1000.0, 2.0)]
    rows[1]["test_energy_mae"] = "1.6"  # the same config disagreeing: both rows stay
    assert [r["weight"] for r in statistics.weight_choice("d", rows, curves)] == [
        0.0,
        1000.0,
        1000.0,
    ]
