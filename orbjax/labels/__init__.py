"""xTB labelling: one structure (`xtb`), many in parallel and resumable (`runner`)."""

from orbjax.labels.runner import LabelReport, label_structures
from orbjax.labels.xtb import REFERENCE_VALENCE, XtbResult, label_structure, onsite_blocks, run_xtb

__all__ = [
    "LabelReport",
    "label_structures",
    "REFERENCE_VALENCE",
    "XtbResult",
    "label_structure",
    "onsite_blocks",
    "run_xtb",
]
