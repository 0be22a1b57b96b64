"""The tables of experiments/pretraining/decisive.py from synthetic runs: the pretraining-size
curve (paired by seed against scratch at its converged budget, on the seeds every size has),
the data-efficiency factor on scratch's converged curve, and the orbital target's effect."""

import json

import numpy as np
import pytest

from experiments.pretraining import decisive


def _row(arm, n, seed, energy, forces, budget="1x"):
    lr = json.loads((decisive.RESULTS / "recipe_choice.json").read_text())["learning_rate"]
    return {
        "arm": arm,
        "n_train": n,
        "seed": seed,
        "budget": budget,
        "learning_rate": lr if arm != "scratch" else 5e-3,
        "test_energy_mae": energy,
        "test_forces_mae": forces,
    }


def test_size_curve_pairs_each_size_with_scratch_on_shared_seeds():
    rng = np.random.default_rng(0)
    scratch = {s: 60.0 + 5 * s for s in range(5)}
    rows = [_row("scratch", 50, s, e, 300.0, budget="2x") for s, e in scratch.items()]
    rows += [_row("scratch", 50, s, 99.0, 300.0, budget="1x") for s in range(5)]  # not compared
    factor = {"finetuned_efo": 0.8, "finetuned_efo_5000mol": 0.6, "finetuned_efo_10000mol": 0.5}
    for arm, f in factor.items():
        seeds = range(5) if arm == "finetuned_efo" else range(3)  # seeds 3–4: smallest size only
        rows += [_row(arm, 50, s, f * scratch[s] * rng.uniform(0.95, 1.05), 150.0) for s in seeds]
    budget_rows = [
        {"arm": "scratch", "n_train": 50, "budget": "2x", "doubled": "4x", "converged_5pct": True}
    ]
    table = decisive.size_curve(rows, budget_rows)
    assert [r["arm"] for r in table] == list(factor)
    for r in table:
        assert r["seeds"] == "0 1 2" and r["scratch_budget"] == "2x"
        assert r["energy_ratio"] == pytest.approx(factor[r["arm"]], rel=0.06)
        assert r["forces_ratio"] == pytest.approx(0.5)
        assert r["pretrain_frames"] == 5 * r["pretrain_molecules"]
    more_data = [r["energy_ratio"] for r in table]
    assert more_data == sorted(more_data, reverse=True)


def test_size_curve_needs_every_size():
    rows = [_row("scratch", 50, s, 60.0, 300.0) for s in range(3)]
    rows += [_row("finetuned_efo", 50, s, 40.0, 150.0) for s in range(3)]
    assert decisive.size_curve(rows, []) == []


def _converged(n, budget):
    return {
        "arm": "scratch",
        "n_train": n,
        "budget": budget,
        "doubled": "?",
        "converged_5pct": True,
    }


def test_efficiency_on_the_converged_scratch_curve_interpolates_and_never_extrapolates():
    def scratch_error(n):  # a power law: log-log interpolation is exact on it
        return 100.0 * (n / 50) ** -0.5

    rows = [_row("scratch", 50, s, scratch_error(50), 300.0, budget="2x") for s in range(3)]
    rows += [_row("scratch", 200, s, scratch_error(200), 200.0, budget="4x") for s in range(3)]
    rows += [_row("scratch", 200, s, 1.0, 200.0, budget="1x") for s in range(3)]  # not converged
    rows += [_row("finetuned_efo", 50, s, scratch_error(100), 150.0) for s in range(3)]
    rows += [_row("finetuned_efo", 200, s, 0.5 * scratch_error(200), 150.0) for s in range(3)]
    table = decisive.efficiency_converged(rows, [_converged(50, "2x"), _converged(200, "4x")])
    at = {r["n_train"]: r for r in table}
    assert at[50]["scratch_n_same_error"] == pytest.approx(100.0)
    assert at[50]["efficiency_factor"] == pytest.approx(2.0)
    assert at[50]["ci_low"] == pytest.approx(2.0) and at[50]["outside_share"] == 0
    assert np.isnan(at[200]["efficiency_factor"]) and at[200]["outside_share"] == 1


def test_orbital_target_pairs_the_two_pretrained_arms_by_seed():
    rows = [_row("finetuned_ef", 50, s, 40.0 + s, 150.0) for s in range(5)]
    rows += [_row("finetuned_efo", 50, s, 1.1 * (40.0 + s), 150.0) for s in range(4)]
    (energy, forces) = decisive.orbital_target(rows)
    assert energy["n_seeds"] == 4 and energy["ratio"] == pytest.approx(1.1)
    assert energy["n_efo_better"] == 0 and forces["ratio"] == pytest.approx(1.0)


def test_arm_names_each_known_pretrained_model_and_refuses_an_unknown_one(tmp_path):
    from experiments.common.runs import Run

    def run(model):
        spec = {"config_path": "configs/finetune.py", "overrides": {"init.model": model}}
        return Run(tmp_path / "seed=0", spec)

    models = "experiments/pretraining/models/pretrained"
    assert decisive._arm(run(f"{models}/chno_gfn1_10k_efo.orbjax")) == "finetuned_efo"
    assert decisive._arm(run(f"{models}/chno_gfn1_10k_ef.orbjax")) == "finetuned_ef"
    assert decisive._arm(run(f"{models}/chno_gfn1_5000mol_efo.orbjax")) == "finetuned_efo_5000mol"
    assert decisive._arm(run(f"{models}/chno_gfn1_10k_o.orbjax")) == "finetuned_o"
    assert decisive._arm(run(f"{models}/chno_denoise_10k.orbjax")) == "finetuned_denoise"
    assert decisive._arm(run("runs/pretrain/chno_gfn1_v0/model.orbjax")) == "finetuned_v0"
    with pytest.raises(ValueError, match="seed=0.*chno_gfn1_30k_denoise"):
        decisive._arm(run(f"{models}/chno_gfn1_30k_denoise.orbjax"))


def test_acac_pair_ratios_compare_the_full_pretraining_with_converged_scratch():
    """acac's rows: the full-pretraining arm over scratch at the budget the rule picks (4×
    here: 2× → 4× moved 20 %, 4× → 8× 2 %), paired by seed."""
    rows, val = [], {"1x": 80.0, "2x": 60.0, "4x": 48.0, "8x": 47.0}
    for s in range(3):
        for budget, v in val.items():
            r = _row("scratch", 50, s, v + s, 300.0, budget=budget)
            rows.append({**r, "val_energy_mae": v})
        rows.append(
            {**_row("finetuned_full_efo", 50, s, 0.5 * (48.0 + s), 150.0), "val_energy_mae": 30.0}
        )
    budget_rows = decisive.budgets(rows)
    assert decisive.converged_budget(budget_rows, "scratch", 50) == ("4x", True)
    (energy, forces) = decisive.ratios(rows, budget_rows)
    assert energy["arm"] == "finetuned_full_efo" and energy["scratch_budget"] == "4x"
    assert energy["ratio"] == pytest.approx(0.5) and forces["ratio"] == pytest.approx(0.5)
