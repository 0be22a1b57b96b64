"""The pretraining study's sweep kinds (configs/sweeps/pretraining.py): every kind the error
message names loads, each run reads one dataset's files, and every committed-model start
points at a file in the repository."""

import re
from pathlib import Path

import pytest

from orbjax import sweep as S

ROOT = Path(__file__).resolve().parents[1]
SWEEP = str(ROOT / "configs" / "sweeps" / "pretraining.py")


def _kinds() -> list[str]:
    with pytest.raises(ValueError, match="unknown kind") as err:
        S.load_sweep(f"{SWEEP}:nonsense")
    return re.findall(r"\w+", str(err.value).split(":", 1)[1])


def test_every_kind_loads_and_each_run_reads_one_dataset():
    kinds = _kinds()
    assert {"decisive", "scratch_large", "acac", "size"} <= set(kinds)
    for kind in kinds:
        runs = S.load_sweep(f"{SWEEP}:{kind}").runs
        assert runs, kind
        for run in runs:
            dataset = "acac" if "acac" in run["data.train_path"] else "chno_grown"
            assert kind != "acac" or dataset == "acac"
            if dataset == "acac":  # acac's fixed files, not the grown set's split
                assert "data.split_seed" not in run and "acac_test" in run["data.test_path"]
            model = run.get("init.model")
            if model and model.startswith("experiments/"):
                assert (ROOT / model).exists(), (kind, model)


def test_scratch_large_doubles_the_steps_at_each_seed():
    runs = S.load_sweep(f"{SWEEP}:scratch_large").runs
    steps = {(r["seed"], r["train.num_steps"]) for r in runs if r["data.n_train"] == 400}
    assert steps == {(s, f * 4000) for s in (0, 1, 2) for f in (4, 8)}


def test_the_analysis_knows_every_base_budget_the_sweeps_use():
    """A run's budget label is its steps over the learning curves' 1× budget at its n: every
    n of both datasets' curves must be there, with the curves' own steps."""
    from experiments.pretraining.analyse import BASE_STEPS
    from orbjax.config import load_config_module

    for name in ("lc_chno_grown", "lc_acac"):
        module = load_config_module(str(ROOT / "configs" / "sweeps" / f"{name}.py"))
        for n, steps in module.SIZES_STEPS:
            if n:
                assert BASE_STEPS[n] == steps, (name, n)
    for kind in _kinds():
        for run in S.load_sweep(f"{SWEEP}:{kind}").runs:
            assert run["train.num_steps"] % BASE_STEPS[run["data.n_train"]] == 0, (kind, run)


def test_each_kind_is_analysed_with_its_own_dataset():
    """The analysis reads every kind's sweep folder, acac's apart from the grown CHNO set's:
    a kind nobody reads, or acac rows in the CHNO tables, would go unnoticed."""
    from experiments.pretraining import decisive

    assert not set(decisive.SWEEPS) & set(decisive.ACAC_SWEEPS)
    for kind in _kinds():
        folder = Path(S.load_sweep(f"{SWEEP}:{kind}").sweep_dir).name
        read_by = decisive.ACAC_SWEEPS if kind == "acac" else decisive.SWEEPS
        assert folder in read_by, (kind, folder)
