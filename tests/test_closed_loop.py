"""experiments/active_learning/closed_loop.py: the closed loop with the GFN1-xTB oracle.

Training is replaced by a stand-in that copies two untrained configs/test.py members which
differ only in hydrogen's embedding (so every acac frame has a committee spread); everything
else is real: GFN1 labels through the labeller, committee MD at 600 K with the blow-up check,
the threshold rule, both strategies' selection and the resume. One slow test trains for real.
Needs the prepared acac files under data/learning_curves/.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from experiments.active_learning import closed_loop as cl
from experiments.active_learning import run as al
from tests.test_select import two_member_committee

pytestmark = pytest.mark.skipif(
    not (cl.SOURCE / cl.POOL_FILE).exists(), reason="needs data/learning_curves (prepare.py)"
)
SPECIES = (1, 6, 8)
CAP = 2


def hydrogen_committee(folder: Path) -> list[Path]:
    """Two untrained member files, identical but for hydrogen's embedding."""
    return two_member_committee(folder, SPECIES, (-10.0, -40.0, -60.0), 1, 0.3)


def fake_trainer(models, specs_seen):
    def train_members(specs, workers):
        for j, spec in enumerate(specs):
            workdir = Path(spec["workdir"])
            if (workdir / "final_metrics.json").exists():
                continue
            specs_seen.append(spec)
            workdir.mkdir(parents=True, exist_ok=True)
            shutil.copy(models[j % len(models)], workdir / "model.orbjax")
            (workdir / "final_metrics.json").write_text("{}")

    return train_members


