"""Preemption: stop signals take effect between training steps, after a checkpoint.

A scheduler warns a job before ending it: SLURM sends SIGTERM at the time limit (or the
job's `--signal`, e.g. SIGUSR2 90 s early), and submitit requeues a job on SIGUSR2 by
raising `SystemExit` from its signal handler. Python runs a handler wherever the main thread
happens to be: inside an orbax save, or inside one of JAX's garbage-collection callbacks,
which swallows the exception, so the requeue is lost and the job runs on (seen in CI).

`DeferredSignals` records such a signal instead. The training loop asks `requested()`
between steps, saves a checkpoint, and calls `deliver()`, which gives the signal the effect
it would have had (the previous handler, or the default action: the process ends) at a
point where nothing is half done. A signal that arrives after the loop is delivered when the
context exits. Handlers can only be set from the main thread; elsewhere this does nothing.
"""

from __future__ import annotations

import signal
import threading

import numpy as np

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR2)


class DeferredSignals:
    def __init__(self, signals=STOP_SIGNALS):
        self.signals = tuple(signals)
        self.pending: int | None = None  # the signal received and not yet delivered
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "DeferredSignals":
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in self.signals:
            previous = signal.getsignal(signum)
            if previous in (signal.SIG_IGN, None):  # ignored (or set outside Python): leave it so
                continue
            self._previous[signum] = previous
            signal.signal(signum, self._record)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        pending = self.pending
        self._restore()
        if pending is not None and exc_type is None:
            self.deliver(pending)

    def _record(self, signum, frame) -> None:
        self.pending = signum

    def _restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

    def requested(self) -> bool:
        """Whether a stop signal waits. With several JAX processes this is collective (every
        process must call it at the same step) and true when any process got a signal, so
        all of them save the same checkpoint."""
        import jax

        if jax.process_count() == 1:
            return self.pending is not None
        from jax.experimental import multihost_utils

        received = multihost_utils.process_allgather(np.int32(self.pending or 0))
        if self.pending is None and received.max() > 0:
            self.pending = int(received.max())
        return self.pending is not None

    def deliver(self, signum: int | None = None) -> None:
        """Give the pending signal its original effect: the handler that was there before
        (submitit's requeue raises SystemExit; a handler that returns lets the run go on), or
        the default action, after which this process is gone."""
        signum = self.pending if signum is None else signum
        self.pending = None
        if signum is None:
            return
        previous = self._previous.get(signum, signal.SIG_DFL)
        if callable(previous):
            previous(signum, None)
            return
        self._restore()
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
