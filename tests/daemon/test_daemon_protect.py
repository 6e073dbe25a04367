"""A heal daemon with ``prune: true`` and a protected, unlisted file on the server.

Before issue 10 that one file made every plan fail with exit 4, so the daemon healed nothing
until someone edited git. Now the file is kept (not drift, never reported, never a blocker)
and the rest heals.
"""

from __future__ import annotations

from pathlib import Path

from daemon_helpers import ALICE, BOB, DESIRED, KEY, StartDaemon, rewrite

from reconciler.client.management import ManagementClient
from reconciler.emulator import Emulator

PRUNED = DESIRED.replace(
    "auth-files:\n  files:", 'auth-files:\n  prune: true\n  protect: ["keep-*.json"]\n  files:'
)
LEGACY = {"type": "codex", "email": "legacy@example.com", "refresh_token": "RT-legacy-PLANTED"}


def test_heal_prunes_around_a_protected_file_and_never_reports_it(
    converged: Emulator, desired: Path, daemon: StartDaemon
) -> None:
    assert PRUNED != DESIRED
    rewrite(desired, PRUNED)
    converged.write_auth_file("keep-legacy.json", LEGACY)
    kept_bytes = (converged.auth_dir / "keep-legacy.json").read_bytes()

    d = daemon(desired, "--interval", "0.5", "--mode", "heal")
    d.wait_cycles(1)
    converged.write_auth_file("stale.json", {**LEGACY, "email": "stale@example.com"})
    with ManagementClient(converged.url, KEY) as client:
        client.set_setting("debug", True)

    d.wait_for("drift.detected", kind="auth-file", name="stale.json", op="delete")
    d.wait_for("drift.resolved", name="stale.json")
    d.wait_for("drift.resolved", path="debug")
    applied = d.wait_for("apply.succeeded")
    assert "delete auth-file/stale.json" in applied["actions"]
    d.wait_cycles(2)

    files = sorted(p.name for p in converged.auth_dir.iterdir())
    assert files == sorted([ALICE, BOB, "keep-legacy.json"])
    assert (converged.auth_dir / "keep-legacy.json").read_bytes() == kept_bytes
    assert "keep-legacy.json" not in d.output(), "a kept file is not drift: never reported"
    assert d.all("apply.blocked") == [] and d.all("reconcile.error") == []
    assert d.terminate() == 0
