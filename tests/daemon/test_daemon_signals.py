"""SIGTERM and SIGINT end the daemon with exit 0 within a few seconds, mid-cycle included."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from daemon_helpers import StartDaemon, wait_until

from reconciler.emulator import Emulator


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_when_idle_exits_zero(
    converged: Emulator, desired: Path, daemon: StartDaemon, sig: signal.Signals
) -> None:
    d = daemon(desired, "--interval", "0.5")
    d.wait_cycles(1)
    d.proc.send_signal(sig)
    assert d.proc.wait(timeout=10) == 0
    d.close()
    assert d.all("daemon.stopped", reason=sig.name)


def test_sigterm_mid_cycle_finishes_the_cycle_then_exits_zero(
    converged: Emulator, desired: Path, daemon: StartDaemon
) -> None:
    converged.inject_fault("GET", "/config.yaml", delay=2.0, times=100)  # every cycle is slow
    d = daemon(desired, "--interval", "0.5")
    wait_until(lambda: d.metric("reconciler_cycle_in_progress") == 1, "a cycle in flight")

    assert d.terminate(timeout=10) == 0
    stopped = d.wait_for("daemon.stopped")
    assert stopped["cycle_in_progress"] is True
    assert stopped["cycle_finished"] is True


def test_a_hung_request_does_not_hold_the_exit(
    converged: Emulator, desired: Path, daemon: StartDaemon
) -> None:
    converged.inject_fault("GET", "/config.yaml", delay=30.0)
    d = daemon(desired, "--interval", "0.5", "--shutdown-timeout", "1")
    wait_until(lambda: d.metric("reconciler_cycle_in_progress") == 1, "a cycle in flight")

    assert d.terminate(timeout=10) == 0  # long before the request would end
    stopped = d.wait_for("daemon.stopped")
    assert stopped["cycle_in_progress"] is True
    assert stopped["cycle_finished"] is False
