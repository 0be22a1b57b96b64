"""A new user's first hour on their own data: the README's train command on one molecule,
settings they can find, one-line errors for every command line, and no silent wrong training.

One tiny training run (the README's one-molecule command, in this process) serves the tests
that need a model; every other case fails before anything is compiled.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.io import read, write

from orbjax import train

ROOT = Path(__file__).resolve().parents[1]
# 10 frames of one molecule, no mol_id
ETHANOL = ROOT / "orbjax" / "examples" / "ethanol_gfn1.extxyz"
README = (ROOT / "README.md").read_text()


def readme_train_command() -> list[str]:
    """The README's one-molecule command, as arguments (without `--workdir`'s value)."""
    block = re.search(
        r"```bash\n(python -m orbjax\.train --config configs/test\.py [^`]*ethanol_gfn1[^`]*)```",
        README,
    )
    assert block, "the README no longer shows the one-molecule command"
    args = block.group(1).replace("\\\n", " ").split()[3:]
    return args


def run_cli(main, argv) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of an in-process command line."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(code, err, *words):
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture(scope="module")
def one_molecule(tmp_path_factory):
    """The README's command on the bundled one-molecule file: (workdir, status, stdout, stderr)."""
    workdir = tmp_path_factory.mktemp("first_hour") / "one_molecule"
    args = [a if a != "runs/one_molecule" else str(workdir) for a in readme_train_command()]
    # 4 of configs/test.py's 40 steps keep the test fast; all else is the README's command.
    code, out, err = run_cli(
        train.main, args + ["--config.train.num_steps=4", "--config.train.eval_every=2"]
    )
    return workdir, code, out, err


def test_one_molecule_trains_with_the_readme_command(one_molecule):
    workdir, code, out, err = one_molecule
    assert code == 0, err
    # One warning line says why the split falls back (and nothing else: no orbax metadata noise).
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "one molecule" in lines[0], err
    assert "C2H6O, no mol_id" in lines[0] and "split_by=structure" in lines[0]
    # Label counts per split and target before the first step; validation lines say so.
    table = out[out.index("labels per split") :].splitlines()
    assert table[2].split() == ["structures", "8", "2", "0"] and table[3].split() == [
        "energy",
        "10",
        "8",
        "2",
        "0",
    ]
    assert "step 0 validation: energy_mae=" in out and "step 4 validation:" in out
    assert out.strip().splitlines()[-1].startswith(f"model file: {workdir / 'model.orbjax'}")
    assert (workdir / "model.orbjax").is_file()
    # Units beside every number.
    rows = list(csv.DictReader(open(workdir / "metrics.csv")))
    units = {(r["split"], r["metric"]): r["unit"] for r in rows}
    assert units["val", "energy_mae"] == "meV/atom" and units["val", "forces_rmse"] == "meV/A"
    assert units["train", "mse_forces"] == "(eV/A)^2" and units["time", "wall_s"] == "s"
    final_units = json.loads((workdir / "final_metrics_units.json").read_text())
    assert set(final_units) == set(json.loads((workdir / "final_metrics.json").read_text()))
    assert final_units["energy_per_structure_mae"] == "meV"
    assert json.loads((workdir / "statistics.json").read_text())["e0_source"] == ["least_squares"]


