"""The generated tables of the metals RESULTS.md, from the files `results/` holds.

    python -m experiments.metals.results_md [--check]

Each table sits between `<!-- table: NAME -->` and `<!-- end table -->`. The per-system
tables are `score.py`'s `results/scores_decisive_tables.md` (written from
`scores_decisive_summary.csv`), copied whole.
"""

from __future__ import annotations

import sys
from pathlib import Path

from experiments.common.tables import results_main

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"


def include(name: str):
    """A generated markdown file of results/, without its surrounding blank lines."""
    return lambda: (HERE / "results" / name).read_text().strip("\n").split("\n")


RENDERERS = {"scores-decisive": include("scores_decisive_tables.md")}


def main(argv=None) -> int:
    return results_main(RESULTS_MD, RENDERERS, argv)


if __name__ == "__main__":
    sys.exit(main())
