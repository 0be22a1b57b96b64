"""Pieces of the learning-curve analysis (experiments/learning_curves/analyse.py) that decide
which runs a committed CSV holds and how its intervals are drawn."""
import importlib.util
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("orbjax_lc_analyse", ROOT / "experiments" / "learning_curves" / "analyse.py")
analyse = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = analyse
spec.loader.exec_module(analyse)


def test_merge_keeps_committed_runs_and_replaces_recollected_ones():
    old = [{"name": "a", "v": "1"}, {"name": "b", "v": "1"}, {"name": "b", "v": "2"}, {"name": "c", "v": "1"}]
    new = [{"name": "b", "v": "9"}, {"name": "d", "v": "9"}]
    merged = analyse.merge_by_name(old, new)
    # a and c (not collected now) survive in place; b's two curve rows become new's one row; d is appended.
    assert [(r["name"], r["v"]) for r in merged] == [("a", "1"), ("b", "9"), ("c", "1"), ("d", "9")]
    assert analyse.merge_by_name([], new) == new
    assert analyse.merge_by_name(old, []) == old


def test_bootstrap_stream_depends_on_its_cell_only():
    values = np.log(np.array([0.9, 1.1, 0.8, 1.0, 0.95]))
    first = analyse.bootstrap_ci(values, np.mean, analyse.cell_rng("chno", "orbital", 50, "test", "energy_mae"))
    # Drawing other cells' intervals in between (a new variant in the group) changes nothing.
    analyse.bootstrap_ci(values, np.mean, analyse.cell_rng("chno", "shell", 50, "test", "energy_mae"))
    again = analyse.bootstrap_ci(values, np.mean, analyse.cell_rng("chno", "orbital", 50, "test", "energy_mae"))
    other = analyse.bootstrap_ci(values, np.mean, analyse.cell_rng("chno", "orbital", 200, "test", "energy_mae"))
    assert first == again
    assert first != other
