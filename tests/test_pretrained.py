"""The shipped pretrained model: it loads by name, its card's validation errors are what it
gives on the shipped validation structures, and it is a starting point for fine-tuning."""

from __future__ import annotations

import json

import pytest

import orbjax
from orbjax import pretrained
from orbjax.data.dataset import read_dataset
from orbjax.evaluation import compute_metrics, predict_structures
from orbjax.model.io import load_model_file

NAMES = pretrained.available()
ELEMENTS = {"H": 1, "C": 6, "N": 7, "O": 8}


def test_a_model_is_shipped():
    assert "chno-gfn1" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_the_card_numbers_are_what_the_shipped_model_gives(name):
    card = json.loads((pretrained.HERE / f"{name}.json").read_text())
    structures, _ = read_dataset(pretrained.validation_path(name))
    metrics, _ = compute_metrics(
        predict_structures(load_model_file(pretrained.model_path(name)), structures)
    )
    for key, value in card["validation"].items():
        if key != "n_structures":
            assert metrics[key] == pytest.approx(value, rel=1e-4), key
    assert card["validation"]["n_structures"] == len(structures)
    potential = orbjax.load_pretrained(name)
    assert potential.level_name == card["level"]
    assert potential.statistics.species == tuple(ELEMENTS[e] for e in card["elements"])


def test_an_unknown_name_lists_the_shipped_ones():
    with pytest.raises(FileNotFoundError, match="shipped: chno-gfn1"):
        orbjax.load_pretrained("no-such-model")


@pytest.mark.slow
def test_a_built_wheel_in_a_fresh_venv_reproduces_the_card(tmp_path):
    """The shipped files travel in the wheel (package data) and give the card's numbers when
    orbjax is imported from it, not from the source tree (dependencies from this environment)."""
    import site
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(root),
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "w"),
        ],
        check=True,
        timeout=600,
    )
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "v")], check=True, timeout=300)
    python = tmp_path / "v" / "bin" / "python"
    wheel = next((tmp_path / "w").glob("orbjax-*.whl"))
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        check=True,
        timeout=600,
    )
    script = (
        "import json, orbjax\n"
        "from orbjax import pretrained\n"
        "from orbjax.data.dataset import read_dataset\n"
        "from orbjax.evaluation import compute_metrics, predict_structures\n"
        "from orbjax.model.io import load_model_file\n"
        "card = json.loads((pretrained.HERE / 'chno-gfn1.json').read_text())\n"
        "m, _ = "
        "compute_metrics(predict_structures(load_model_file(pretrained.model_path('chno-gfn1')),\n"
        "                       read_dataset(pretrained.validation_path('chno-gfn1'))[0]))\n"
        "print(json.dumps({'file': orbjax.__file__, 'card': card['validation'], 'now': m}))\n"
    )
    env = {
        "PYTHONPATH": ":".join(site.getsitepackages()),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [str(python), "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["file"].startswith(str(tmp_path / "v"))
    for key, value in out["card"].items():
        if key != "n_structures":
            assert out["now"][key] == pytest.approx(value, rel=1e-4), key
