"""CSV files and markdown tables, the way every study writes them, and the generated tables
of the RESULTS files.

CSV: the header is the union of the rows' keys in order of first appearance; floats are
written to `digits` significant digits, so a regenerated file is byte-identical when its
numbers are.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path


def read_rows(path) -> list[dict]:
    """The rows of a CSV file as dicts of strings; [] when the file does not exist."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_csv(
    path, rows: list[dict], digits: int | None = 6, fields: list[str] | None = None
) -> None:
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
            w.writerow(
                {
                    k: (f"{v:.{digits}g}" if isinstance(v, float) and digits is not None else v)
                    for k, v in r.items()
                }
            )


def md_rows(columns: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table: header, separator, one line per row of cells."""

    def line(cells):
        return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"

    return [line(columns), "|---" * len(columns) + "|", *(line(r) for r in rows)]


def md_table(title: str, columns: list[str], body: list[str]) -> list[str]:
    """A section of markdown: its `## title`, then a table of the `body` rows (none: nothing)."""
    if not body:
        return []
    return [
        "",
        f"## {title}",
        "",
        "| " + " | ".join(columns) + " |",
        "|---" * len(columns) + "|",
        *body,
    ]


BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)(?P<open><!-- table: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)"
    r"^(?P=indent)(?P<close><!-- end table -->)",
    re.S | re.M,
)


def rewrite_blocks(text: str, render) -> str:
    """`text` with the body of every `<!-- table: NAME -->` … `<!-- end table -->` block
    replaced by `render(NAME)` (a list of lines, indented as the markers are): the tables of
    a RESULTS file are drawn from its CSVs, the prose around them is written by hand."""

    def block(m):
        body = "".join(f"{m['indent']}{line}\n" for line in render(m["name"]))
        return f"{m['indent']}{m['open']}{body}{m['indent']}{m['close']}"

    return BLOCK.sub(block, text)


def update_results_file(path, renderers: dict, check: bool = False) -> bool:
    """Rewrite the marked tables of a RESULTS file with `renderers` {name: () -> lines}; with
    `check`, only report. Returns whether the file (would have) changed. Unknown names raise."""
    path = Path(path)
    text = path.read_text()
    unknown = sorted({m.group("name") for m in BLOCK.finditer(text)} - set(renderers))
    if unknown:
        raise KeyError(f"{path}: no renderer for table(s) {unknown}")
    new = rewrite_blocks(text, lambda name: renderers[name]())
    if new != text and not check:
        path.write_text(new)
    return new != text


def results_main(path, renderers: dict, argv=None) -> int:
    """The command line of a study's `results_md` module: rewrite the tables, or `--check`
    (exit 1 when one is out of date: a CSV changed, or a table was edited by hand)."""
    import argparse

    p = argparse.ArgumentParser(description=f"the generated tables of {Path(path).name}")
    p.add_argument(
        "--check", action="store_true", help="report whether a table is out of date; change nothing"
    )
    args = p.parse_args(argv)
    changed = update_results_file(path, renderers, check=args.check)
    print(
        f"{path}: "
        f"{'out of date' if changed and args.check else 'rewritten' if changed else 'up to date'}"
    )
    return 1 if changed and args.check else 0
