"""A wrong key: one failed authentication per backoff window, never a ban, recovery when the
key file is fixed."""

from __future__ import annotations

from pathlib import Path

from daemon_helpers import (
    KEY,
    WRONG_KEY,
    StartDaemon,
    assert_no_secrets,
    base_env,
    wait_until,
)

from reconciler.client.management import ManagementClient
from reconciler.emulator import Emulator


def refused(cpa: Emulator) -> list[int]:
    return [r.status for r in cpa.requests() if r.is_management and r.status in (401, 403)]


def test_wrong_key_sends_one_failed_attempt_per_window_and_recovers(
    converged: Emulator, desired: Path, daemon: StartDaemon, tmp_path: Path
) -> None:
    key_file = tmp_path / "management-key"
    key_file.write_text(WRONG_KEY + "\n")
    env = base_env(converged.url, key=None)
    d = daemon(
        desired,
        "--interval", "0.3",
        "--ban-backoff", "3600",
        "--management-key-file", str(key_file),
        env=env,
    )  # fmt: skip

    backoff = d.wait_for("auth.backoff")
    assert backoff["hold_seconds"] == 3600
    assert d.wait_for("reconcile.error", stage="auth")
    d.wait_cycles(8, result="skipped")  # eight more ticks, each re-reading the key file
    assert refused(converged) == [401]
    assert len(d.all("auth.backoff")) == 1  # said once per backoff
    assert d.metric("reconciler_auth_backoff") == 1
    assert d.get("/readyz").status_code == 503
    with ManagementClient(converged.url, KEY) as client:  # the IP is not banned
        assert client.get_config()["debug"] is False

    key_file.write_text(KEY + "\n")
    retry = d.wait_for("auth.retry")
    assert "key changed" in retry["reason"]
    d.wait_for("reconcile.recovered")
    wait_until(lambda: d.get("/readyz").status_code == 200, "ready with the right key")
    assert refused(converged) == [401]
    assert d.metric("reconciler_auth_backoff") == 0
    assert d.terminate() == 0
    assert_no_secrets(d.output() + d.stderr)
