"""What every command line shares: one-line errors, `--debug`, help with defaults, quiet orbax.

A user's mistake (a missing or unreadable file, a bad option or config override, an element
the model never saw, a file of the wrong kind) ends a command with one line on stderr,
``error: <what and how to fix it>``, and exit status 1: a traceback buries the one line
that matters. ``--debug`` or ``ORBJAX_DEBUG=1`` shows the traceback instead. Errors that
are not a user's (a bug) keep their traceback. A directory the command created for its
output and left without results is removed, so a failed first try leaves nothing behind.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Callable, Iterable

DEBUG_ENV = "ORBJAX_DEBUG"
DEBUG_HELP = f"show the traceback of an error instead of one line (also {DEBUG_ENV}=1)"


class UsageError(ValueError):
    """A command line the program cannot run (bad option, unknown config field)."""


# What a user's input or environment can cause; anything else is a bug and keeps its traceback.
# UnknownElementError, ModelFileError, ReadError, StructureError and UsageError are
# ValueErrors; FloatingPointError is train.nonfinite='stop'.
USER_ERRORS = (OSError, ValueError, FloatingPointError)


def debug_requested(argv: Iterable[str] | None = None) -> bool:
    """--debug among the arguments, or ORBJAX_DEBUG=1 in the environment."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0") or "--debug" in list(argv or ())


def one_line(err: BaseException) -> str:
    """The error's message on one line (a KeyError's without the quotes `str` adds)."""
    if isinstance(err, OSError) and err.filename and err.strerror and len(err.args) == 2:
        # not "[Errno 2] ..."
        return f"{err.filename}: {err.strerror[:1].lower()}{err.strerror[1:]}"
    text = err.args[0] if isinstance(err, KeyError) and len(err.args) == 1 else str(err)
    text = " ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return text or type(err).__name__


class OutputDirectory:
    """A directory a command writes into: removed again if the command created it and fails
    before `done` (a file in it that marks results) exists."""

    def __init__(self, path, done: str | None = None):
        self.path = Path(path)
        self.existed = self.path.exists()
        self.done = done

    def clean_up(self) -> None:
        if self.existed or not self.path.is_dir():
            return
        if self.done is not None and (self.path / self.done).exists():
            return
        shutil.rmtree(self.path, ignore_errors=True)


def run(
    body: Callable[[], int | None],
    argv: Iterable[str] | None = None,
    outputs: Iterable[OutputDirectory] = (),
    errors: tuple = USER_ERRORS,
) -> int:
    """Run a command's `body`: its exit status, or 1 and one line on stderr for a user's error
    (`errors`; a command adds its own, e.g. the sweep's KeyError for an unknown field)."""
    quiet_orbax()
    try:
        code = body()
    except errors as err:
        for out in outputs:
            out.clean_up()
        if debug_requested(argv):
            raise
        print(f"error: {one_line(err)}", file=sys.stderr, flush=True)
        return 1
    return 0 if code is None else int(code)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in --help, except where there is none to show (None, False, a required option)."""

    def _get_help_string(self, action):
        if (
            action.default is None
            or action.default is False
            or action.required
            or action.default is argparse.SUPPRESS
        ):
            return action.help
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with defaults in --help, a --debug option, and bad arguments raised as
    `UsageError` (one line, exit status 1, through `run`) instead of usage text and exit 2."""

    def __init__(self, *args, debug: bool = True, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)
        if debug:
            self.add_argument("--debug", action="store_true", help=DEBUG_HELP)

    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


class _DropOrbaxNoise(logging.Filter):
    """orbax warns "Metadata file does not exist" for every checkpoint orbjax writes without
    orbax's optional metadata file; it is expected and harmless."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Metadata file does not exist")


_FILTER = _DropOrbaxNoise()


def quiet_orbax() -> None:
    """Drop orbax's expected-and-harmless warnings (absl's logger; idempotent)."""
    logger = logging.getLogger("absl")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
