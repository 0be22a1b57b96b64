"""The orbjax half of the mace-torch reference harness (`benchmarks/mace_reference.py export`):
the exported extxyz splits are the learning-curve sweep's, with the expected counts, disjoint,
nested across n_train, in eV and eV/Å. Needs no torch. Skipped without the learning-curve
data (`python -m experiments.learning_curves.prepare`'s output, git-ignored); ORBJAX_LC_ROOT points
at another checkout's data/learning_curves (e.g. from a worktree)."""

import json
import os
import sys

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
LC_ROOT = os.environ.get("ORBJAX_LC_ROOT", ROOT)
DATA = os.path.join(LC_ROOT, "data", "learning_curves")


def harness():
    from benchmarks import mace_reference

    return mace_reference


def export(tmp_path, dataset, n_train, seed=0):
    out = tmp_path / f"{dataset}_n{n_train}_s{seed}"
    harness().main(
        [
            "export",
            "--dataset",
            dataset,
            "--n-train",
            str(n_train),
            "--seed",
            str(seed),
            "--lc-root",
            LC_ROOT,
            "--out",
            str(out),
        ]
    )
    with open(out / "manifest.json") as f:
        return out, json.load(f)


@pytest.mark.skipif(
    not os.path.exists(os.path.join(DATA, "acac_test600.h5")), reason="no learning-curve data"
)
def test_acac_export_counts_disjoint_nested(tmp_path):
    from ase.io import read

    out, m = export(tmp_path, "acac", 25)
    assert m["counts"] == {"train": 25, "val": 50, "test": 50, "test600": 500}
    assert m["orbjax_run"] == "seed=0,n_train=25,num_steps=1000,config=energy_only"
    names = {k: set(v) for k, v in m["names"].items()}
    assert all(len(names[k]) == m["counts"][k] for k in names)
    assert not (names["train"] & names["val"]) and not (names["train"] & names["test"])
    assert not (names["val"] & names["test"])
    assert all(n.startswith("acac_train.extxyz:") for n in names["train"])
    assert set(m["e0s"]) == {"1", "6", "8"}  # orbjax's isolated-atom energies, eV
    _, m50 = export(tmp_path, "acac", 50)
    assert names["train"] < set(m50["names"]["train"])  # nested subsample
    assert m50["names"]["val"] == m["names"]["val"] and m50["names"]["test"] == m["names"]["test"]
    _, m25s1 = export(tmp_path, "acac", 25, seed=1)
    assert set(m25s1["names"]["train"]) != names["train"]  # the seed draws the subsample
    frames = read(str(out / "train.xyz"), ":")
    assert len(frames) == 25 and [a.info["name"] for a in frames] == m["names"]["train"]
    energies = np.array([a.info["REF_energy"] for a in frames])
    assert np.all((energies > -9500) & (energies < -9300))  # acetylacetone in eV (PBE-D3)
    assert frames[0].arrays["REF_forces"].shape == (15, 3)
    assert "torch" not in sys.modules


@pytest.mark.skipif(
    not os.path.exists(os.path.join(DATA, "chno.h5")), reason="no learning-curve data"
)
def test_chno_export_molecule_disjoint(tmp_path):
    _, m = export(tmp_path, "chno", 50)
    assert m["counts"]["train"] == 50 and m["counts"]["val"] > 0 and m["counts"]["test"] > 0
    mols = {k: set(v) for k, v in m["mol_ids"].items()}
    assert not (mols["train"] & mols["val"]) and not (mols["train"] & mols["test"])
    assert not (mols["val"] & mols["test"])
    # no isolated atoms: least squares on the training split, as orbjax
    assert m["e0s"] == "average"
