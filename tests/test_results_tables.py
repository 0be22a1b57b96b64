"""The tables of the RESULTS files are drawn from the committed CSVs: every marked table is
what its renderer prints now, and a table edited by hand or a CSV changed without
regenerating is caught."""
import pytest

from experiments.common.tables import md_rows, rewrite_blocks, update_results_file
from experiments.learning_curves import results_md as lc
from experiments.metals import results_md as metals


@pytest.mark.parametrize("study", [lc, metals], ids=["learning_curves", "metals"])
def test_every_generated_table_matches_its_csvs(study):
    assert study.RENDERERS and not update_results_file(study.RESULTS_MD, study.RENDERERS, check=True), (
        f"regenerate with python -m {study.__name__}")
    assert study.RESULTS_MD.read_text().count("<!-- table: ") == len(study.RENDERERS)  # every renderer is used


def test_only_the_marked_bodies_are_rewritten_with_their_indentation(tmp_path):
    text = ("prose 0.978 stays\n<!-- table: t -->\n| a |\n|---|\n| 0.978 |\n<!-- end table -->\n"
            "- item\n  <!-- table: t -->\n  | old |\n  <!-- end table -->\nend\n")
    new = rewrite_blocks(text, lambda name: md_rows(["a"], [["0.979"], [""]]))
    assert new == ("prose 0.978 stays\n<!-- table: t -->\n| a |\n|---|\n| 0.979 |\n| |\n<!-- end table -->\n"
                   "- item\n  <!-- table: t -->\n  | a |\n  |---|\n  | 0.979 |\n  | |\n  <!-- end table -->\nend\n")
    path = tmp_path / "RESULTS.md"
    path.write_text(text)
    assert update_results_file(path, {"t": lambda: ["| a |"]}, check=True) and path.read_text() == text
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
