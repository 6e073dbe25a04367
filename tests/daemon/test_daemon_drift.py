"""The daemon against the emulator: drift made the way the web UI makes it is reported once,
healed in heal mode, and never written in observe mode; a broken desired-state edit is an
error event and blocks heal until it is fixed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daemon_helpers import (
    ALICE,
    BOB,
    BROKEN,
    BROKEN_LINE,
    CLIENT_KEY,
    DESIRED,
    KEY,
    TOKENS,
    Daemon,
    StartDaemon,
    assert_no_secrets,
    rewrite,
    wait_until,
)

from reconciler.client.management import ManagementClient
from reconciler.emulator import Emulator

ROGUE_KEY = "rogue-client-key-PLANTED"
INTERVAL = "0.5"


def inject_drift(cpa: Emulator) -> list[tuple[str, str]]:
    """Web-UI style changes: a setting, a client key added, a credential deleted, another
    disabled; returns the mutating requests the test itself sent."""
    with ManagementClient(cpa.url, KEY) as client:
        client.set_setting("debug", True)
        client.put_api_keys([CLIENT_KEY, ROGUE_KEY])
        client.delete_auth_file(BOB)
        client.set_auth_file_disabled(ALICE, True)
    return [
        ("PUT", "/v0/management/debug"),
        ("PUT", "/v0/management/api-keys"),
        ("DELETE", "/v0/management/auth-files"),
        ("PATCH", "/v0/management/auth-files/status"),
    ]


def mutating(cpa: Emulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in cpa.mutating_requests()]


def wait_for_the_four(d: Daemon) -> None:
    d.wait_for("drift.detected", kind="config", path="debug", before=True, after=False)
    d.wait_for("drift.detected", kind="config", path="api-keys[]", before="***")
    d.wait_for("drift.detected", kind="auth-file", name=BOB, op="create")
    d.wait_for(
        "drift.detected", kind="auth-file", name=ALICE, path="disabled", before=True, after=False
    )


def test_observe_reports_drift_once_and_never_writes(
    converged: Emulator, desired: Path, daemon: StartDaemon
) -> None:
    d = daemon(desired, "--interval", INTERVAL, "--mode", "observe")
    d.wait_cycles(1)
    assert d.all("drift.detected") == []
    ours = inject_drift(converged)

    wait_for_the_four(d)
    d.wait_cycles(3)  # the drift persists over three more cycles: not announced again
    assert len(d.all("drift.detected")) == 4
    event = d.all("drift.detected", path="debug")[0]
    assert event["target"] == converged.url
    assert {"time", "first_seen", "cycle", "reason", "severity"} <= set(event)
    assert d.metric('reconciler_drift_items{kind="auth-file"}') == 2
    assert d.metric('reconciler_drift_items{kind="config"}') == 2

    with ManagementClient(converged.url, KEY) as client:  # someone puts it back by hand
        client.set_setting("debug", False)
    resolved = d.wait_for("drift.resolved", path="debug")
    assert resolved["resolved_by"] == "server"
    assert resolved["first_seen"] == event["first_seen"]

    assert d.terminate() == 0
    assert mutating(converged) == [*ours, ("PUT", "/v0/management/debug")]
    assert d.all("apply.succeeded") == []
    assert_no_secrets(d.output() + d.stderr)


def test_heal_repairs_drift_and_reports_the_resolution(
    converged: Emulator, desired: Path, daemon: StartDaemon
) -> None:
    d = daemon(desired, "--interval", INTERVAL, "--mode", "heal")
    d.wait_cycles(1)
    inject_drift(converged)

    wait_for_the_four(d)
    resolutions: list[dict[str, Any]] = [
        {"path": "debug"},
        {"path": "api-keys[]"},
        {"name": BOB, "op": "create"},
        {"name": ALICE, "path": "disabled"},
    ]
    for match in resolutions:
        assert d.wait_for("drift.resolved", **match)["resolved_by"] == "apply"
    applied = d.wait_for("apply.succeeded")
    assert "create auth-file/" + BOB in applied["actions"]
    assert applied["backup"]  # the config.yaml it replaced is kept

    with ManagementClient(converged.url, KEY) as client:
        files = {f.name: f for f in client.list_auth_files()}
        assert client.get_config()["debug"] is False
        assert client.get_api_keys() == [CLIENT_KEY]
    assert set(files) == {ALICE, BOB}
    assert files[ALICE].disabled is False
    # One upload (bob's); alice, only disabled, is patched and keeps the server's tokens.
    assert mutating(converged).count(("POST", "/v0/management/auth-files")) == 1
    assert converged.read_auth_file(ALICE)["refresh_token"] == TOKENS["refresh_token"]
    assert d.terminate() == 0
    assert_no_secrets(d.output() + d.stderr)


def test_broken_desired_edit_is_an_error_and_blocks_heal_until_fixed(
    converged: Emulator, desired: Path, daemon: StartDaemon
) -> None:
    d = daemon(desired, "--interval", INTERVAL, "--mode", "heal")
    d.wait_cycles(1)

    rewrite(desired, BROKEN)
    error = d.wait_for("reconcile.error", stage="desired-state")
    assert f"{desired.name}:{BROKEN_LINE}" in error["reason"]
    assert error["line"] == BROKEN_LINE
    wait_until(lambda: d.get("/readyz").status_code == 503, "not ready while the file is broken")

    with ManagementClient(converged.url, KEY) as client:
        client.set_setting("debug", True)
    d.wait_for("drift.detected", path="debug")  # still observed, with the last good state
    assert "invalid" in d.wait_for("apply.skipped")["reason"]
    d.wait_cycles(3, result="error")
    assert mutating(converged) == [("PUT", "/v0/management/debug")]  # nothing applied
    assert len(d.all("reconcile.error", stage="desired-state")) == 1  # said once, not per cycle

    rewrite(desired, DESIRED)
    assert d.wait_for("desired.loaded", recovered=True)
    assert d.wait_for("drift.resolved", path="debug")["resolved_by"] == "apply"
    d.wait_for("reconcile.recovered")
    wait_until(lambda: d.get("/readyz").status_code == 200, "ready again")
    assert d.terminate() == 0


def test_heal_that_does_not_stick_backs_off_instead_of_looping(
    converged: Emulator, desired: Path, daemon: StartDaemon
) -> None:
    # The server answers the config write with 200 but keeps its own value (as a server that
    # rewrites a key would): every apply "succeeds" and the drift stays.
    converged.inject_fault("PUT", "/config.yaml", status=200, body={"status": "ok"}, times=100)
    d = daemon(desired, "--interval", INTERVAL, "--mode", "heal")
    d.wait_cycles(1)
    with ManagementClient(converged.url, KEY) as client:
        client.set_setting("debug", True)

    wait_until(lambda: len(d.all("apply.failed")) >= 2, "two failed heals")
    first, second = d.all("apply.failed")[:2]
    assert "did not converge" in first["reason"]
    assert first["done"] == ["update config/config.yaml"]
    assert second["retry_in"] == 2 * first["retry_in"]  # backing off, not looping
    assert d.all("apply.succeeded") == []
    assert d.all("drift.resolved") == []
    assert len(d.all("drift.detected", path="debug")) == 1
    puts = [r for r in converged.mutating_requests() if r.path.endswith("/config.yaml")]
    assert (
        len(puts) <= len(d.all("apply.failed")) + 1
    )  # one write per attempt (one may be in flight)
    assert d.terminate() == 0
