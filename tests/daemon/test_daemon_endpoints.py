"""/healthz, /readyz and /metrics of a running daemon, with the values they should have."""

from __future__ import annotations

from pathlib import Path

from daemon_helpers import KEY, StartDaemon, wait_until

from reconciler.client.management import ManagementClient
from reconciler.emulator import Emulator
from reconciler.emulator.defaults import VERSION


def test_endpoints_while_it_runs_and_when_cpa_goes_away(
    converged: Emulator, desired: Path, daemon: StartDaemon
) -> None:
    d = daemon(desired, "--interval", "0.5")
    d.wait_cycles(1)

    health = d.get("/healthz")
    assert (health.status_code, health.text) == (200, "ok\n")
    ready = d.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True
    assert d.get("/nope").status_code == 404

    metrics = d.metrics()
    assert metrics['reconciler_cycles_total{result="success"}'] >= 1
    assert metrics['reconciler_cycles_total{result="error"}'] == 0
    assert metrics['reconciler_drift_items{kind="config"}'] == 0
    assert metrics['reconciler_drift_items{kind="auth-file"}'] == 0
    assert metrics['reconciler_applies_total{result="success"}'] == 0
    assert metrics["reconciler_cycle_duration_seconds_count"] >= 1
    assert metrics["reconciler_last_success_timestamp_seconds"] > 1.7e9
    assert metrics["reconciler_desired_state_valid"] == 1
    assert metrics["reconciler_auth_backoff"] == 0
    info = [k for k in metrics if k.startswith("reconciler_cpa_server_info{")]
    assert len(info) == 1 and f'version="{VERSION}"' in info[0]
    assert d.get("/metrics").headers["content-type"].startswith("text/plain")

    with ManagementClient(converged.url, KEY) as client:
        client.set_setting("debug", True)
    wait_until(lambda: d.metric('reconciler_drift_items{kind="config"}') == 1, "the drift gauge")

    converged.stop()  # CPA goes away: cycles fail, readiness follows, liveness does not
    not_ready = wait_until(lambda: (r := d.get("/readyz")).status_code == 503 and r, "not ready")
    assert not_ready.json()["ready"] is False
    assert "plan" in not_ready.json()["reason"]
    assert d.get("/healthz").status_code == 200
    error = d.wait_for("reconcile.error", stage="plan")
    assert error["retry_in"] > 0 and error["attempt"] == 1
    assert d.metric('reconciler_failures_total{stage="plan"}') >= 1
    assert d.terminate() == 0
