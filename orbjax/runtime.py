"""Process-wide settings that make orbjax fast on CPUs: `tune_cpu()`.

Importing orbjax changes no process-wide setting. The command lines (`python -m orbjax.train`,
`evaluate`, `label`, `sweep`, `quickstart`, `export`) call `tune_cpu()` first thing; a
program that uses orbjax as a library calls it itself, before it does anything with JAX:

    import orbjax.runtime
    orbjax.runtime.tune_cpu()   # before the first jax array or jit

Both settings were found by profiling (benchmarks/RESULTS.md), both change the whole
process (and the first, through ``XLA_FLAGS``, the child processes it starts), and both
can be switched off with ``ORBJAX_KEEP_PROCESS_SETTINGS=1``.

1. XLA:CPU (jaxlib ≥ 0.10) hands fused element-wise/reduce/dot groups to YNNPACK. On this
model that path is much slower: small reductions over 3- or 5-wide axes in the backward
pass (forces) took 10–18 ms each instead of < 1 ms, and an MD step of an 81-atom water box
went from 65 ms to 88–130 ms (benchmarks/RESULTS.md). orbjax therefore turns YNNPACK fusions
off by putting ``--xla_cpu_experimental_ynn_fusion_type=`` first in ``XLA_FLAGS`` (first:
XLA stops reading the variable at the first token that is not a ``--flag``).

It only works before JAX creates its CPU backend (the first array or jit), so call
`tune_cpu()` before doing anything with JAX (it warns otherwise). It never overrides a
user's own setting of the flag. GPU runs are unaffected.

2. XLA:CPU allocates every temporary buffer of a jitted call with malloc and frees it at the
end. glibc serves large blocks with fresh mmap pages and trims its heap eagerly, so every
call paid page faults again: 8,400 minor faults per train step of the default model with the
orbital head (45 ms per step instead of 22 ms), and an MD call of an 81-atom water box
took 2x longer. `configure_malloc` keeps large blocks on the heap and the heap from shrinking
(glibc mallopt: no mmap blocks, trim threshold 2 GiB, top pad 64 MiB), like the caching
allocators of PyTorch and JAX on GPUs: freed memory is reused by the next call instead of
going back to the kernel, so the resident size stays at its peak.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import warnings

YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type="
MIN_JAXLIB = (0, 10)  # first jaxlib known to carry the flag (unknown flags abort XLA)


def _jaxlib_version() -> tuple[int, ...]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return tuple(int(p) for p in version("jaxlib").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return ()


def _backend_started() -> bool:
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except Exception:  # private API moved: assume it is too late to be sure
        return True


def configure_xla_flags() -> bool:
    """Prepend the YNNPACK switch to XLA_FLAGS; returns whether orbjax set it."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_experimental_ynn_fusion_type" in flags:  # the user's own choice
        return False
    if _kept() or _jaxlib_version() < MIN_JAXLIB:
        return False
    if _backend_started():
        warnings.warn(
            "orbjax.runtime.tune_cpu() was called after JAX started its backend, so "
            "XLA:CPU keeps its YNNPACK fusions and runs orbjax models up to 2x slower; "
            f"call it before using JAX or set XLA_FLAGS='{YNN_FLAG}'.",
            RuntimeWarning,
            stacklevel=3,
        )
        return False
    os.environ["XLA_FLAGS"] = f"{YNN_FLAG} {flags}".strip()
    return True


# glibc mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4


def configure_malloc() -> bool:
    """Keep XLA's large temporaries on glibc's heap (see the module docstring); returns
    whether the settings were applied (False on other C libraries or when switched off)."""
    if _kept() or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # Not changed: the number of arenas. XLA runs on its own threads, whose arenas still
    # serve blocks larger than 64 MiB with fresh mmaps (MD of ~1000+ atoms); one arena
    # (M_ARENA_MAX=1) removed a third of those faults but made train steps 1.5x slower.
    return all(
        [
            mallopt(M_MMAP_MAX, 0),
            mallopt(M_TRIM_THRESHOLD, 2**31 - 1),
            mallopt(M_TOP_PAD, 64 * 2**20),
        ]
    )


def _kept() -> bool:
    return os.environ.get("ORBJAX_KEEP_PROCESS_SETTINGS") == "1"


def tune_cpu() -> None:
    """Apply both settings of this module (XLA:CPU without YNNPACK fusions, glibc malloc
    keeping XLA's temporaries); call once, before JAX starts its backend.

    Process-wide on purpose: the command lines call it, libraries importing orbjax do not
    get it unasked. ``ORBJAX_KEEP_PROCESS_SETTINGS=1`` makes it a no-op.
    """
    configure_xla_flags()
    configure_malloc()


def precision(dtype):
    """The context in which JAX computes in `dtype` ("float32"/"float64" or a numpy dtype):
    `jax.enable_x64` for float64, nothing otherwise. Unlike `tune_cpu`, it changes nothing
    outside the `with` block."""
    import jax
    import numpy as np

    return jax.enable_x64(True) if np.dtype(dtype) == np.float64 else contextlib.nullcontext()
