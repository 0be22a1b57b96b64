"""CSV files and markdown tables, the way every study writes them.

CSV: the header is the union of the rows' keys in order of first appearance; floats are
written to `digits` significant digits, so a regenerated file is byte-identical when its
numbers are.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path


def read_rows(path) -> list[dict]:
    """The rows of a CSV file as dicts of strings; [] when the file does not exist."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path, rows: list[dict], digits: int | None = 6, fields: list[str] | None = None) -> None:
    """`rows` to `path` (nothing is written for no rows). `digits=None` writes floats in full
    (Python's shortest round-trip form). `fields`: the columns, in order (default: every
    row's keys); a missing value or None is an empty cell."""
    if not rows:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fields = fields or list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fields, restval="", extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.{digits}g}" if isinstance(v, float) and digits is not None else v)
                        for k, v in r.items()})


def md_table(title: str, columns: list[str], body: list[str]) -> list[str]:
    """A section of markdown: its `## title`, then a table of the `body` rows (none: nothing)."""
    if not body:
        return []
    return ["", f"## {title}", "", "| " + " | ".join(columns) + " |", "|---" * len(columns) + "|", *body]
