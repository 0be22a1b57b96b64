"""Where the studies find the repository, the committed data and the fetched public sets."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Committed with the repository (provenance and licences beside each file).
COMMITTED_DATA = REPO / "experiments" / "data"
CHNO = COMMITTED_DATA / "chno" / "chno_wb97x.extxyz"
# Public sets placed by `python -m experiments.data.fetch` (git-ignored, like every
# derived file under data/).
PUBLIC_DATA = REPO / "data" / "public"
BOTNET = PUBLIC_DATA / "botnet"
METALS = PUBLIC_DATA / "metals"


def relative(path: Path) -> str:
    """`path` relative to the repository root: what configs store (runs start there)."""
    return str(Path(path).resolve().relative_to(REPO))
