"""One cycle at a time, in-process: ``Reconciler.tick`` against the emulator over real HTTP, no
scheduler. Each test pins one rule of ``daemon/cycle.py`` that a one-line change would break:
heal keeps apply's safety rules, ``apply.blocked`` is said once per distinct blocker,
``/readyz`` looks at how old the last success is, ``resolved_by`` names the desired state when an
edit resolved drift, a missing credential is an error of its own (``credential.missing``), and
``cycle.summary`` tells a quiet daemon from a stuck one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daemon_helpers import (
    ALICE,
    EXTRA,
    KEY,
    LOST,
    TOKENS,
    deletes,
    desired_text,
    planted,
    rewrite,
    wait_until,
)
from prometheus_client import CollectorRegistry

from reconciler.client.management import ManagementClient
from reconciler.daemon.metrics import Metrics
from reconciler.emulator import Emulator

# -- heal keeps apply's safety rules ---------------------------------------------------------


def test_heal_does_not_mass_delete_without_the_flag(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE, *EXTRA)
    r = rig(desired_text(prune=True, max_deletions=2), mode="heal")
    r.tick()
    (blocked,) = r.events("apply.blocked")
    assert blocked["rules"] == ["mass-delete"] and blocked["severity"] == "error"
    assert deletes(cpa) == []
    assert r.events("apply.succeeded") == []

    lifted = rig(desired_text(prune=True, max_deletions=2), mode="heal", allow_mass_delete=True)
    lifted.tick()
    assert lifted.events("apply.blocked") == []
    assert len(deletes(cpa)) == 1  # one request deletes the three
    assert sorted(p.name for p in cpa.auth_dir.iterdir()) == [ALICE]


def test_heal_does_not_replace_tokens_without_the_flag(cpa: Emulator, rig: Any) -> None:
    cpa.write_auth_file(ALICE, {"type": "codex", "refresh_token": "RT-ROTATED-BY-CPA"})
    text = desired_text().replace(
        "source: auth/alice.json", "source: auth/alice.json\n      replace: true"
    )
    r = rig(text, mode="heal")
    r.tick()
    (blocked,) = r.events("apply.blocked")
    assert blocked["rules"] == ["replace"]
    assert cpa.read_auth_file(ALICE)["refresh_token"] == "RT-ROTATED-BY-CPA"

    lifted = rig(text, mode="heal", allow_replace=True)
    lifted.tick()
    assert lifted.events("apply.blocked") == []
    assert cpa.read_auth_file(ALICE)["refresh_token"] == TOKENS["refresh_token"]


def test_apply_blocked_is_said_once_per_distinct_blocker(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE, *EXTRA)
    r = rig(desired_text(prune=True, max_deletions=2), mode="heal")
    r.tick(3)
    assert len(r.events("apply.blocked")) == 1  # the same blocker, three cycles
    assert r.sample("reconciler_applies_total", result="blocked") == 3

    planted(cpa, "old-4.json")  # the blocker changes: four deletes now
    r.tick(2)
    blocked = r.events("apply.blocked")
    assert len(blocked) == 2
    assert "deletes 4 auth files" in blocked[1]["reason"]
    assert deletes(cpa) == []


# -- readiness -------------------------------------------------------------------------------


def test_readiness_goes_when_the_last_success_is_too_old(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), interval=1.0, jitter=0.0)
    assert r.ready[0] is False  # no cycle yet
    r.tick()
    ready, detail = r.ready
    assert ready is True, detail
    # No cycle runs (a scheduler stuck, a cycle hung in a request): 3 intervals later, not ready.
    stale = wait_until(lambda: (s := r.ready) and not s[0] and s, "readiness to go", timeout=20)
    assert "no successful cycle for" in stale[1]["reason"]
    assert stale[1]["age_seconds"] > 3.0
    r.tick()
    assert r.ready[0] is True


# -- resolved_by -----------------------------------------------------------------------------


def test_an_edit_of_the_desired_state_is_what_resolved_the_drift(
    cpa: Emulator, rig: Any, tmp_path: Path
) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text())
    with ManagementClient(cpa.url, KEY) as client:
        client.set_setting("debug", True)
    r.tick()
    detected = r.events("drift.detected", path="debug")
    assert len(detected) == 1

    rewrite(tmp_path / "repo" / "desired-state.yaml", desired_text().replace("false", "true", 1))
    r.tick()
    (resolved,) = r.events("drift.resolved", path="debug")
    assert resolved["resolved_by"] == "desired-state"
    assert resolved["first_seen"] == detected[0]["first_seen"]


# -- a missing credential --------------------------------------------------------------------


def test_a_missing_credential_is_an_error_event_once_with_a_gauge(
    cpa: Emulator, rig: Any, tmp_path: Path
) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(files=f"    - name: {LOST}\n      disabled: false\n"))
    r.tick(3)
    (missing,) = r.events("credential.missing")
    assert missing["severity"] == "error"
    assert (missing["kind"], missing["name"]) == ("auth-file", LOST)
    assert "no source" in missing["reason"]
    assert "add a `source:`" in missing["remedy"] and "web UI" in missing["remedy"]
    assert "`reconciler login PROVIDER --desired FILE`" in missing["remedy"]
    assert r.events("drift.detected") == []  # not drift apply could fix
    assert r.sample("reconciler_credentials_missing") == 1
    assert r.sample("reconciler_drift_items", kind="auth-file") == 0
    ready, detail = r.ready  # the daemon works: ready, and says what is missing
    assert ready is True and detail["credentials_missing"] == 1

    planted(cpa, LOST)  # someone logged in again in the web UI
    r.tick(2)
    (back,) = r.events("credential.resolved")
    assert (back["name"], back["resolved_by"], back["severity"]) == (LOST, "server", "info")
    assert back["first_seen"] == missing["first_seen"]
    assert r.sample("reconciler_credentials_missing") == 0
    assert "credentials_missing" not in r.ready[1]

    (tmp_path / "repo" / "x").write_text("")  # still one event each, after more cycles
    r.tick()
    assert len(r.events("credential.missing")) == 1 and len(r.events("credential.resolved")) == 1


def test_a_missing_credential_dropped_from_the_desired_state_is_resolved_by_it(
    cpa: Emulator, rig: Any, tmp_path: Path
) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(files=f"    - name: {LOST}\n"), mode="heal")
    r.tick()
    assert len(r.events("credential.missing")) == 1
    assert r.events("apply.succeeded") == [] and cpa.mutating_requests() == []
    rewrite(tmp_path / "repo" / "desired-state.yaml", desired_text())
    r.tick()
    (back,) = r.events("credential.resolved")
    assert back["resolved_by"] == "desired-state"


# -- quiet or stuck --------------------------------------------------------------------------


def test_a_summary_says_the_daemon_is_alive_and_what_still_differs(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(files=f"    - name: {LOST}\n"), summary_interval=1.0)
    with ManagementClient(cpa.url, KEY) as client:
        client.set_setting("debug", True)
    ticks = 0

    def summarised() -> list[dict[str, Any]]:
        nonlocal ticks
        r.tick()
        ticks += 1
        return r.events("cycle.summary")

    (summary,) = wait_until(summarised, "a cycle.summary")
    assert summary["severity"] == "info" and summary["mode"] == "observe"
    assert summary["cycles"] == {"success": ticks, "error": 0, "skipped": 0}
    assert summary["drift_items"] == 1  # debug
    assert summary["credentials_missing"] == 1
    assert summary["last_success"] and summary["since"]
    r.tick()
    assert len(r.events("cycle.summary")) == 1  # not every cycle: the count starts again
    assert r.events("drift.detected", path="debug") and len(r.events("credential.missing")) == 1


def test_no_summary_when_turned_off(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), summary_interval=0)
    r.tick(3)
    assert r.events("cycle.summary") == []
    assert [e["event"] for e in r.events()] == ["desired.loaded"]


def test_metrics_have_no_created_series() -> None:
    text = Metrics(CollectorRegistry()).exposition().decode()
    assert "reconciler_cycles_total" in text and "reconciler_credentials_missing 0.0" in text
    assert "_created" not in text
