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
# The files of METALS the metals study reads (GFN1 check, subset selection).
METALS_FILES = (
    "mlearn_Li_train.extxyz",
    "mlearn_Cu_train.extxyz",
    "mlearn_Ni_train_noAIMD.extxyz",
    "mlearn_Mo_train.extxyz",
    "mlearn_Si_train.extxyz",
    "mlearn_Ge_train.extxyz",
    "snap_Mo_npt_gb.extxyz",
    "snap_NiMo_elastic.extxyz",
    "maml_MoNbTaW_unary_train.extxyz",
    "maml_MoNbTaW_binary_train.extxyz",
)


def relative(path: Path) -> str:
    """`path` relative to the repository root: what configs store (runs start there)."""
    return str(Path(path).resolve().relative_to(REPO))
