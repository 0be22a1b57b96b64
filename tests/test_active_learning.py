"""experiments/active_learning: the rounds' bookkeeping, the selection, resume and analysis.

Training is replaced by a stand-in that writes untrained configs/test.py members which differ
only in nitrogen's embedding, so only structures with N have a committee spread: a toy pool
whose N-containing frames are planted among N-free copies (N swapped for O). Its test errors
follow err = A·n^-1/2, 10 % higher for random selection after the shared round 0, so the
data-efficiency factor is known exactly (1.1² = 1.21). One slow test trains for real.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from experiments.active_learning import analyse, run
from orbjax.data.readers import example_path
from tests.test_model_core import ROOT
from tests.test_select import nitrogen_committee

SPECIES = (1, 6, 7, 8)
PLANTED_MOLECULES = ("105", "199", "251")  # keep their N; the pool's other molecules lose it
POOL_MOLECULES = ("10", "105", "199", "251", "327", "380", "425", "501", "585")
VAL_MOLECULES, TEST_MOLECULES = ("637", "703"), ("752", "823")
K = 2


def _frames(path) -> list[list[str]]:
    lines = Path(path).read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        n = int(lines[i])
        out.append(lines[i : i + n + 2])
        i += n + 2
    return out


def _mol_id(frame) -> str:
    return frame[1].split("mol_id=")[1].split()[0]


def _write(path, frames, keep_nitrogen=lambda frame: True):
    """The frames as extxyz text; N swapped for O in those `keep_nitrogen` rejects."""
    text = []
    for frame in frames:
        keep = keep_nitrogen(frame)
        text += frame[:2] + [
            a if keep or not a.startswith("N ") else "O" + a[1:] for a in frame[2:]
        ]
    Path(path).write_text("\n".join(text) + "\n")


def toy_dataset(folder: Path) -> run.Dataset:
    frames = _frames(example_path())
    pool = [f for f in frames if _mol_id(f) in POOL_MOLECULES]
    _write(folder / "pool.extxyz", pool, lambda f: _mol_id(f) in PLANTED_MOLECULES)
    _write(folder / "val.extxyz", [f for f in frames if _mol_id(f) in VAL_MOLECULES])
    _write(folder / "test.extxyz", [f for f in frames if _mol_id(f) in TEST_MOLECULES])
    return run.Dataset(
        "toy",
        str(ROOT / "configs" / "test.py"),
        n0=4,
        k=K,
        n_max=8,
        steps=4,
        overrides={
            "data.train_path": str(folder / "pool.extxyz"),
            "data.val_path": str(folder / "val.extxyz"),
            "data.test_path": str(folder / "test.extxyz"),
            "data.test_fraction": 0.0,
            "data.val_fraction": 0.0,
        },
    )


def fake_trainer(models, calls):
    def train_members(specs, workers):
        for j, spec in enumerate(specs):
            workdir = Path(spec["workdir"])
            if (workdir / "final_metrics.json").exists():
                continue
            calls.append(spec["workdir"])
            workdir.mkdir(parents=True, exist_ok=True)
            shutil.copy(models[j % len(models)], workdir / "model.orbjax")
            n = len(run.read_indices(Path(spec["overrides"]["data.train_indices"])))
            worse = 1.1 if "/random/" in spec["workdir"] else 1.0
            final = {
                "test_energy_mae": worse * 40.0 / np.sqrt(n),
                "test_forces_mae": worse * 400.0 / np.sqrt(n),
            }
            (workdir / "final_metrics.json").write_text(json.dumps(final))
            (workdir / "metrics.csv").write_text(
                f"step,split,metric,value\n4,time,process_cpu_s,{1.5 + j}\n"
            )

    return train_members


def label_free_spy(original, seen):
    def spy(committee, frames, *args, **kwargs):
        for atoms in frames:
            seen.append(atoms)
            # no labels of any kind: numbers and positions only, no calculator, no info
            assert atoms.calc is None and not atoms.info
            assert set(atoms.arrays) == {"numbers", "positions"}
        return original(committee, frames, *args, **kwargs)

    return spy


ARGS = SimpleNamespace(members=2, rounds_until=None, workers=0, committee_score=True)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """Every strategy, seeds 0 and 1 (committee and random) or 0 (diversity), to n_max."""
    import orbjax.select

    folder = tmp_path_factory.mktemp("al")
    dataset = toy_dataset(folder)
    models = nitrogen_committee(folder)
    calls, seen = [], []
    root = folder / "runs"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(run, "train_members", fake_trainer(models, calls))
        mp.setattr(orbjax.select, "select", label_free_spy(orbjax.select.select, seen))
        mp.setattr(
            orbjax.select,
            "mean_descriptors",
            label_free_spy(orbjax.select.mean_descriptors, seen),
        )
        for strategy, seed in [
            ("committee", 0),
            ("random", 0),
            ("diversity", 0),
            ("committee", 1),
            ("random", 1),
        ]:
            run.run(dataset, strategy, seed, ARGS, root)
    return SimpleNamespace(dataset=dataset, models=models, root=root, calls=calls, seen=seen)


def _round_dirs(root, strategy, seed):
    base = root / "toy" / strategy / f"seed{seed}"
    return [base / f"round{r}" for r in range(len(list(base.glob("round*"))))]


def test_round0_is_the_same_draw_and_committee_for_every_strategy(campaign):
    first = {s: _round_dirs(campaign.root, s, 0)[0] for s in ("committee", "random", "diversity")}
    indices = {s: run.read_indices(d / "indices.txt") for s, d in first.items()}
    assert len(indices["committee"]) == campaign.dataset.n0
    assert all(np.array_equal(i, indices["committee"]) for i in indices.values())
    workdirs = {s: json.loads((d / "round.json").read_text())["members"] for s, d in first.items()}
    assert len({tuple(w) for w in workdirs.values()}) == 1  # trained once, shared
    assert "/initial/" in workdirs["committee"][0]
    scores = {
        s: json.loads((d / "round.json").read_text())["committee_test_energy_mae"]
        for s, d in first.items()
    }
    assert len(set(scores.values())) == 1  # scored once, beside the shared members
    assert (Path(workdirs["committee"][0]).parent.parent / "committee_test.json").exists()
    seed1 = run.read_indices(_round_dirs(campaign.root, "committee", 1)[0] / "indices.txt")
    assert not np.array_equal(seed1, indices["committee"])  # another seed, another draw


@pytest.mark.parametrize("strategy", ["committee", "random", "diversity"])
def test_each_round_adds_k_new_pool_structures(campaign, strategy):
    dirs = _round_dirs(campaign.root, strategy, 0)
    sizes = [len(run.read_indices(d / "indices.txt")) for d in dirs]
    assert sizes == [4, 6, 8]
    n_pool = 3 * len(POOL_MOLECULES)
    for before, after in zip(dirs, dirs[1:]):
        old = run.read_indices(before / "indices.txt")
        new = run.read_indices(after / "indices.txt")
        chosen = run.read_indices(before / "chosen.txt")
        assert len(chosen) == K and len(set(chosen)) == K
        assert not set(chosen) & set(old)
        assert np.array_equal(new, np.union1d(old, chosen))
        assert new.min() >= 0 and new.max() < n_pool
    assert not (dirs[-1] / "chosen.txt").exists()  # the last size chooses nothing
    assert all((d / run.DONE).exists() for d in dirs)


def test_committee_picks_the_planted_uncertain_frames(campaign):
    structures, _ = run.training_pool(campaign.dataset)
    planted = {i for i, s in enumerate(structures) if 7 in s.atomic_numbers}
    assert len(planted) == 3 * len(PLANTED_MOLECULES)
    for seed in (0, 1):
        for d in _round_dirs(campaign.root, "committee", seed)[:-1]:
            left = planted - set(run.read_indices(d / "indices.txt"))
            assert len(left) >= 3 * K  # the uncertain pool of select() is all planted
            chosen = set(run.read_indices(d / "chosen.txt"))
            assert chosen <= planted
            spreads = json.loads((d / "round.json").read_text())["selection"]["max_force_std"]
            assert min(spreads) > 0


def test_selection_sees_no_labels(campaign):
    assert campaign.seen  # the spies were called (and asserted on every frame)
    assert all(a.calc is None for a in campaign.seen)


def test_pool_of_a_split_file_excludes_validation_and_test(tmp_path):
    from orbjax.sweep import build_config
    from orbjax.training.data import split_structures

    dataset = run.Dataset(
        "split",
        str(ROOT / "configs" / "test.py"),
        n0=4,
        k=2,
        n_max=8,
        steps=4,
        overrides={"data.split_seed": 0, "data.test_fraction": 0.2},
    )
    structures, pool = run.training_pool(dataset)
    spec = run.base_spec(dataset)
    spec["overrides"]["data.n_train"] = 0
    splits = split_structures(build_config(spec).data, seed=3)
    held_out = {s.name for s in splits.val + splits.test}
    assert held_out and len(pool) + len(held_out) == len(structures)
    assert not {structures[i].name for i in pool} & held_out


def test_rerun_is_a_no_op(campaign):
    import orbjax.select

    done = {p: p.stat().st_mtime_ns for p in campaign.root.rglob(run.DONE)}

    def refuse(*args, **kwargs):
        raise AssertionError("a finished round was redone")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(run, "train_members", refuse)
        mp.setattr(orbjax.select, "select", refuse)
        mp.setattr(run, "choose", refuse)
        dirs = run.run(campaign.dataset, "committee", 0, ARGS, campaign.root)
    assert len(dirs) == 3
    assert {p: p.stat().st_mtime_ns for p in campaign.root.rglob(run.DONE)} == done
    assert len(campaign.calls) == len(set(campaign.calls))  # no member trained twice


def test_analyse_writes_every_round_and_the_known_efficiency(campaign, tmp_path):
    results, md = tmp_path / "results", tmp_path / "RESULTS.md"
    md.write_text(
        "".join(f"<!-- table: {n} -->\n<!-- end table -->\n" for n in analyse.renderers(results))
    )
    assert (
        analyse.main(
            ["--root", str(campaign.root), "--results", str(results)]
            + [
                "--results-md",
                str(md),
            ]
        )
        == 0
    )
    rows = analyse.read_rows(results / "runs.csv")
    rounds = {(r["strategy"], r["seed"], r["round"]) for r in rows}
    assert len(rounds) == 5 * 3
    assert len(rows) == 5 * 3 * (2 + 1)  # two members and the committee mean per round
    members = [r for r in rows if r["member"] != "mean"]
    assert all(float(r["cpu_s"]) > 0 for r in members)
    summary = analyse.read_rows(results / "summary.csv")
    assert {(r["strategy"], r["n_labelled"]) for r in summary} == {
        (s, str(n)) for s in ("committee", "random", "diversity") for n in (4, 6, 8)
    }
    eff = {(r["metric"], r["n_labelled"]): r for r in analyse.read_rows(results / "efficiency.csv")}
    for metric in analyse.METRICS:
        # round 0 is shared: equal at n = 4; then random reaches committee's error at 1.21 n
        assert float(eff[metric, "4"]["factor"]) == 1.0
        row = eff[metric, "6"]
        assert float(row["factor"]) == pytest.approx(1.21, rel=1e-6)
        assert float(row["boot_low"]) == pytest.approx(1.21, rel=1e-6)
        assert eff[metric, "8"]["factor"] == "inf"  # beyond random's largest size
    text = md.read_text()
    assert "| toy | committee | 4 |" in text and "1.21" in text


def test_crossing_interpolates_in_log_log_and_never_extrapolates():
    sizes, errors = [10, 20, 40], [4.0, 2.0, 1.0]
    assert analyse.crossing(sizes, errors, 2.0) == pytest.approx(20)
    assert analyse.crossing(sizes, errors, np.sqrt(2.0)) == pytest.approx(np.sqrt(2) * 20)
    assert analyse.crossing(sizes, errors, 0.5) == float("inf")
    assert analyse.crossing(sizes, errors, 5.0) == 0.0
    assert analyse.crossing(sizes, errors, 4.0) == 10  # equal at the first size


def test_one_budget_rule_from_the_learning_curves():
    table = run.sizes_steps(run.DATASETS["acac"])
    assert run.step_budget(25, table) == 1000 and run.step_budget(200, table) == 3000
    assert run.step_budget(75, table) == 1750  # log-interpolated, on the 250-step grid
    with pytest.raises(ValueError):
        run.step_budget(800, table)


@pytest.mark.slow
def test_real_training_two_rounds(tmp_path):
    """The real trainer: configs/test.py members, 4 steps, round 0 and round 1."""
    dataset = dataclasses.replace(
        toy_dataset(tmp_path),
        overrides={
            **toy_dataset(tmp_path).overrides,
            "train.eval_every": 2,
            "train.checkpoint_every": 2,
            "train.log_every": 2,
            "optimizer.warmup_steps": 1,
        },
    )
    args = SimpleNamespace(members=2, rounds_until=1, workers=0, committee_score=True)
    dirs = run.run(dataset, "committee", 0, args, tmp_path / "runs")
    assert len(dirs) == 2 and all((d / run.DONE).exists() for d in dirs)
    rows = analyse.collect(tmp_path / "runs")
    assert len(rows) == 2 * 3 and all(np.isfinite(float(r["test_energy_mae"])) for r in rows)


def test_diversity_starts_far_from_the_labelled_set():
    from orbjax.select import farthest_point

    x = np.array([[0.0], [1.0], [5.0], [10.0], [10.0]])
    assert farthest_point(x, 3, reference=np.array([[0.0]])).tolist() == [3, 2, 1]
    assert farthest_point(x, 2, reference=np.array([[10.0]])).tolist() == [0, 2]