def test_readme_unknown_element_example_holds(one_molecule, capsys):
    """The README's jit example, run as written: NaN from the jitted pure function, one
    UnknownElementError naming the element from the checked one."""
    import orbjax

    block = README[README.index("**Unknown elements under `jit`.**") :]
    code = re.search(r"```python\n(.*?)```", block, re.S).group(1)
    namespace = {
        "potential": orbjax.load_potential(str(one_molecule[0] / "model.orbjax")),
        "atoms": read(ETHANOL, 0),
    }
    exec(compile(code, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert printed.startswith(
        "element Z=16 (atom 0) is unknown to this model, which was trained on H (Z=1), "
        "C (Z=6), O (Z=8) only"
    ), printed
    atoms = namespace["atoms"]
    # known elements: no error (same compilation)
    out = namespace["checked"](atoms.positions, atoms.numbers)
    assert np.isfinite(float(out["energy"])) and out["forces"].shape == (len(atoms), 3)


def test_help_config_lists_every_field_with_its_value_and_meaning(capsys):
    from orbjax.config import flatten_config, load_config_module

    code = train.main(
        ["--config", "configs/orbital.py", "--help_config", "--config.train.num_steps=7"]
    )
    printed = capsys.readouterr().out.splitlines()
    assert code == 0
    fields = dict(
        flatten_config(load_config_module(str(ROOT / "configs" / "orbital.py")).get_config())
    )
    rows = {line.split()[0]: line for line in printed[1:]}
    assert set(rows) == set(fields)
    for key, line in rows.items():  # key, value, and a meaning after the value
        assert len(line.split(None, 2)) == 3, (
            f"{key} has no meaning: add a comment in configs/default.py"
        )
    assert rows["train.num_steps"].split()[1] == "7"  # the override is applied
    assert "molecule-disjoint" in rows["data.split_by"]


def _unlabelled(tmp_path, drop: str) -> Path:
    """The one-molecule file without its `drop` label (energy or forces)."""
    frames = read(ETHANOL, ":")
    for a in frames:
        del a.calc.results[drop]
    path = tmp_path / f"no_{drop}.extxyz"
    write(path, frames, format="extxyz")
    return path


@pytest.mark.parametrize(
    "case",
    [
        "missing data",
        "typo",
        "missing config",
        "bad value",
        "no energies",
        "no orbital labels",
        "impossible split",
        "extra argument",
    ],
)
def test_bad_training_input_is_one_line_and_leaves_no_workdir(tmp_path, case):
    workdir = tmp_path / "run"
    base = ["--config", "configs/test.py", "--workdir", workdir]
    argv, words = {
        "missing data": (
            base + [f"--config.data.train_path={tmp_path / 'nothere.xyz'}"],
            ["nothere.xyz", "no such file", "data.train_path"],
        ),
        "typo": (
            base + ["--config.data.split_byy=structure"],
            ["data.split_byy", "did you mean data.split_by?"],
        ),
        "missing config": (
            ["--config", tmp_path / "nope.py", "--workdir", workdir],
            ["nope.py", "no such config file"],
        ),
        "bad value": (base + ["--config.train.num_steps=many"], ["train.num_steps", "many"]),
        "no energies": (
            base
            + [
                f"--config.data.train_path={_unlabelled(tmp_path, 'energy')}",
                "--config.data.split_by=structure",
            ],
            [
                "no_energy.extxyz",
                "energy (loss.weights.energy=10)",
                "--config.loss.weights.energy=0",
            ],
        ),
        "no orbital labels": (
            [
                "--config",
                "configs/orbital.py",
                "--workdir",
                workdir,
                f"--config.data.train_path={ETHANOL}",
                "--config.data.split_by=structure",
            ],
            [
                "orbital_populations (loss.weights.orbital_populations=100)",
                "python -m orbjax.label",
                "--config.loss.weights.orbital_populations=0",
            ],
        ),
        "impossible split": (
            base + ["--config.data.limit=6", "--config.data.test_fraction=0.1"],
            ["2 molecules are too few", "--config.data.split_by=structure"],
        ),
        "extra argument": (base + ["stray"], ["unexpected argument 'stray'"]),
    }[case]
    code, _, err = run_cli(train.main, argv)
    assert_one_line_error(code, err, *words)
    assert not workdir.exists()  # nothing empty left behind


def test_debug_shows_the_error_itself():
    from orbjax.cli import UsageError

    with pytest.raises(UsageError, match="split_byy"):
        train.main(
            [
                "--config",
                "configs/test.py",
                "--workdir",
                "unused",
                "--config.data.split_byy=x",
                "--debug",
            ]
        )


def test_forces_only_is_asked_for_and_leaves_energies_unfitted(tmp_path, capsys):
    """loss.weights.energy=0: no error without energy labels, reference energies not fitted
    (not least squares on nothing), and a warning that the energies are untrained."""
    from orbjax.config import load_config_module
    from orbjax.training.data import load_splits
    from orbjax.training.label_check import fit_statistics, report_and_check

    config = load_config_module(str(ROOT / "configs" / "test.py")).get_config()
    config.data.train_path = str(_unlabelled(tmp_path, "energy"))
    config.loss.weights.energy = 0.0
    data = load_splits(config.data, config.model.cutoff, config.seed)
    report_and_check(config, data)
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1].startswith("warning: loss.weights.energy=0: training on forces only")
        and "untrained" in err[-1]
    )
    statistics = fit_statistics(config, data.train)
    assert statistics.e0_source == ("none",) and statistics.atomic_energies == ((0.0, 0.0, 0.0),)
    # With energy labels but weight 0 the energies stay unfitted too: least squares would look
    # trained.
    config.data.train_path = str(ETHANOL)
    assert fit_statistics(
        config, load_splits(config.data, config.model.cutoff, config.seed).train
    ).e0_source == ("none",)
    config.loss.weights.energy = 10.0
    assert fit_statistics(
        config, load_splits(config.data, config.model.cutoff, config.seed).train
    ).e0_source == ("least_squares",)


def test_a_weighted_target_without_labels_in_the_training_split_only_is_refused(tmp_path):
    """Labels in validation do not count: training would still fit nothing."""
    from orbjax.config import load_config_module
    from orbjax.training.data import load_splits
    from orbjax.training.label_check import report_and_check

    frames = read(ETHANOL, ":")
    for a in frames[:8]:
        del a.calc.results["forces"]
    write(tmp_path / "val_forces_only.extxyz", frames[:8], format="extxyz")
    write(tmp_path / "val.extxyz", frames[8:], format="extxyz")
    config = load_config_module(str(ROOT / "configs" / "test.py")).get_config()
    config.data.train_path, config.data.val_path = (
        str(tmp_path / "val_forces_only.extxyz"),
        str(tmp_path / "val.extxyz"),
    )
    data = load_splits(config.data, config.model.cutoff, config.seed)
    with pytest.raises(
        ValueError,
        match=r"val_forces_only\.extxyz: none of the 8 structures .* forces "
        r"\(loss\.weights\.forces=10\).*--config\.loss\.weights\.forces=0",
    ):
        report_and_check(config, data, say=lambda _: None)