def argv(strategy, root, cache):
    return [
        "--strategy", strategy, "--seed", "0", "--tiny", "--members", "2", "--rounds", "1",
        "--cap", str(CAP), "--md-starts", "1", "--stability-runs", "0", "--threshold", "0",
        "--root", str(root), "--cache", str(cache),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("closed_loop")
    models = hydrogen_committee(folder)
    specs = []
    root, cache = folder / "runs", folder / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(al, "train_members", fake_trainer(models, specs))
        for strategy in cl.STRATEGIES:
            assert cl.main(argv(strategy, root, cache)) == 0
    return SimpleNamespace(
        root=root / "tiny", cache=cache, models=models, specs=specs, argv=(root, cache)
    )


def rounds(loop, strategy):
    return [
        json.loads((loop.root / strategy / "seed0" / f"round{r}" / "round.json").read_text())
        for r in (0, 1)
    ]


def test_round0_is_shared_by_both_strategies(loop):
    first = {s: rounds(loop, s)[0] for s in cl.STRATEGIES}
    shared = str(loop.root / "initial" / "seed0" / "round0")
    assert all(r["committee_dir"] == shared for r in first.values())
    assert first["committee"]["members"] == first["random"]["members"]
    trained = [s["workdir"] for s in loop.specs]
    assert sum("/initial/" in w for w in trained) == 2  # round 0 trained once
    assert len(trained) == 2 + 2 * 2  # + each strategy's round 1
    assert all(r["threshold_eV_A"] == first["committee"]["threshold_eV_A"] for s in cl.STRATEGIES
               for r in rounds(loop, s))  # fmt: skip


def test_a_rerun_with_other_settings_and_random_before_committee_are_refused(loop, tmp_path):
    root, cache = loop.argv
    with pytest.raises(SystemExit, match="md_steps"):  # finished MD runs would be reused
        cl.main([*argv("committee", root, cache), "--md-steps", "30"])
    fresh = tmp_path / "runs"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(al, "train_members", fake_trainer(loop.models, []))
        with pytest.raises(SystemExit, match="run --strategy committee"):
            cl.main(argv("random", fresh, cache))


def test_threshold_is_given_or_the_validation_percentile_of_round_0(loop, tmp_path, monkeypatch):
    import orbjax.select

    record = json.loads((loop.root / "initial/seed0/round0/threshold.json").read_text())
    assert record == {"threshold_eV_A": 0.0, "rule": "given (--threshold)"}
    val = next(loop.cache.glob("acac_val_gfn1*.h5"))
    spread = np.linspace(0.0, 1.0, 10)
    monkeypatch.setattr(orbjax.select, "committee_scores", lambda c, f: {"max_force_std": spread})
    rule = cl.threshold_of(tmp_path, None, val, cl.Settings())
    assert rule["threshold_eV_A"] == pytest.approx(np.percentile(spread, 95))
    assert "95th percentile" in rule["rule"] and "10 GFN1 validation frames" in rule["rule"]
    assert cl.threshold_of(tmp_path, None, val, cl.Settings()) == rule  # fixed once written
    with pytest.raises(ValueError, match="differs"):
        cl.threshold_of(tmp_path, None, val, cl.Settings(threshold=0.3))


def test_committee_labels_only_frames_above_the_threshold_and_at_most_cap(loop):
    from ase.io import read

    record = rounds(loop, "committee")[0]
    chosen = read(loop.root / "committee/seed0/round0/chosen.extxyz", index=":")
    assert record["n_crossed"] == record["n_candidates"] > CAP  # threshold 0: every frame
    assert record["n_labelled"] == len(chosen) == CAP
    assert all(f.info["max_force_std_eV_A"] > record["threshold_eV_A"] for f in chosen)
    assert all(f.info["step"] > 0 for f in chosen)  # never the (labelled) start frame
    grown = cl.read_labelled(loop.root / "committee/seed0/round1/train.h5")
    assert len(grown) == 25 + record["n_labelled"] == rounds(loop, "committee")[1]["n_train"]


def test_md_candidates_stop_at_a_blow_up(loop):
    record = rounds(loop, "committee")[0]
    for run in record["md_runs"]:
        folder = loop.root / "initial/seed0/round0/md" / f"run{run['run']}"
        stopped = folder / "stopped.json"
        assert (run["event"] is not None) == stopped.exists()
        last = json.loads(stopped.read_text())["step"] if stopped.exists() else 61
        assert run["n_frames"] == (last - 1) // 10  # steps 10, 20, … before the event
    assert record["n_candidates"] == sum(r["n_frames"] for r in record["md_runs"])


def test_analyse_writes_a_row_per_round(loop, tmp_path):
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("<!-- table: al_closed_loop -->\n<!-- end table -->\n")
    assert cl.main(["analyse", "--root", str(loop.root), "--results", str(tmp_path),
                    "--results-md", str(results_md)]) == 0  # fmt: skip
    rows = cl.collect(loop.root)
    assert [(r["strategy"], r["round"]) for r in rows] == [
        (s, r) for s in sorted(cl.STRATEGIES) for r in (0, 1)
    ]
    assert "| committee | 0 |" in results_md.read_text()


def test_random_labels_as_many_as_committee(loop):
    committee, random = rounds(loop, "committee")[0], rounds(loop, "random")[0]
    assert random["random_count_from"] == "committee"
    assert random["n_labelled"] == committee["n_labelled"]
    assert random["n_candidates"] == committee["n_candidates"]  # the same round-0 MD


def test_labels_are_gfn1_from_the_oracle_never_dft(loop):
    from orbjax.data.readers import read_structures
    from orbjax.data.structures import Structure
    from orbjax.labels.xtb import label_structure

    train = read_structures(str(loop.root / "initial/seed0/round0/train.h5"))
    assert {k for s in train for k in s.labels} == {"xtb_energy", "xtb_forces", "xtb_charges"}
    draw = al.read_indices(loop.root / "initial/seed0/round0/indices.txt")
    dft = cl.read_source(cl.POOL_FILE)[draw[0]]
    np.testing.assert_allclose(train[0].positions, dft.positions)
    direct = label_structure(
        Structure(atomic_numbers=train[0].atomic_numbers, positions=train[0].positions),
        orbitals=False,
    )
    assert float(train[0].labels["xtb_energy"]) == pytest.approx(float(direct["xtb_energy"]))
    np.testing.assert_allclose(train[0].labels["xtb_forces"], direct["xtb_forces"], atol=1e-8)
    assert abs(float(direct["xtb_energy"]) - float(dft.labels["energy"])) > 100.0  # eV
    chosen = read_structures(str(loop.root / "committee/seed0/round0/labelled.h5"))
    assert {k for s in chosen for k in s.labels} == {"xtb_energy", "xtb_forces", "xtb_charges"}
    for spec in loop.specs:  # every member trains on GFN1 with GFN1 reference energies
        o = spec["overrides"]
        assert (o["data.energy_key"], o["data.forces_key"]) == ("xtb_energy", "xtb_forces")
        assert o["data.isolated_atoms_path"] == "" and o["data.extra_tests"] == ""
        assert Path(o["data.val_path"]).parent == loop.cache.resolve()
        assert Path(o["data.test_path"]).parent == loop.cache.resolve()


def test_nothing_from_test600_enters_training(loop):
    from orbjax.labels.runner import structure_fingerprint

    test = {structure_fingerprint(s) for s in cl.geometry_only(cl.read_source(cl.TEST_FILE), "t")}
    for spec in loop.specs:
        train = cl.read_labelled(Path(spec["overrides"]["data.train_path"]))
        assert not test & {structure_fingerprint(s.replace(labels={})) for s in train}
        assert "test600" not in spec["overrides"]["data.train_path"]


def test_rerun_is_a_no_op(loop):
    done = sorted(loop.root.rglob(cl.DONE))
    stamps = [p.stat().st_mtime_ns for p in done]
    n = len(loop.specs)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(al, "train_members", fake_trainer(loop.models, loop.specs))
        for strategy in cl.STRATEGIES:
            assert cl.main(argv(strategy, *loop.argv)) == 0
    assert len(loop.specs) == n
    assert sorted(loop.root.rglob(cl.DONE)) == done
    assert [p.stat().st_mtime_ns for p in done] == stamps


def test_choose_committee_takes_the_crossing_frames_random_any():
    from ase import Atoms

    frames = [Atoms("H", info={"max_force_std_eV_A": x}) for x in (0.1, 0.5, 0.3, 0.05, 0.2)]
    picked, crossed = cl.choose("committee", None, frames, 0.2, 0, 5, [], 0, 0)
    assert picked.tolist() == [1, 2] and crossed == 2
    picked, crossed = cl.choose("random", None, frames, 0.2, 3, 5, [], 0, 0)
    assert len(picked) == len(set(picked.tolist())) == 3 and crossed == 2


def test_blow_up_check():
    from ase.build import molecule

    atoms = molecule("CH4")
    check = cl.blow_up(atoms.numbers, atoms.positions, 600.0)
    fine = {"potential_energy_eV": -1.0, "temperature_K": 700.0}
    assert check(fine, atoms.positions) is None
    assert check({**fine, "temperature_K": 2000.0}, atoms.positions).startswith("temperature")
    assert check({**fine, "potential_energy_eV": np.nan}, atoms.positions) == "non-finite"
    far = atoms.positions.copy()
    far[1] += 5.0
    assert check(fine, far) == "molecule fragmented"


def test_stability_goes_through_md_stability(tmp_path, monkeypatch):
    calls = []

    def stub(potential, starts, temperature, timestep_fs, steps, interval, seed, out_dir):
        calls.append((temperature, timestep_fs, steps, len(starts)))
        return [
            {"run": 0, "n_atoms": 15, "steps": steps, "simulated_ps": 1.0, "physical": True,
             "first_event_ps": None, "event": None, "cpu_s": 1.0},
            {"run": 1, "n_atoms": 15, "steps": 400, "simulated_ps": 0.2, "physical": False,
             "first_event_ps": 0.2, "event": "fragmented", "cpu_s": 0.2},
        ]  # fmt: skip

    monkeypatch.setattr(cl, "run_stability", stub)
    settings = cl.Settings(stability_runs=2, stability_steps=2000)
    record = cl.stability(tmp_path, None, ["a", "b"], 0, settings)["stability"]
    assert calls == [(600.0, 0.5, 2000, 2)]
    assert (record["n_runs"], record["n_physical"], record["median_first_event_ps"]) == (2, 1, 0.2)
    assert cl.stability(tmp_path, None, ["a", "b"], 0, settings)["stability"] == record
    assert len(calls) == 1  # cached


@pytest.mark.slow
def test_real_training_round_0(tmp_path):
    """The real trainer (--tiny): round 0 and round 1 of the committee strategy."""
    root, cache = tmp_path / "runs", tmp_path / "cache"
    assert cl.main([*argv("committee", root, cache), "--rounds", "1"]) == 0
    records = [
        json.loads((root / f"tiny/committee/seed0/round{r}/round.json").read_text()) for r in (0, 1)
    ]
    assert all(np.isfinite(r["committee_test_energy_mae"]) for r in records)
