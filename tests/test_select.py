"""python -m orbjax.select: committee spread ranks the candidates, farthest-point sampling
keeps the chosen ones diverse. Toy pool: two members identical except for nitrogen's
embedding, so exactly the frames with N are uncertain (the others have zero spread)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.io import read, write

from orbjax.config import load_config_module
from orbjax.model.build import create_model, init_params
from orbjax.model.io import TrainedModel, load_model, save_model_file
from orbjax.model.statistics import Statistics
from orbjax.select import farthest_point, main
from tests.test_model_core import ROOT

SPECIES = (1, 6, 7, 8)


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    return nitrogen_committee(tmp_path_factory.mktemp("select"))


def nitrogen_committee(folder: Path) -> list[Path]:
    """Two untrained member files in `folder`, identical but for nitrogen's embedding."""
    return two_member_committee(folder, SPECIES, (-13.6, -1029.0, -1485.0, -2041.0), 7, 0.5)


def two_member_committee(
    folder: Path, species: tuple, atomic_energies: tuple, differing: int, shift: float
) -> list[Path]:
    """Two untrained member files in `folder` (configs/test.py), identical but for element
    `differing`'s embedding (shifted by `shift`): exactly the frames holding it have a spread."""
    config = load_config_module(str(ROOT / "configs" / "test.py")).get_config()
    statistics = Statistics(
        species=species,
        atomic_energies=atomic_energies,
        energy_scale=1.0,
        avg_num_neighbors=8.0,
    )
    model = create_model(config, statistics)
    variables = {**init_params(model, 0), "statistics": statistics.arrays()}
    a = save_model_file(
        TrainedModel(model, variables, config, statistics, step=0), folder / "a.orbjax"
    )
    trained = load_model(str(a))
    embedding = trained.variables["params"]["network"]["embedding"]
    (key,) = embedding
    weights = np.array(embedding[key])
    weights[species.index(differing)] += shift  # only this element differs
    embedding[key] = weights
    return [a, save_model_file(trained, folder / "b.orbjax")]


def _frame(rng, nitrogen: bool, shift=0.0) -> Atoms:
    numbers = [6, 7 if nitrogen else 8, 1, 1, 1]
    positions = np.array(
        [[0, 0, 0], [1.3, 0, 0], [-0.6, 0.9, 0], [-0.6, -0.9, 0], [1.8, 0.9, 0]], float
    )
    return Atoms(numbers, positions + rng.normal(scale=0.05, size=(5, 3)) + shift)


def test_select_returns_the_planted_uncertain_frames_and_diverse_ones(members, tmp_path):
    rng = np.random.default_rng(0)
    frames = [_frame(rng, False) for _ in range(8)]
    planted = [2, 5, 9, 11]  # N-containing: in two near-identical pairs (2, 5) and (9, 11)
    base = {2: _frame(rng, True), 9: _frame(rng, True)}
    for i in planted:
        frame = base[2 if i in (2, 5) else 9].copy()
        frame.positions += rng.normal(scale=1e-3, size=(5, 3))
        frames.insert(i, frame)
    pool = tmp_path / "pool.extxyz"
    write(pool, frames)
    out = tmp_path / "chosen.extxyz"

    assert (
        main(
            [
                "--model",
                *map(str, members),
                "--candidates",
                str(pool),
                "--k",
                "4",
                "--pool",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    chosen = read(out, index=":")
    # the 4 uncertain, nothing else
    assert sorted(a.info["candidate_index"] for a in chosen) == planted
    assert all(a.info["max_force_std_eV_A"] > 0 for a in chosen)
    assert [int(x) for x in open(f"{out}.indices.txt") if not x.startswith("#")] == [
        a.info["candidate_index"] for a in chosen
    ]

    assert (
        main(
            [
                "--model",
                *map(str, members),
                "--candidates",
                str(pool),
                "--k",
                "2",
                "--pool",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    picked = sorted(a.info["candidate_index"] for a in read(out, index=":"))
    # one of each near-copy pair
    assert len(set(picked) & {2, 5}) == 1 and len(set(picked) & {9, 11}) == 1
    # with the (2, 5) kind labelled already, the one pick is of the other kind
    write(tmp_path / "labelled.extxyz", [frames[2]])
    args = ["--model", *map(str, members), "--candidates", str(pool), "--k", "1"]
    args += ["--pool", "4", "--labelled", str(tmp_path / "labelled.extxyz"), "--out", str(out)]
    assert main(args) == 0
    assert read(out, index=":")[0].info["candidate_index"] in (9, 11)


def test_farthest_point_sampling_spreads_out():
    x = np.array([[0.0], [0.1], [5.0], [5.1], [10.0]])
    assert farthest_point(x, 3).tolist() == [0, 4, 2]
    # from a labelled set: the gap farthest from it first, never a labelled corner again
    assert farthest_point(x, 2, reference=np.array([[0.0], [10.0]])).tolist() == [2, 1]
    # identical rows are each chosen once
    assert sorted(farthest_point(np.zeros((3, 1)), 3).tolist()) == [0, 1, 2]


def test_selection_needs_a_committee(members, tmp_path, capsys):
    assert (
        main(
            [
                "--model",
                str(members[0]),
                "--candidates",
                "x.extxyz",
                "--k",
                "1",
                "--out",
                str(tmp_path / "o.extxyz"),
            ]
        )
        == 1
    )
    assert "at least 2" in capsys.readouterr().err
