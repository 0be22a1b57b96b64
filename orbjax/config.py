"""Helpers for config files in `configs/`: they build on each other by file path, so a
config works from any working directory (`--config /abs/path/configs/test.py`)."""
from __future__ import annotations

import importlib.util
import os


def load_config_module(path: str):
    """Import a config file by path and return the module (it must define get_config)."""
    name = "orbjax_config_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sibling_config(this_file: str, name: str):
    """`get_config()` of configs/<name>.py next to `this_file`."""
    return load_config_module(os.path.join(os.path.dirname(os.path.abspath(this_file)), f"{name}.py")).get_config()
