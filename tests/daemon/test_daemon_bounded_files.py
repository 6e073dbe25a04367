"""The daemon meets a ``${file:}`` reference to a FIFO or /dev/zero: an error event, then the
next cycles go on (issue 9, item 8). It used to wait for ever on the FIFO, with no event, or
grow without end on /dev/zero."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from daemon_helpers import DESIRED, StartDaemon, rewrite, wait_until

from reconciler.emulator import Emulator

INTERVAL = "0.5"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_reference_to_a_fifo_or_a_device_is_an_error_event(
    converged: Emulator, desired: Path, daemon: StartDaemon, tmp_path: Path, kind: str
) -> None:
    d = daemon(desired, "--interval", INTERVAL, "--mode", "heal")
    d.wait_cycles(1)

    if kind == "fifo":
        special = tmp_path / "pipe"
        os.mkfifo(special)
        says = "a FIFO, not a regular file"
    else:
        special, says = Path("/dev/zero"), "a character device, not a regular file"
    reference = f"${{file:{special}}}"
    rewrite(desired, DESIRED.replace("${env:CLIENT_KEY}", f'"{reference}"'))
    error = d.wait_for("reconcile.error", stage="desired-state")
    assert f"{reference}: the file cannot be read ({says})" in error["reason"]
    assert f"{desired.name}:6" in error["reason"]
    wait_until(lambda: d.get("/readyz").status_code == 503, "not ready while the file is broken")
    d.wait_cycles(2, result="error")  # the loop goes on: nothing waits on the FIFO
    assert converged.mutating_requests() == []

    rewrite(desired, DESIRED)
    assert d.wait_for("desired.loaded", recovered=True)
    assert d.terminate() == 0
