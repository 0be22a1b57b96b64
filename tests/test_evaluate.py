"""orbjax.evaluate on a tiny trained model: metrics agree with the predictions written, with
the training log on the same validation structures, and bad input fails clearly."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import ase.io
import numpy as np
import pytest

from orbjax.data.readers import CHNO_KEYS, _split_xyz, example_path, read_structures
from orbjax.data.splits import split_indices
from orbjax.evaluate import main
from orbjax.evaluation import UnknownElementError, _shell_l, check_elements, evaluate_workdir

EXAMPLE = example_path()


def _tiny_config():
    root = str(Path(__file__).resolve().parents[1])  # configs/ is not an installed package
    if root not in sys.path:
        sys.path.insert(0, root)
    from configs import test as test_config

    config = test_config.get_config()
    config.train.num_steps = 6
    config.train.eval_every = 6  # one validation: best == latest == final_metrics.json
    config.train.checkpoint_every = 3
    config.train.log_every = 3
    config.loss.weights.dft_charges = 1.0  # one charge head, labelled in the example file
    config.model.heads = ("dft_charges",)
    return config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from orbjax.training.loop import train_and_evaluate

    config = _tiny_config()
    workdir = tmp_path_factory.mktemp("run")
    final = train_and_evaluate(config, str(workdir))
    return workdir, config, final


@pytest.fixture(scope="module")
def example_eval(run, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    report = evaluate_workdir(str(run[0]), str(EXAMPLE), str(out), key_preset="chno")
    return report, out


def _frames(path: Path) -> list[str]:
    """The text of each extxyz frame, byte for byte (the reader's own frame splitter)."""
    return ["".join(lines) for _, lines, _ in _split_xyz(path)]


def test_metrics_agree_with_predictions_written(example_eval):
    report, out = example_eval
    p = np.load(out / "predictions.npz")
    assert len(p["names"]) == 39 and p["energy_pred"].shape == (39,)
    assert p["forces_pred"].shape == (int(p["n_atoms"].sum()), 3) == p["forces_label"].shape
    assert np.all(np.isfinite(p["energy_pred"])) and np.all(np.isfinite(p["dft_charges_pred"]))
    # The labels are the file's own numbers (eV, eV/Å, e), in file order.
    structures = read_structures(EXAMPLE, keys=CHNO_KEYS)
    np.testing.assert_allclose(
        p["energy_label"], [s.labels["energy"] for s in structures], rtol=1e-12
    )
    np.testing.assert_allclose(
        p["forces_label"], np.concatenate([s.labels["forces"] for s in structures]), atol=1e-6
    )
    # Independent recomputation of the metrics from the written predictions.
    e_err = (p["energy_pred"] - p["energy_label"]) / p["n_atoms"]
    f_err = p["forces_pred"] - p["forces_label"]
    q_err = p["dft_charges_pred"] - p["dft_charges_label"]
    expected = {
        "energy_mae": 1e3 * np.mean(np.abs(e_err)),
        "energy_rmse": 1e3 * np.sqrt(np.mean(e_err**2)),
        "energy_per_structure_mae": 1e3 * np.mean(np.abs(e_err * p["n_atoms"])),
        "forces_mae": 1e3 * np.mean(np.abs(f_err)),
        "forces_rmse": 1e3 * np.sqrt(np.mean(f_err**2)),
        "dft_charges_mae": 1e3 * np.mean(np.abs(q_err)),
    }
    written = json.loads((out / "metrics.json").read_text())
    for k, v in expected.items():
        assert written["metrics"][k] == pytest.approx(v, rel=1e-9), k
    assert (
        written["units"]["energy_mae"] == "meV/atom" and written["units"]["forces_mae"] == "meV/A"
    )
    assert written["counts"] == {
        "energy": 39,
        "energy_per_structure": 39,
        "forces": 3 * int(p["n_atoms"].sum()),
        "dft_charges": int(p["n_atoms"].sum()),
    }
    rows = {
        (r["target"], r["statistic"]): float(r["value"])
        for r in csv.DictReader(open(out / "metrics.csv"))
    }
    assert rows[("forces", "rmse")] == pytest.approx(expected["forces_rmse"], rel=1e-6)
    # A barely trained model: errors are large but physical (not 0, not eV-scale per atom nonsense).
    assert 1.0 < written["metrics"]["energy_mae"] < 2000.0


def test_parity_plots_are_valid_images(example_eval):
    import matplotlib.image

    report, out = example_eval
    names = sorted(Path(p).name for p in report["plots"])
    assert names == ["parity_dft_charges.png", "parity_energy.png", "parity_forces.png"]
    for name in names:
        path = out / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
        assert image[..., :3].std() > 0.01  # something was drawn


def test_validation_split_reproduces_training_metrics(run, tmp_path):
    """Same checkpoint, same structures → the numbers `train` logged (final_metrics.json).

    The training evaluation subtracts float32 total-energy labels (≈0.2 meV steps at
    −3000 eV), the evaluator float64 ones, hence 1e-3 on energies (measured ≈1e-5) and
    1e-5 on forces and charges (measured ≈1e-8): far tighter than any unit, masking,
    parameter (EMA vs raw) or ordering mistake.
    """
    workdir, config, final = run
    structures = read_structures(EXAMPLE, keys=CHNO_KEYS)
    fractions = (
        1 - config.data.val_fraction - config.data.test_fraction,
        config.data.val_fraction,
        config.data.test_fraction,
    )
    _, val, _ = split_indices(
        structures, fractions=fractions, seed=config.seed, by=config.data.split_by
    )
    frames = _frames(EXAMPLE)
    assert len(frames) == len(structures)
    val_file = tmp_path / "val.extxyz"
    val_file.write_text("".join(frames[i] for i in val))

    assert (
        main(
            [
                "--workdir",
                str(workdir),
                "--data",
                str(val_file),
                "--which",
                "best",
                "--out",
                str(tmp_path / "out"),
                "--no-plots",
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "out" / "metrics.json").read_text())
    saved = json.loads((Path(workdir) / "final_metrics.json").read_text())
    assert report["step"] == config.train.num_steps and report["n_structures"] == len(val)
    tolerance = dict(
        energy_mae=1e-3,
        energy_rmse=1e-3,
        energy_per_structure_mae=1e-3,
        forces_mae=1e-5,
        forces_rmse=1e-5,
        dft_charges_mae=1e-5,
        dft_charges_rmse=1e-5,
    )
    for k, rel in tolerance.items():
        assert report["metrics"][k] == pytest.approx(saved[k], rel=rel), k
    assert report["n_compilations"] <= config.train.n_buckets  # jit once per padding bucket
    assert not list((tmp_path / "out").glob("*.png"))


def test_missing_labels_are_masked_and_stress_is_scored(run, tmp_path):
    """One structure without energy, one without forces, one periodic with a stress label."""
    atoms = ase.io.read(EXAMPLE, ":3")
    del atoms[0].calc.results["energy"]
    del atoms[1].calc.results["forces"]
    atoms[2].cell = np.eye(3) * 12.0
    atoms[2].pbc = True
    atoms[2].calc.results["stress"] = np.array([0.01, -0.02, 0.03, 0.0, 0.0, 0.0])  # eV/Å³, Voigt
    path = tmp_path / "mixed.extxyz"
    ase.io.write(path, atoms, format="extxyz")

    report = evaluate_workdir(str(run[0]), str(path), str(tmp_path / "out"), plots=True)
    p = np.load(tmp_path / "out" / "predictions.npz")
    n = p["n_atoms"]
    assert p["energy_mask"].tolist() == [False, True, True]
    assert p["forces_mask"].tolist() == [True] * n[0] + [False] * n[1] + [True] * n[2]
    assert p["stress_mask"].tolist() == [False, False, True]
    assert report["counts"]["energy"] == 2 and report["counts"]["forces"] == 3 * (n[0] + n[2])
    assert report["counts"]["stress"] == 9
    e_err = (p["energy_pred"] - p["energy_label"])[1:] / n[1:]
    assert report["metrics"]["energy_mae"] == pytest.approx(1e3 * np.mean(np.abs(e_err)), rel=1e-9)
    s_err = p["stress_pred"][2] - np.diag([0.01, -0.02, 0.03])
    assert report["metrics"]["stress_mae"] == pytest.approx(1e3 * np.mean(np.abs(s_err)), rel=1e-6)
    assert all(np.isfinite(v) for v in report["metrics"].values())
    assert (tmp_path / "out" / "parity_stress.png").is_file()


def test_unknown_element_names_element_and_structures(run, tmp_path):
    frames = _frames(EXAMPLE)
    k = next(i for i, f in enumerate(frames) if "\nO " in f)
    frames = frames[: k + 2]
    frames[k] = frames[k].replace("\nO ", "\nS ", 1)  # one oxygen becomes sulfur
    path = tmp_path / "with_sulfur.extxyz"
    path.write_text("".join(frames))
    name = read_structures(path, keys=CHNO_KEYS)[k].name
    with pytest.raises(UnknownElementError, match=r"S \(Z=16\)") as err:
        evaluate_workdir(str(run[0]), str(path), str(tmp_path / "out"))
    assert str(name) in str(err.value)
    assert "trained on H (Z=1), C (Z=6), N (Z=7), O (Z=8) only" in str(err.value)
    assert not (tmp_path / "out").exists()  # failed before writing anything


def test_a_model_file_scores_like_its_workdir(run, example_eval, tmp_path, capsys):
    """`--model model.orbjax` (or `--workdir model.orbjax`) is the best checkpoint, as a file;
    the last line says where the outputs went."""
    report, _ = example_eval
    model = run[0] / "model.orbjax"
    out = tmp_path / "from_file"
    assert (
        main(
            [
                "--workdir",
                str(model),
                "--data",
                str(EXAMPLE),
                "--key-preset",
                "chno",
                "--out",
                str(out),
                "--no-plots",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0].startswith("39 structures, model file (step 6)") and printed[-1].endswith(
        str(out)
    )
    from_file = json.loads((out / "metrics.json").read_text())
    for k, v in report["metrics"].items():
        assert from_file["metrics"][k] == pytest.approx(v, rel=1e-6), k


def assert_one_line_error(code, err, *words):
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_bad_input_is_one_line_and_exit_status_1(run, tmp_path, capsys):
    """A structure file where the model goes, a missing data file, an unknown element: one
    line each, before any model is built (nothing written)."""
    model = str(run[0] / "model.orbjax")
    code = main(["--model", str(EXAMPLE), "--data", str(EXAMPLE), "--out", str(tmp_path / "a")])
    assert_one_line_error(
        code, capsys.readouterr().err, "chno_example.extxyz", "not an orbjax model file"
    )
    code = main(
        ["--model", model, "--data", str(tmp_path / "nothere.extxyz"), "--out", str(tmp_path / "b")]
    )
    assert_one_line_error(code, capsys.readouterr().err, "nothere.extxyz", "no such file")
    code = main(["--model", str(tmp_path / "nothere.orbjax"), "--data", str(EXAMPLE)])
    assert_one_line_error(
        code, capsys.readouterr().err, "nothere.orbjax", "no such model file or training workdir"
    )
    sulfur = tmp_path / "sulfur.extxyz"
    sulfur.write_text("2\n\nS 0 0 0\nH 0 0 1.34\n")
    code = main(["--model", model, "--data", str(sulfur)])
    assert_one_line_error(code, capsys.readouterr().err, "S (Z=16)", "sulfur.extxyz")
    code = main(["--model", model, "--data", str(EXAMPLE), "--which", "first"])
    assert_one_line_error(code, capsys.readouterr().err, "--which", "invalid choice")
    assert not list(tmp_path.glob("*/metrics.json"))


def test_check_elements_lists_each_unknown_element_once():
    structures = read_structures(EXAMPLE, keys=CHNO_KEYS)
    check_elements(structures, [1, 6, 7, 8])  # all known: no error
    with pytest.raises(UnknownElementError) as err:
        check_elements(structures, [1, 6])
    trained, unknown = str(err.value).split(" only: ")
    assert trained.endswith("trained on H (Z=1), C (Z=6)")
    assert (
        unknown.count("N (Z=7)") == 1 and unknown.count("O (Z=8)") == 1 and "C (Z=6)" not in unknown
    )


def test_shell_colours_follow_gfn1_basis():
    # H: two s shells (2 orbitals); C: s + p (4); Fe: d, s, p (9) in tblite order.
    l = _shell_l(np.array([1, 6, 26]), "orbital_populations")
    assert l[0].tolist() == [0, 0] + [-1] * 7
    assert l[1].tolist() == [0, 1, 1, 1] + [-1] * 5
    assert l[2].tolist() == [2] * 5 + [0, 1, 1, 1]
    assert _shell_l(np.array([1, 6]), "spd_populations").tolist() == [[0, 1, 2], [0, 1, 2]]
    assert _shell_l(np.array([1]), "dft_charges") is None
