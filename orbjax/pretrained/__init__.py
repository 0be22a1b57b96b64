"""Models shipped with orbjax, by name: `orbjax.load_pretrained("chno-gfn1")`.

Each model is a model file `<name>.orbjax` here with its card `<name>.md` (data, training,
errors, what it is for) and the validation structures its card's errors were measured on,
`<name>-validation.h5`. Fine-tune one on your DFT data with
``--config.init.model=<name>`` (`configs/finetune.py`).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    """Names of the shipped models."""
    return sorted(p.stem for p in HERE.glob("*.orbjax"))


def model_path(name: str) -> Path:
    """The model file of shipped model `name`; FileNotFoundError naming the shipped ones."""
    path = HERE / f"{name}.orbjax"
    if not path.exists():
        raise FileNotFoundError(
            f"no shipped model {name!r} (shipped: {', '.join(available()) or 'none'})"
        )
    return path


def validation_path(name: str) -> Path:
    """The structures the card's validation errors were measured on (orbjax HDF5)."""
    return HERE / f"{name}-validation.h5"
