"""The time-to-accuracy collector (benchmarks/time_to_accuracy.py) and its report section on
hand-made run files."""

import csv
import json
import sys

import pytest

from benchmarks import report
from benchmarks import time_to_accuracy as tta


def _orbjax_run(sweep, name, val, times, final=None, complete=1.0):
    """name: "seed,steps,config" (the sweep's names vary; run.json says what ran). val/times:
    [(step, energy, forces)] / [(step, cpu)]: written as the training loop does."""
    run = sweep / name
    run.mkdir(parents=True)
    with open(run / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "split", "metric", "value"])
        for step, energy, forces in val:
            w.writerows([[step, "val", "energy_mae", energy], [step, "val", "forces_mae", forces]])
        for step, cpu in times:
            w.writerows(
                [
                    [step, "time", "process_cpu_s", cpu],
                    [step, "time", "wall_s", 2 * cpu],
                    [step, "time", "clock_complete", complete],
                ]
            )
        w.writerow([step, "train", "loss", 1.0])
    seed, steps, config = name.split(",")
    json.dump(
        {
            "config_path": f"/x/configs/{config}.py",
            "overrides": {"seed": int(seed), "train.num_steps": int(steps)},
        },
        open(run / "run.json", "w"),
    )
    json.dump(
        final
        or {
            "selected_step": 200,
            "test_energy_mae": 1.5,
            "test_forces_mae": 45.0,
            "test600_energy_mae": 3.0,
            "test600_forces_mae": 90.0,
        },
        open(run / "final_metrics.json", "w"),
    )


def test_curves_levels_and_tests(tmp_path):
    sweep = tmp_path / "acac_long"
    # A resumed run repeats step 100: the last rows win (energy 2.5 there, not 9).
    _orbjax_run(
        sweep,
        "0,16000,energy_only",
        [(0, 50.0, 800.0), (100, 9.0, 120.0), (100, 2.5, 60.0), (200, 1.2, 45.0)],
        [(0, 10.0), (100, 50.0), (100, 70.0), (200, 130.0)],
    )
    # Other seeds and the orbital variant are not orbjax's time-to-accuracy runs.
    _orbjax_run(sweep, "1,16000,energy_only", [(0, 1.0, 1.0)], [(0, 1.0)])
    _orbjax_run(sweep, "0,16000,orbital", [(0, 1.0, 1.0)], [(0, 1.0)])
    # A run from before the training clock (no "time" rows) is left out, and so is one resumed
    # from a checkpoint older than the clock.
    _orbjax_run(sweep, "0,4000,energy_only", [(0, 1.0, 1.0)], [])
    _orbjax_run(
        tmp_path / "acac_tta", "0,48000,energy_only", [(0, 1.0, 1.0)], [(0, 1.0)], complete=0.0
    )
    mace = tmp_path / "curves.csv"
    with open(mace, "w", newline="") as f:
        w = csv.DictWriter(
            f,
            [
                "dataset",
                "variant",
                "n_train",
                "seed",
                "epoch",
                "cpu_s",
                "wall_s",
                "energy_mae",
                "forces_mae",
            ],
        )
        w.writeheader()
        # A first run (later rerun with --force: its rows are dropped), then the run that counts.
        for epoch, cpu, e, fr in [
            (-1, 10.0, 9.0, 900.0),
            (0, 50.0, 0.1, 1.0),
            (-1, 12.0, 9.0, 900.0),
            (0, 100.0, 5.0, 110.0),
            (1, 3600.0, 1.8, 65.0),
            (2, 7200.0, 0.9, 38.0),
        ]:
            w.writerow(
                dict(
                    dataset="acac",
                    variant="orbjax_size",
                    n_train=400,
                    seed=0,
                    epoch=epoch,
                    cpu_s=cpu,
                    wall_s=cpu,
                    energy_mae=e,
                    forces_mae=fr,
                )
            )
        w.writerow(
            dict(
                dataset="acac",
                variant="orbjax_size",
                n_train=25,
                seed=0,
                epoch=0,
                cpu_s=1,
                wall_s=1,
                energy_mae=0.1,
                forces_mae=1.0,
            )
        )  # another size: not this benchmark
    curves, summaries = tta.collect(
        [str(sweep), str(tmp_path / "acac_tta")], str(mace), str(tmp_path / "absent.csv")
    )
    assert [(s["model"], s["run"]) for s in summaries] == [
        ("mace", "orbjax_size"),
        ("orbjax", "energy_only_steps16000"),
    ]
    mace_row, orbjax_row = summaries
    assert len([c for c in curves if c["model"] == "orbjax"]) == 3
    assert orbjax_row["best_val_energy_mae"] == 1.2 and orbjax_row["best_val_forces_mae"] == 45.0
    # step 100 (60 meV/Å after the resume, not 120)
    assert orbjax_row["cpu_s_to_forces_100"] == 70.0
    assert orbjax_row["cpu_s_to_forces_40"] is None
    assert orbjax_row["cpu_s_to_energy_2"] == 130.0 and orbjax_row["total_cpu_s"] == 130.0
    assert orbjax_row["test_forces_mae"] == 45.0 and orbjax_row["selected"] == 200
    assert mace_row["cpu_s_to_forces_40"] == 7200.0 and mace_row["cpu_s_to_energy_2"] == 3600.0
    assert mace_row["n_validations"] == 4 and mace_row["best_val_forces_mae"] == 38.0
    assert mace_row["test_energy_mae"] is None  # no scored rows given

    tta.write(summaries, str(tmp_path / "summary.csv"))
    tta.plot(curves, str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    section = report.time_to_accuracy_section(tmp_path / "summary.csv")
    table = [line for line in section if line.startswith("| orbjax | energy_only_steps16000 |")]
    assert len(table) == 2 and "not reached" in table[1] and "0.04" in table[0]  # 130 s = 0.04 h


def test_nothing_to_collect_is_empty(tmp_path, monkeypatch):
    assert tta.collect(
        [str(tmp_path / "none")], str(tmp_path / "none.csv"), str(tmp_path / "none.csv")
    ) == ([], [])
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "time_to_accuracy.py",
            "--sweep-dirs",
            str(tmp_path / "none"),
            "--mace-curves",
            str(tmp_path / "none.csv"),
            "--out-dir",
            str(tmp_path),
        ],
    )
    with pytest.raises(SystemExit):
        tta.main()
    (tmp_path / "header_only.csv").write_text("model,run,total_cpu_s\n")
    assert report.time_to_accuracy_section(tmp_path / "header_only.csv") == []