def test_every_command_line_answers_a_missing_file_in_one_line(one_molecule, tmp_path):
    from orbjax import evaluate, export, label, md, quickstart, sweep

    model = str(one_molecule[0] / "model.orbjax")
    missing = str(tmp_path / "nothere.extxyz")
    cases = [
        (evaluate.main, ["--model", model, "--data", missing], ["nothere.extxyz", "no such file"]),
        (
            export.main,
            [tmp_path / "no_run", tmp_path / "m.orbjax"],
            ["no_run", "no such training workdir"],
        ),
        (
            md.main,
            [
                "--model",
                tmp_path / "nothere.orbjax",
                "--structure",
                ETHANOL,
                "--steps",
                "2",
                "--out",
                tmp_path / "md",
            ],
            ["nothere.orbjax", "no such model file or workdir"],
        ),
        (
            md.main,
            ["--model", model, "--structure", missing, "--steps", "2", "--out", tmp_path / "md"],
            ["nothere.extxyz", "no such structure file"],
        ),
        (
            md.main,
            ["--model", model, "--structure", model, "--steps", "2", "--out", tmp_path / "md"],
            ["model.orbjax", "not a structure file"],
        ),
        (
            sweep.main,
            ["--config", tmp_path / "nothere.py"],
            ["nothere.py", "no such sweep config file"],
        ),
        (label.main, [missing, tmp_path / "out.h5"], ["nothere.extxyz", "no such file"]),
        (quickstart.command, ["--workdir", ETHANOL], ["ethanol_gfn1.extxyz", "not a directory"]),
    ]
    for main, argv, words in cases:
        code, _, err = run_cli(main, argv)
        assert_one_line_error(code, err, *words)
    assert not (tmp_path / "md").exists() and not (tmp_path / "m.orbjax").exists()


def test_md_with_an_unknown_element_leaves_no_empty_out(one_molecule, tmp_path):
    from orbjax import md

    sulfur = tmp_path / "hs.xyz"
    sulfur.write_text("2\n\nS 0 0 0\nH 0 0 1.34\n")
    code, _, err = run_cli(
        md.main,
        [
            "--model",
            one_molecule[0] / "model.orbjax",
            "--structure",
            sulfur,
            "--steps",
            "2",
            "--out",
            tmp_path / "md",
        ],
    )
    assert_one_line_error(code, err, "S (Z=16)", "trained on H (Z=1), C (Z=6), O (Z=8) only")
    assert not (tmp_path / "md").exists()


def test_the_shell_sees_one_line_and_status_1(tmp_path):
    """`python -m orbjax.train` itself (its __main__ path), a config typo."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "orbjax.train",
            "--config",
            "configs/test.py",
            "--workdir",
            str(tmp_path / "run"),
            "--config.train.num_stepz=5",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ORBJAX_DEBUG": "0"},
    )
    assert_one_line_error(
        done.returncode, done.stderr, "train.num_stepz", "did you mean train.num_steps?"
    )
    assert not (tmp_path / "run").exists()


def test_argparse_help_shows_defaults():
    from orbjax import md

    with pytest.raises(SystemExit), contextlib.redirect_stdout(io.StringIO()) as out:
        md.main(["--help"])
    text = " ".join(out.getvalue().split())
    assert "(default: 300.0)" in text and "(default: nvt)" in text and "(default: None)" not in text


def test_label_counts_count_structures_per_split():
    from orbjax.data.graphs import structures_to_graphs
    from orbjax.data.readers import read_structures
    from orbjax.training.label_check import label_counts

    structures = read_structures(ETHANOL)
    # no energy
    structures[0] = structures[0].replace(labels={"forces": structures[0].labels["forces"]})
    counts = label_counts(structures_to_graphs(structures[:3], 5.0))
    assert counts["energy"] == 2 and counts["forces"] == 3 and counts["orbital_populations"] == 0
    assert np.all(
        [counts[t] == 0 for t in ("stress", "dft_charges", "atomic_charges", "spd_populations")]
    )


def test_the_free_form_key_overrides_section_takes_keys_and_the_rest_stays_locked():
    """`--config.data.key_overrides.dft_charges=...` (configs/dft_charges.py's docstring) works;
    a field no config defines is still refused, and nothing downstream can add one."""
    config, _, _ = train.parse(
        [
            "--config",
            "configs/dft_charges.py",
            "--workdir",
            "unused",
            "--config.data.key_overrides.dft_charges=dft_lowdin_charges",
        ]
    )
    assert config.data.key_overrides.to_dict() == {"dft_charges": "dft_lowdin_charges"}
    with pytest.raises(AttributeError):
        config.data.new_field = 1
    with pytest.raises(ValueError, match="no field model.chanels"):
        train.parse(["--config", "configs/dft_charges.py", "--config.model.chanels=4"])
