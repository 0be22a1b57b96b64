"""The test process runs with the process settings of orbjax's command lines.

`import orbjax` applies none (orbjax/runtime.py), but the tests compare in-process runs with
runs of `python -m orbjax.train`, which calls `tune_cpu()`, and were timed with it. It has to
happen before JAX starts its backend, so here, before any test module is imported.
Subprocesses inherit the XLA flag through XLA_FLAGS unless a test sets its own.
"""

from orbjax.runtime import tune_cpu

tune_cpu()
