"""The tables of the RESULTS files are drawn from the committed CSVs: every marked table is
what its renderer prints now, and a table edited by hand or a CSV changed without
regenerating is caught."""

import pytest

from experiments.common.tables import md_rows, rewrite_blocks, update_results_file
from experiments.learning_curves import results_md as lc
from experiments.metals import results_md as metals


@pytest.mark.parametrize("study", [lc, metals], ids=["learning_curves", "metals"])
def test_every_generated_table_matches_its_csvs(study):
    assert study.RENDERERS and not update_results_file(
        study.RESULTS_MD, study.RENDERERS, check=True
    ), f"regenerate with python -m {study.__name__}"
    # every renderer is used
    assert study.RESULTS_MD.read_text().count("<!-- table: ") == len(study.RENDERERS)


def test_only_the_marked_bodies_are_rewritten_with_their_indentation(tmp_path):
    text = (
        "prose 0.978 stays\n<!-- table: t -->\n| a |\n|---|\n| 0.978 |\n<!-- end table -->\n"
        "- item\n  <!-- table: t -->\n  | old |\n  <!-- end table -->\nend\n"
    )
    new = rewrite_blocks(text, lambda name: md_rows(["a"], [["0.979"], [""]]))
    assert new == (
        "prose 0.978 stays\n<!-- table: t -->\n| a |\n|---|\n| 0.979 |\n| |\n<!-- end table -->\n"
        "- item\n  <!-- table: t -->\n  | a |\n  |---|\n  | 0.979 |\n  | |\n  <!-- end table "
        "-->\nend\n"
    )
    path = tmp_path / "RESULTS.md"
    path.write_text(text)
    assert (
        update_results_file(path, {"t": lambda: ["| a |"]}, check=True) and path.read_text() == text
    )
    with pytest.raises(KeyError, match="no renderer"):
        update_results_file(path, {})


def test_a_hand_edited_cell_is_caught(tmp_path):
    path = tmp_path / "RESULTS.md"
    text = lc.RESULTS_MD.read_text()
    marker = "| acac | 25 | 3 | "
    assert marker in text
    path.write_text(text.replace(marker, "| acac | 25 | 4 | ", 1))
    assert update_results_file(path, lc.RENDERERS, check=True)
    update_results_file(path, lc.RENDERERS)
    assert path.read_text() == text


def _planned_runs(dataset: str) -> dict[str, set[str]]:
    """{sweep: run names} that `run.sh DATASET` trains (its stages, expanded as queue.sh does)."""
    import os
    import subprocess

    from orbjax.sweep import expand, load_sweep, select

    root = lc.RESULTS_MD.parents[2]
    stages = subprocess.run(
        ["bash", str(root / "experiments" / "learning_curves" / "run.sh"), dataset],
        env={**os.environ, "QUEUE_LIST": "1"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    planned: dict[str, set[str]] = {}
    for stage in stages:
        head, *filters = stage.split("+")
        sweep, _, seed = head.partition("@")
        only = ([f"seed={seed}"] if seed else []) + filters
        path = str(root / "configs" / "sweeps" / f"{sweep.split(':')[0]}.py") + (
            f":{sweep.split(':')[1]}" if ":" in sweep else ""
        )
        for spec in select(expand(load_sweep(path), path), only):
            planned.setdefault(os.path.basename(os.path.dirname(spec["workdir"])), set()).add(
                spec["name"]
            )
    return planned


@pytest.mark.parametrize("dataset", ["acac", "chno", "chno_grown"])
def test_run_sh_trains_every_run_the_results_hold(dataset):
    """`run.sh DATASET` plans exactly the finished runs of the dataset's committed CSVs (the
    time-to-accuracy sweeps `*_tta*` belong to the benchmarks)."""
    from experiments.common.tables import read_rows
    from experiments.learning_curves.collect import GROUPS, RESULTS, base_dataset

    planned = _planned_runs(dataset)
    committed = {
        sweep: {r["name"] for r in read_rows(f"{RESULTS}/{sweep}.csv") if r["status"] == "finished"}
        for group in GROUPS.values()
        for sweep in group
        if base_dataset(sweep) == dataset
    }
    committed = {s: names for s, names in committed.items() if names}
    assert planned == committed


def test_results_and_readmes_speak_of_the_work_not_of_its_history():
    """Sessions and issue numbers mean nothing to a reader; the history is in CHANGELOG.md."""
    import re

    root = lc.RESULTS_MD.parents[2]
    pages = [p for top in ("experiments", "benchmarks") for p in (root / top).rglob("*.md")]
    assert pages and (root / "CHANGELOG.md").exists()
    offenders = [
        f"{p.relative_to(root)}:{i}"
        for p in pages
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"\bsessions?\b|\bissue ?\d+|\bissue's\b", line, re.I)
    ]
    assert not offenders, offenders


def test_metals_tables_round_the_csv_strings_half_up():
    """The CSVs keep 4 significant digits; the tables round those strings as printed
    (1.115 → 1.12, where float formatting gives 1.11) and add no digits the CSV lacks."""
    assert metals.digits("1.115", 2) == "1.12"
    assert metals.digits("106.4", 2) == "106.4"
    assert metals.digits("0.9", 2, pad=True) == "0.90"
    assert metals.digits("-0.002", 2, pad=True) == "-0.00"
