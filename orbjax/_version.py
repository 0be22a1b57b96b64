"""orbjax's version, in a module of its own so that `model_file` can record it without
importing the package `__init__` (whose lazy `load_potential` leads back to `model_file`)."""

from __future__ import annotations

try:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    __version__ = _version("orbjax")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"
