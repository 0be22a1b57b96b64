"""Stop signals are recorded, then delivered with their original effect at a safe point."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from orbjax.training.preemption import DeferredSignals


@pytest.fixture
def previous_handler():
    """A Python handler on SIGUSR2 (like submitit's requeue) that records its calls."""
    calls = []
    old = signal.signal(signal.SIGUSR2, lambda signum, frame: calls.append(signum))
    yield calls
    signal.signal(signal.SIGUSR2, old)


def test_signal_waits_for_deliver_then_reaches_the_previous_handler(previous_handler):
    original = signal.getsignal(signal.SIGUSR2)
    with DeferredSignals() as stop:
        assert not stop.requested()
        os.kill(os.getpid(), signal.SIGUSR2)
        assert stop.requested() and stop.pending == signal.SIGUSR2
        assert previous_handler == []  # nothing happens mid-step
        stop.deliver()
        assert previous_handler == [signal.SIGUSR2] and not stop.requested()
        os.kill(os.getpid(), signal.SIGUSR2)  # a handler that returns: deferred again
        assert stop.requested() and previous_handler == [signal.SIGUSR2]
    # a signal never delivered in the loop is delivered on exit; the old handlers are back
    assert previous_handler == [signal.SIGUSR2] * 2
    assert signal.getsignal(signal.SIGUSR2) is original


def test_a_handler_that_exits_does_so_at_deliver(previous_handler):
    def requeue(signum, frame):  # what submitit does on SIGUSR2
        raise SystemExit(144)

    signal.signal(signal.SIGUSR2, requeue)
    with pytest.raises(SystemExit) as exit_info:
        with DeferredSignals() as stop:
            os.kill(os.getpid(), signal.SIGUSR2)
            stop.deliver()
    assert exit_info.value.code == 144


def test_ignored_signals_stay_ignored():
    old = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        with DeferredSignals() as stop:
            assert signal.getsignal(signal.SIGUSR2) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGUSR2)
            assert not stop.requested()
    finally:
        signal.signal(signal.SIGUSR2, old)


def test_default_action_ends_the_process_only_at_deliver():
    code = textwrap.dedent("""
        import os, signal
        from orbjax.training.preemption import DeferredSignals
        with DeferredSignals() as stop:
            os.kill(os.getpid(), signal.SIGTERM)
            print("still running", flush=True)
            stop.deliver()
            print("not reached", flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert done.stdout.split() == ["still", "running"]
