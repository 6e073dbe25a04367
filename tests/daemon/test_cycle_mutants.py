"""One cycle at a time, in-process, for what an operator depends on in ``daemon/cycle.py``: the
auth hold and the failure backoff after errors, what heal sends and what it refuses to send
(and the events and metrics saying so), the verification after an apply, ``/readyz``'s answer
and its reasons, what a cycle counts, and the quota job's client. Each test drives
``Reconciler.tick`` against the emulator over real HTTP; faults are the emulator's own
(``inject_fault``), and the listing hook (``on_listing``) stands for what happens on the server
or to the daemon while a cycle plans; nothing is patched.

These tests are the ones ``tools/mutmut_cycle.py`` needs to tell a one-line bug in the cycle
from the real thing: they assert the exact fields, counts and requests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import (
    ALICE,
    BOB,
    CLIENT_KEY,
    DESIRED,
    EXTRA,
    KEY,
    LOST,
    WRONG_KEY,
    Rig,
    assert_no_secrets,
    desired_text,
    planted,
    rewrite,
    wait_until,
)

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.emulator import Emulator
from reconciler.emulator.defaults import BUILD_DATE, COMMIT, VERSION
from reconciler.pipeline import planning
from reconciler.statedir.backup import read_backup
from reconciler.statedir.lock import state_lock

CONFIG_PATH = "/config.yaml"
AUTH_FILES = "/auth-files"


def drifted(cpa: Emulator) -> None:
    """The server's ``debug`` is true; the desired state says false."""
    with ManagementClient(cpa.url, KEY) as client:
        client.set_setting("debug", True)
    cpa.reset_requests()


def names(r: Rig) -> list[str]:
    return [e["event"] for e in r.events()]


# -- the auth hold ----------------------------------------------------------------------------


def test_a_refused_key_holds_every_request_until_the_key_changes(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), ban_backoff=1000.0)
    r.env["CPA_MANAGEMENT_KEY"] = WRONG_KEY
    r.tick()
    (error,) = r.events("reconcile.error")
    assert (error["stage"], error["severity"], error["cycle"]) == ("auth", "error", 1)
    (hold,) = r.events("auth.backoff")
    assert hold["hold_seconds"] == 1000.0 and hold["failed_attempts"] == 1
    assert hold["reason"] == (
        "CPA refused the management key; no authenticated request is sent until the key "
        "changes or the window ends (CPA bans an IP after 5 failed attempts)"
    )
    assert "401" in error["reason"]
    assert r.sample("reconciler_failures_total", stage="auth") == 1
    assert r.sample("reconciler_failures_total", stage="plan") == 0
    assert r.sample("reconciler_auth_backoff") == 1
    assert r.sample("reconciler_cycles_total", result="error") == 1
    ready, detail = r.ready
    assert ready is False
    assert detail == {
        "cycle": 1,
        "last_success": None,
        "reason": "CPA refused the management key (auth backoff)",
    }

    cpa.reset_requests()
    r.tick(2)  # held, the same key: nothing is sent at all
    assert cpa.requests() == []
    assert r.sample("reconciler_cycles_total", result="skipped") == 2
    assert r.sample("reconciler_auth_backoff") == 1
    assert r.events("auth.retry") == [] and len(r.events("auth.backoff")) == 1

    r.env["CPA_MANAGEMENT_KEY"] = KEY
    r.tick()
    (retry,) = r.events("auth.retry")
    assert retry["reason"] == "the key changed: one authenticated attempt"
    assert retry["cycle"] == 4
    assert r.sample("reconciler_auth_backoff") == 0
    assert r.sample("reconciler_cycles_total", result="success") == 1
    (recovered,) = r.events("reconcile.recovered")
    assert recovered["failed_cycles"] == 1  # the skipped cycles are not failures
    assert r.ready[0] is True
    assert_no_secrets(r.out.getvalue())


def test_the_hold_grows_with_each_refusal_and_a_changed_key_waits_once_the_budget_is_spent(
    cpa: Emulator, rig: Any
) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), ban_backoff=1000.0)
    for n in range(1, 4):  # three different wrong keys, each tried once at once
        r.env["CPA_MANAGEMENT_KEY"] = f"{WRONG_KEY}-{n}"
        r.tick()
    holds = r.events("auth.backoff")
    assert [h["hold_seconds"] for h in holds] == [1000.0, 2000.0, 4000.0]
    assert [h["failed_attempts"] for h in holds] == [1, 2, 3]
    assert [e["reason"] for e in r.events("auth.retry")] == [
        "the key changed: one authenticated attempt"
    ] * 2
    assert r.sample("reconciler_failures_total", stage="auth") == 3

    cpa.reset_requests()
    r.env["CPA_MANAGEMENT_KEY"] = KEY  # three failures reached CPA: even a new key waits
    r.tick()
    assert cpa.requests() == []
    assert r.sample("reconciler_cycles_total", result="skipped") == 1
    assert len(r.events("auth.retry")) == 2


def test_a_hold_that_ended_lets_one_attempt_through(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), ban_backoff=0.0)  # a window that is over at once
    r.env["CPA_MANAGEMENT_KEY"] = WRONG_KEY
    r.tick()
    cpa.reset_requests()
    r.tick()
    (retry,) = r.events("auth.retry")
    assert retry["reason"] == "the backoff window ended: one authenticated attempt"
    assert [(q.method, q.authenticated) for q in cpa.requests()] == [("GET", False)]
    assert len(r.events("auth.backoff")) == 2
    assert r.sample("reconciler_cycles_total", result="error") == 2


def test_a_403_holds_but_is_not_counted_as_a_failed_attempt(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), ban_backoff=1000.0)
    cpa.inject_fault("GET", CONFIG_PATH, status=403, body={"error": "remote management disabled"})
    r.tick()
    (hold,) = r.events("auth.backoff")
    assert hold["failed_attempts"] == 0 and hold["hold_seconds"] == 1000.0
    (error,) = r.events("reconcile.error")
    assert error["stage"] == "auth"
    assert r.sample("reconciler_auth_backoff") == 1
    assert r.ready[0] is False


def test_a_key_refused_three_times_is_not_sent_a_fourth_time(cpa: Emulator, rig: Any) -> None:
    """The state dir's record of failed attempts (shared with plan/apply runs) is consulted:
    the same wrong key, retried each time the hold ends, never brings CPA a 4th failure."""
    planted(cpa, ALICE)
    r = rig(desired_text(), ban_backoff=0.0)
    r.env["CPA_MANAGEMENT_KEY"] = WRONG_KEY
    r.tick(4)
    assert [q.status for q in cpa.requests()] == [401, 401, 401]
    assert [h["failed_attempts"] for h in r.events("auth.backoff")] == [1, 2, 3, 3]
    assert "was refused 3 time(s)" in r.events("reconcile.error")[-1]["reason"]
    assert r.sample("reconciler_failures_total", stage="auth") == 4


def test_a_key_refused_under_the_lock_holds_the_next_cycles(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), mode="heal", ban_backoff=1000 / 3)
    drifted(cpa)
    # the listings: the cycle's plan, then the plan under the lock (refused)
    cpa.inject_fault("GET", AUTH_FILES, nth=2, status=401, body={"error": "invalid"})
    r.tick()
    (hold,) = r.events("auth.backoff")
    assert hold["hold_seconds"] == 333.333 and hold["failed_attempts"] == 1  # to the ms
    (error,) = r.events("reconcile.error")
    assert error["stage"] == "auth" and "401" in error["reason"]
    assert r.events("apply.failed") == [] and r.events("apply.succeeded") == []
    assert cpa.mutating_requests() == []
    assert r.sample("reconciler_failures_total", stage="auth") == 1
    assert r.sample("reconciler_failures_total", stage="apply") == 0
    cpa.reset_requests()
    r.tick()  # the same key: held
    assert cpa.requests() == [] and r.events("auth.retry") == []
    assert r.sample("reconciler_cycles_total", result="skipped") == 1


def test_a_key_refused_on_a_write_is_apply_failed_and_holds_the_next_cycles(
    cpa: Emulator, rig: Any
) -> None:
    """A 401 on the apply's own write (the key changed on the server between the plan and the
    PUT) is what was done and not done, and the auth hold: the next cycles send nothing."""
    planted(cpa, ALICE)
    r = rig(desired_text(), mode="heal", ban_backoff=1000.0)
    drifted(cpa)
    cpa.inject_fault("PUT", CONFIG_PATH, status=401, body={"error": "invalid"})
    r.tick()
    (failed,) = r.events("apply.failed")
    assert failed["done"] == [] and failed["not_done"] == ["update config/config.yaml"]
    (hold,) = r.events("auth.backoff")
    assert hold["failed_attempts"] == 1 and hold["hold_seconds"] == 1000.0
    (error,) = r.events("reconcile.error")
    assert error["stage"] == "auth" and "401" in error["reason"]
    assert r.sample("reconciler_auth_backoff") == 1
    assert r.sample("reconciler_applies_total", result="failure") == 1
    assert r.sample("reconciler_failures_total", stage="auth") == 1
    cpa.reset_requests()
    r.tick()  # the same key: held, not retried after the failure backoff
    assert cpa.requests() == [] and r.events("auth.retry") == []
    assert r.sample("reconciler_cycles_total", result="skipped") == 1


def test_a_key_refused_after_the_apply_holds_the_next_cycles(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), mode="heal", ban_backoff=1000.0)
    drifted(cpa)
    cpa.inject_fault("GET", AUTH_FILES, nth=3, status=401, body={"error": "invalid"})
    r.tick()
    assert len(r.events("apply.succeeded")) == 1 and len(r.events("auth.backoff")) == 1
    cpa.reset_requests()
    r.tick()
    assert cpa.requests() == [] and r.events("auth.retry") == []


# -- the failure backoff ----------------------------------------------------------------------


def test_a_failed_read_backs_off_and_sends_nothing_until_the_backoff_ends(
    cpa: Emulator, rig: Any
) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), interval=100 / 3)
    cpa.inject_fault("GET", CONFIG_PATH, status=400, body={"error": "boom"})  # 4xx: no retry
    r.tick()
    (error,) = r.events("reconcile.error")
    assert (error["stage"], error["attempt"], error["retry_in"]) == ("plan", 1, 66.667)  # ms
    assert "400" in error["reason"] and "boom" in error["reason"]
    assert r.events("auth.backoff") == []
    assert r.sample("reconciler_failures_total", stage="plan") == 1
    assert r.sample("reconciler_failures_total", stage="auth") == 0
    assert r.sample("reconciler_auth_backoff") == 0
    assert r.sample("reconciler_cycles_total", result="error") == 1
    ready, detail = r.ready
    assert ready is False and detail["reason"] == "the last cycle failed (plan)"
    cpa.reset_requests()
    r.tick()
    assert cpa.requests() == []
    assert r.sample("reconciler_cycles_total", result="skipped") == 1
    assert r.ready[1]["reason"] == "the last cycle failed (plan)"  # skipped changes nothing


def test_the_backoff_doubles_and_a_success_resets_it(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), interval=0.001)
    cpa.inject_fault("GET", CONFIG_PATH, status=400, times=2)

    def attempted(count: int) -> list[dict[str, Any]]:
        r.tick()
        found: list[dict[str, Any]] = r.events("reconcile.error")
        return found if len(found) >= count else []

    wait_until(lambda: attempted(2), "a second attempt")
    first, second = r.events("reconcile.error")
    assert (first["attempt"], first["retry_in"]) == (1, 0.002)
    assert (second["attempt"], second["retry_in"]) == (2, 0.004)
    wait_until(lambda: r.tick() or r.events("reconcile.recovered"), "a success")
    (recovered,) = r.events("reconcile.recovered")
    assert recovered["failed_cycles"] == 2
    assert r.sample("reconciler_cycles_total", result="error") == 2
    cpa.inject_fault("GET", CONFIG_PATH, status=400)
    r.tick()
    assert r.events("reconcile.error")[-1]["attempt"] == 1  # counted from the success


# -- heal -------------------------------------------------------------------------------------


def test_heal_applies_only_what_drifted_and_says_so(
    cpa: Emulator, rig: Any, tmp_path: Path
) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), mode="heal")
    r.tick()
    assert cpa.mutating_requests() == [] and r.events("apply.succeeded") == []
    assert r.sample("reconciler_applies_total", result="success") == 0
    drifted(cpa)
    r.tick()
    assert [(q.method, q.path) for q in cpa.mutating_requests()] == [
        ("PUT", "/v0/management/config.yaml")
    ]
    assert "debug: false" in cpa.config_yaml()
    (applied,) = r.events("apply.succeeded")
    assert applied["actions"] == ["update config/config.yaml"]
    assert applied["cycle"] == 2 and applied["severity"] == "info"
    backups = sorted((tmp_path / "state" / "backups").iterdir())
    assert [str(b) for b in backups] == [applied["backup"]]
    saved = read_backup(backups[0])  # what restore reads: the server, and what was there
    assert saved.target == cpa.url and "debug: true" in (saved.config_text or "")
    assert "restart_required" not in applied
    (resolved,) = r.events("drift.resolved", path="debug")
    assert resolved["resolved_by"] == "apply"
    assert names(r)[-3:] == ["drift.detected", "apply.succeeded", "drift.resolved"]
    assert r.sample("reconciler_applies_total", result="success") == 1
    assert r.sample("reconciler_drift_items", kind="config") == 0
    assert r.sample("reconciler_cycles_total", result="success") == 2
    assert r.ready[0] is True

    cpa.reset_requests()
    r.tick()  # converged: a read, nothing written, nothing said
    assert cpa.mutating_requests() == [] and len(r.events("apply.succeeded")) == 1


def test_heal_keeps_only_the_newest_backups(cpa: Emulator, rig: Any, tmp_path: Path) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), mode="heal", keep_backups=1)
    made = []
    for _ in range(2):
        drifted(cpa)
        r.tick()
        made.append(r.events("apply.succeeded")[-1]["backup"])
    assert len(set(made)) == 2
    assert [str(b) for b in (tmp_path / "state" / "backups").iterdir()] == [made[-1]]


@contextlib.contextmanager
def unremovable(folder: Path) -> Iterator[None]:
    """``folder`` holds a file that cannot be removed (immutable for root, in a read-only
    folder for anyone else) for the block."""
    folder.mkdir(parents=True)
    stuck = folder / "stuck"
    stuck.write_text("")
    if os.geteuid() != 0:
        folder.chmod(0o500)
        undo = [lambda: folder.chmod(0o700)]
    elif (
        shutil.which("chattr")
        and not subprocess.run(["chattr", "+i", str(stuck)], capture_output=True).returncode
    ):
        undo = [lambda: subprocess.run(["chattr", "-i", str(stuck)], check=True)]
    else:
        pytest.skip("no way to make a file unremovable here")
    try:
        yield
    finally:
        undo[0]()


def test_a_backup_that_cannot_be_pruned_is_said_and_the_cycle_goes_on(
    cpa: Emulator, rig: Any, tmp_path: Path
) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), mode="heal", keep_backups=1)
    drifted(cpa)
    old = tmp_path / "state" / "backups" / "20000101T000000Z-000000"
    with unremovable(old):
        r.tick()
    (error,) = r.events("reconcile.error")
    assert error["stage"] == "backups" and error["severity"] == "error"
    assert error["reason"].startswith(f"cannot remove the old backup {old}")
    assert len(r.events("apply.succeeded")) == 1 and r.events("drift.resolved", path="debug")
    assert r.sample("reconciler_cycles_total", result="success") == 1


def test_an_apply_that_overwrote_nothing_names_no_backup(cpa: Emulator, rig: Any) -> None:
    r = rig(desired_text(), mode="heal")  # alice is missing: an upload, nothing overwritten
    r.tick()
    (applied,) = r.events("apply.succeeded")
    assert applied["actions"] == [f"create auth-file/{ALICE}"]
    assert "backup" not in applied
    assert ALICE in {p.name for p in cpa.auth_dir.iterdir()}


def test_an_apply_says_what_needs_a_restart(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    text = desired_text().replace("  debug: false\n", "  debug: false\n  commercial-mode: true\n")
    r = rig(text, mode="heal")
    r.tick()
    (applied,) = r.events("apply.succeeded")
    assert applied["restart_required"] == ["commercial-mode"]


def test_an_apply_that_fails_is_apply_failed_and_backs_off(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), mode="heal", interval=60.0)
    drifted(cpa)
    cpa.inject_fault("PUT", CONFIG_PATH, status=500, body={"error": "disk full"})
    r.tick()
    (failed,) = r.events("apply.failed")
    assert failed["severity"] == "error" and failed["cycle"] == 1
    assert "500" in failed["reason"]
    assert failed["done"] == [] and failed["not_done"] == ["update config/config.yaml"]
    assert failed["retry_in"] == 120.0
    assert r.events("apply.succeeded") == [] and r.events("drift.resolved") == []
    assert r.sample("reconciler_applies_total", result="failure") == 1
    assert r.sample("reconciler_applies_total", result="success") == 0
    assert r.sample("reconciler_failures_total", stage="apply") == 1
    assert r.sample("reconciler_cycles_total", result="error") == 1
    ready, detail = r.ready
    assert ready is False and detail["reason"] == "the last cycle failed (apply)"
    cpa.reset_requests()
    r.tick()  # backing off: not even a read
    assert cpa.requests() == []
    assert r.sample("reconciler_cycles_total", result="skipped") == 1


def test_an_apply_that_does_not_stick_is_a_failure_not_a_loop_of_writes(
    cpa: Emulator, rig: Any
) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), mode="heal", interval=60.0)
    drifted(cpa)
    cpa.inject_fault("PUT", CONFIG_PATH, status=200, body={"status": "ok"})  # answered, not saved
    r.tick()
    assert len(cpa.mutating_requests()) == 1
    (failed,) = r.events("apply.failed")
    assert failed["reason"].startswith("the apply did not converge: 1 of 1 drift item(s) still")
    assert failed["reason"].endswith("consider config-policy.ignore); retrying with backoff")
    assert failed["done"] == ["update config/config.yaml"] and failed["not_done"] == []
    assert failed["retry_in"] == 120.0
    assert r.events("apply.succeeded") == [] and r.events("drift.resolved") == []
    assert r.sample("reconciler_applies_total", result="failure") == 1
    assert r.sample("reconciler_applies_total", result="success") == 0
    assert r.sample("reconciler_drift_items", kind="config") == 1
    assert r.ready[1]["reason"] == "the last cycle failed (apply)"
    r.tick(2)
    assert len(cpa.mutating_requests()) == 1  # backing off, no second write


def test_a_failed_read_after_the_apply_still_reports_the_apply(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), mode="heal", interval=60.0)
    drifted(cpa)
    # the listings: the cycle's plan, the plan under the lock, the plan after the apply
    cpa.inject_fault("GET", AUTH_FILES, nth=3, status=400, body={"error": "busy"})
    r.tick()
    assert "debug: false" in cpa.config_yaml()
    (applied,) = r.events("apply.succeeded")
    assert applied["actions"] == ["update config/config.yaml"]
    (error,) = r.events("reconcile.error")
    assert (error["stage"], error["attempt"], error["retry_in"]) == ("plan", 1, 120.0)
    assert r.events("apply.failed") == [] and r.events("drift.resolved") == []
    assert r.sample("reconciler_applies_total", result="success") == 1
    assert r.sample("reconciler_failures_total", stage="plan") == 1
    assert r.sample("reconciler_cycles_total", result="error") == 1
    assert r.ready[1]["reason"] == "the last cycle failed (plan)"


def once(action: Any) -> Any:
    """A listing hook that runs ``action`` at the first listing only (the cycle's plan)."""
    calls: list[object] = []

    def hook(entries: object) -> None:
        if not calls:
            action()
        calls.append(entries)

    return hook


def test_no_apply_when_the_drift_is_gone_under_the_lock(cpa: Emulator, rig: Any) -> None:
    r = rig(desired_text(), mode="heal")  # alice is missing: heal would upload her
    r.reconciler.on_listing = once(lambda: planted(cpa, ALICE))  # someone else did, meanwhile
    r.tick()
    assert len(r.events("drift.detected", name=ALICE)) == 1
    assert cpa.mutating_requests() == []
    assert r.events("apply.succeeded") == [] and r.events("apply.failed") == []
    assert r.sample("reconciler_applies_total", result="success") == 0
    assert r.sample("reconciler_cycles_total", result="success") == 1
    r.tick()
    (resolved,) = r.events("drift.resolved", name=ALICE)
    assert resolved["resolved_by"] == "server"


def test_no_apply_when_the_plan_under_the_lock_is_blocked(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE, EXTRA[0])  # one delete: allowed
    r = rig(desired_text(prune=True, max_deletions=2), mode="heal")
    r.reconciler.on_listing = once(lambda: planted(cpa, *EXTRA[1:]))  # three now: blocked
    r.tick()
    assert r.events("drift.detected", name=EXTRA[0])
    (blocked,) = r.events("apply.blocked")
    assert blocked["rules"] == ["mass-delete"] and "deletes 3 auth files" in blocked["reason"]
    assert cpa.mutating_requests() == [] and r.events("apply.succeeded") == []
    assert r.sample("reconciler_applies_total", result="blocked") == 1
    assert r.sample("reconciler_cycles_total", result="success") == 1


def test_a_failed_plan_under_the_lock_is_apply_failed(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), mode="heal", interval=100 / 3)
    drifted(cpa)
    cpa.inject_fault("GET", AUTH_FILES, nth=2, status=400, body={"error": "busy"})
    r.tick()
    assert cpa.mutating_requests() == []
    (failed,) = r.events("apply.failed")
    assert "400" in failed["reason"] and AUTH_FILES in failed["reason"]
    assert "done" not in failed and "not_done" not in failed  # nothing was attempted
    assert failed["retry_in"] == 66.667  # twice the interval, to the millisecond
    assert r.sample("reconciler_failures_total", stage="apply") == 1


def test_every_blocker_is_named_with_its_override(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE, *EXTRA)
    text = desired_text(prune=True, max_deletions=2).replace(
        "  debug: false\n", "  debug: false\n  remote-management:\n    secret-key: other\n"
    )
    r = rig(text, mode="heal")
    r.tick()
    (blocked,) = r.events("apply.blocked")
    assert blocked["rules"] == ["lockout", "mass-delete"]
    lockout, _, mass = blocked["reason"].rpartition("; ")  # one line per blocker, in order
    assert lockout.startswith("remote-management.secret-key would no longer match")
    assert lockout.endswith("or change it by hand")  # no flag lifts it
    assert mass.startswith("the plan deletes 3 auth files")
    assert mass.endswith(" (override: --allow-mass-delete)")
    assert cpa.mutating_requests() == []


def test_no_apply_is_started_once_stop_is_requested(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), mode="heal")
    drifted(cpa)
    r.reconciler.on_listing = once(r.reconciler.stop.set)  # SIGTERM during the cycle's plan
    r.tick()
    assert cpa.mutating_requests() == []
    (skipped,) = r.events("apply.skipped")
    assert skipped["reason"] == "the daemon is stopping; no apply is started"
    assert r.sample("reconciler_applies_total", result="skipped") == 1
    assert r.events("drift.detected", path="debug")
    r.tick()  # stopping: no further cycle
    assert len(r.events("apply.skipped")) == 1 and r.reconciler.cycle == 1


def test_no_apply_while_another_run_holds_the_state_dir(
    cpa: Emulator, rig: Any, tmp_path: Path
) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), mode="heal")
    drifted(cpa)
    with state_lock(tmp_path / "state"):
        r.tick(2)
    assert cpa.mutating_requests() == []
    skipped = r.events("apply.skipped")
    assert len(skipped) == 2  # said each cycle: the lock is someone else's run, not ours
    assert "is locked by pid" in skipped[0]["reason"]
    assert r.sample("reconciler_applies_total", result="skipped") == 2
    assert r.sample("reconciler_cycles_total", result="success") == 2
    assert r.ready[0] is True
    r.tick()  # the lock is free again: healed
    assert len(cpa.mutating_requests()) == 1 and len(r.events("apply.succeeded")) == 1


# -- the desired-state file and the target ----------------------------------------------------


def broken(text: str) -> str:
    return text.replace("  files:\n", "  filez:\n")


def test_a_broken_desired_state_applies_nothing_and_is_said_once(
    cpa: Emulator, rig: Any, tmp_path: Path
) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), mode="heal")
    desired = tmp_path / "repo" / "desired-state.yaml"
    r.tick()
    (loaded,) = r.events("desired.loaded")
    assert (loaded["path"], loaded["config_keys"], loaded["auth_files"]) == (str(desired), 1, 1)
    assert "recovered" not in loaded
    assert r.sample("reconciler_desired_state_valid") == 1

    drifted(cpa)
    rewrite(desired, broken(desired_text()))
    r.tick(2)
    (error,) = r.events("reconcile.error")  # once, not each cycle
    assert error["stage"] == "desired-state" and error["path"] == str(desired)
    assert error["line"] == broken(desired_text()).splitlines().index("  filez:") + 1
    assert error["reason"].endswith("; the last good desired state is kept")
    (skipped,) = r.events("apply.skipped")
    assert skipped["reason"] == (
        "the desired-state file is invalid; nothing is applied until it loads again"
    )
    assert r.sample("reconciler_applies_total", result="skipped") == 2
    assert r.sample("reconciler_failures_total", stage="desired-state") == 2
    assert r.sample("reconciler_desired_state_valid") == 0
    assert cpa.mutating_requests() == []
    assert r.events("drift.detected", path="debug")  # still observed with the last good state
    assert r.sample("reconciler_cycles_total", result="error") == 2
    ready, detail = r.ready
    assert ready is False and detail["reason"] == "the last cycle failed (desired-state)"

    rewrite(desired, desired_text())
    r.tick()
    assert [e.get("recovered") for e in r.events("desired.loaded")] == [None, True]
    assert r.sample("reconciler_desired_state_valid") == 1
    assert len(r.events("apply.succeeded")) == 1 and "debug: false" in cpa.config_yaml()
    (recovered,) = r.events("reconcile.recovered")
    assert recovered["failed_cycles"] == 2
    r.tick()
    assert len(r.events("desired.loaded")) == 2  # unchanged: not announced again

    drifted(cpa)
    rewrite(desired, broken(desired_text()))  # broken again: said again
    r.tick()
    assert len(r.events("reconcile.error")) == 2 and len(r.events("apply.skipped")) == 2


def test_a_desired_state_broken_from_the_start_sends_nothing(
    cpa: Emulator, rig: Any, tmp_path: Path
) -> None:
    r = rig(broken(desired_text()), mode="heal")
    r.tick(2)
    assert cpa.requests() == []
    (error,) = r.events("reconcile.error")
    assert error["stage"] == "desired-state"
    assert not error["reason"].endswith("kept")  # there is no last good state
    assert r.events("apply.skipped") == [] and r.events("desired.loaded") == []
    assert r.sample("reconciler_failures_total", stage="desired-state") == 2
    assert r.sample("reconciler_cycles_total", result="error") == 2
    assert r.ready == (
        False,
        {"cycle": 2, "last_success": None, "reason": "the last cycle failed (desired-state)"},
    )
    rewrite(tmp_path / "repo" / "desired-state.yaml", desired_text())
    r.tick()
    (loaded,) = r.events("desired.loaded")
    assert loaded["recovered"] is True


def test_a_missing_source_file_is_a_desired_state_error(
    cpa: Emulator, rig: Any, tmp_path: Path
) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text())
    r.tick()
    (tmp_path / "repo" / "auth" / "alice.json").unlink()
    r.tick()
    (error,) = r.events("reconcile.error")
    assert error["stage"] == "desired-state" and "alice.json does not exist" in error["reason"]
    assert r.ready[1]["reason"] == "the last cycle failed (desired-state)"


def test_drift_the_server_undoes_while_the_file_is_broken_was_resolved_by_the_server(
    cpa: Emulator, rig: Any, tmp_path: Path
) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text())
    drifted(cpa)
    r.tick()
    rewrite(tmp_path / "repo" / "desired-state.yaml", broken(desired_text()))
    with ManagementClient(cpa.url, KEY) as client:
        client.set_setting("debug", False)
    r.tick()
    (resolved,) = r.events("drift.resolved", path="debug")
    assert resolved["resolved_by"] == "server"


def test_a_target_without_a_key_is_an_error_said_once(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text())
    del r.env["CPA_MANAGEMENT_KEY"]
    r.tick(2)
    assert cpa.requests() == []
    (error,) = r.events("reconcile.error")
    assert error["stage"] == "target" and "no management key" in error["reason"]
    assert r.sample("reconciler_failures_total", stage="target") == 2
    assert r.sample("reconciler_cycles_total", result="error") == 2
    assert r.ready[1]["reason"] == "the last cycle failed (target)"
    r.env["CPA_MANAGEMENT_KEY"] = KEY
    r.tick()
    assert r.ready[0] is True
    assert r.events("reconcile.recovered")[0]["failed_cycles"] == 2
    del r.env["CPA_MANAGEMENT_KEY"]
    r.tick()
    assert len(r.events("reconcile.error", stage="target")) == 2  # a new episode: said again


def test_the_target_named_in_the_desired_state_is_followed(
    cpa: Emulator, rig: Any, tmp_path: Path
) -> None:
    planted(cpa, ALICE)
    with Emulator(management_key=KEY) as other:
        planted(other, ALICE)
        text = f"target:\n  url: {cpa.url}\n" + desired_text()
        r = rig(text, target=planning.TargetOptions())  # no --url: the file says where
        r.tick()
        assert r.ready[0] is True and cpa.requests()
        client = r.reconciler.quota_client()
        assert client is not None
        with client:
            assert client.management_url.startswith(cpa.url)
        assert len(r.events("desired.loaded")) == 1

        rewrite(tmp_path / "repo" / "desired-state.yaml", text.replace(cpa.url, other.url))
        cpa.reset_requests()
        r.tick()  # the same state, another server: loaded again, and read there
        assert len(r.events("desired.loaded")) == 2
        assert cpa.requests() == [] and other.requests()
        r.reconciler.quota_refused(errors.UnauthorizedError("refused", status=401))
        assert r.events("auth.backoff")[-1]["target"] == other.url


def test_the_key_flag_warning_is_not_repeated_by_cycles(
    cpa: Emulator, rig: Any, capsys: Any
) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), target=planning.TargetOptions(url=cpa.url, key_arg=KEY))
    del r.env["CPA_MANAGEMENT_KEY"]  # the key comes from --management-key
    r.tick(2)
    client = r.reconciler.quota_client()
    assert client is not None
    client.close()
    r.reconciler.quota_refused(errors.UnauthorizedError("refused", status=401))
    assert capsys.readouterr().err == ""  # the command warned once at start
    assert r.sample("reconciler_cycles_total", result="success") == 2
    assert r.sample("reconciler_auth_backoff") == 1


# -- what events say --------------------------------------------------------------------------


def test_drift_is_announced_once_again_when_it_changes_and_counted_by_kind(
    cpa: Emulator, rig: Any
) -> None:
    planted(cpa, ALICE, EXTRA[0])
    text = desired_text(prune=True).replace(
        "  debug: false\n", "  debug: false\n  request-retry: 3\n"
    )
    r = rig(text)
    with ManagementClient(cpa.url, KEY) as client:
        client.set_setting("request-retry", 5)
        r.tick(2)
        client.set_setting("request-retry", 7)
        r.tick(2)
    first, again = r.events("drift.detected", path="request-retry")
    assert (first["before"], first["after"], first["cycle"]) == (5, 3, 1)
    assert "changed" not in first
    assert (again["before"], again["after"], again["changed"], again["cycle"]) == (7, 3, True, 3)
    assert again["first_seen"] == first["first_seen"]
    assert again["severity"] == "info" and again["kind"] == "config" and again["op"] == "update"
    (extra,) = r.events("drift.detected", name=EXTRA[0])
    assert (extra["kind"], extra["op"]) == ("auth-file", "delete")
    assert r.sample("reconciler_drift_items", kind="config") == 1
    assert r.sample("reconciler_drift_items", kind="auth-file") == 1
    assert r.sample("reconciler_credentials_missing") == 0

    with ManagementClient(cpa.url, KEY) as client:
        client.set_setting("request-retry", 3)
    r.tick()
    (resolved,) = r.events("drift.resolved")
    assert resolved["path"] == "request-retry" and resolved["resolved_by"] == "server"
    assert (resolved["before"], resolved["first_seen"]) == (7, first["first_seen"])
    assert r.sample("reconciler_drift_items", kind="config") == 0
    assert r.sample("reconciler_drift_items", kind="auth-file") == 1


def test_two_missing_credentials_are_two_events_each_way(
    cpa: Emulator, rig: Any, tmp_path: Path
) -> None:
    planted(cpa, ALICE)
    lost = (LOST, "codex-lost2@example.com.json")
    files = "".join(f"    - name: {name}\n" for name in lost)
    r = rig(desired_text(files=files))
    r.tick()
    assert sorted(e["name"] for e in r.events("credential.missing")) == sorted(lost)
    assert r.sample("reconciler_credentials_missing") == 2
    planted(cpa, *lost)
    r.tick()
    back = r.events("credential.resolved")
    assert sorted(e["name"] for e in back) == sorted(lost)
    assert {(e["kind"], e["resolved_by"]) for e in back} == {("auth-file", "server")}
    assert r.sample("reconciler_credentials_missing") == 0


def test_errors_say_what_the_error_says(cpa: Emulator, rig: Any, tmp_path: Path) -> None:
    """reconcile.error's reason is the error's own message (plus what the daemon kept)."""
    planted(cpa, ALICE)
    r = rig(desired_text())
    desired = tmp_path / "repo" / "desired-state.yaml"
    del r.env["CPA_MANAGEMENT_KEY"]
    r.tick()
    loaded = planning.load(str(desired), r.env)
    with pytest.raises(errors.UsageError) as no_key:
        planning.target_for(loaded, planning.TargetOptions(url=cpa.url), r.env)
    assert r.events("reconcile.error")[-1]["reason"] == str(no_key.value)

    rewrite(desired, broken(desired_text()))
    r.tick()
    with pytest.raises(errors.ReconcilerError) as invalid:
        planning.load(str(desired), r.env)
    assert r.events("reconcile.error")[-1]["reason"] == (
        str(invalid.value) + "; the last good desired state is kept"
    )


def test_events_name_the_target_and_mask_what_references_resolve(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    text = desired_text().replace(
        "  debug: false\n", "  debug: false\n  proxy-url: ${env:CLIENT_KEY}\n"
    )
    r = rig(text)  # proxy-url is no secret by name: by coming from a reference, it is one
    r.tick()
    (drift,) = r.events("drift.detected", path="proxy-url")
    assert drift["target"] == cpa.url and drift["after"] == "***"
    assert_no_secrets(r.out.getvalue())


def test_a_secret_the_server_echoes_in_an_error_is_masked(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE, BOB)
    r = rig(DESIRED)  # api-keys: [${env:CLIENT_KEY}]
    echo = {"error": "invalid_config", "message": f"api-keys[0] {CLIENT_KEY!r} is not allowed"}
    cpa.inject_fault("GET", CONFIG_PATH, status=400, body=echo)
    r.tick()
    (error,) = r.events("reconcile.error")
    assert "is not allowed" in error["reason"]
    assert_no_secrets(r.out.getvalue())

    cpa.inject_fault("GET", AUTH_FILES, status=400, body=echo)
    client = r.reconciler.quota_client()
    assert client is not None
    with client, pytest.raises(errors.ApiError) as refused:
        client.list_auth_files()
    assert "is not allowed" in str(refused.value)
    assert_no_secrets(str(refused.value))


# -- readiness --------------------------------------------------------------------------------


def test_readiness_before_any_cycle(rig: Any) -> None:
    r = rig(desired_text())
    assert r.ready == (
        False,
        {"cycle": 0, "last_success": None, "reason": "no cycle has completed yet"},
    )


def test_a_success_is_a_timestamp(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text())
    assert r.sample("reconciler_last_success_timestamp_seconds") == 0
    before = time.time()
    r.tick()
    after = time.time()
    stamp = r.sample("reconciler_last_success_timestamp_seconds")
    assert before <= stamp <= after
    ready, detail = r.ready
    assert ready is True and detail["cycle"] == 1 and detail["age_seconds"] >= 0
    (loaded,) = r.events("desired.loaded")
    assert detail["last_success"] >= loaded["time"]  # RFC 3339, the end of the cycle
    assert set(detail) == {"cycle", "last_success", "age_seconds"}


def test_readiness_allows_three_intervals_and_their_jitter(cpa: Emulator, rig: Any) -> None:
    """Whatever the moment it is asked, /readyz is ready exactly while the last success is at
    most 3 x interval x (1 + jitter) old, and says how old (in ms) either way."""
    planted(cpa, ALICE)
    interval, jitter = 0.01, 0.5
    r = rig(desired_text(), interval=interval, jitter=jitter)
    r.tick()
    limit = 3 * interval * (1 + jitter)
    answers: list[tuple[bool, dict[str, Any]]] = []
    deadline = time.monotonic() + 10
    while not answers or answers[-1][0]:  # asked as often as it can be, until unready
        assert time.monotonic() < deadline, "never unready"
        answers.append(r.ready)
    for ready, detail in answers:
        age = detail["age_seconds"]
        assert age == round(age, 3)
        if ready:
            assert age <= limit + 0.001, detail
        else:
            assert age >= limit - 0.001, detail
            assert detail["reason"] == f"no successful cycle for {age:.0f} s"
    assert answers[0][0] is True


# -- the scheduled job ------------------------------------------------------------------------


def test_a_cycle_runs_one_at_a_time_and_is_timed(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text())
    seen: list[tuple[bool, float | None, bool]] = []

    def during(entries: object) -> None:
        r.reconciler.tick()  # a scheduled run while this one is in progress: nothing happens
        in_progress = r.sample("reconciler_cycle_in_progress")
        seen.append((r.reconciler.busy, in_progress, r.reconciler.quiesce(0)))

    r.reconciler.on_listing = during
    before = time.monotonic()
    r.tick()
    took = time.monotonic() - before
    assert seen == [(True, 1.0, False)]
    assert 0 < r.sample("reconciler_cycle_duration_seconds_sum") <= took
    assert r.reconciler.cycle == 1 and r.events("desired.loaded", cycle=1)
    assert r.sample("reconciler_cycle_in_progress") == 0 and r.reconciler.busy is False
    assert r.sample("reconciler_cycles_total", result="success") == 1
    assert r.sample("reconciler_cycle_duration_seconds_count") == 1

    r.reconciler.overlapped()  # the scheduler's count of a run it did not start
    assert r.sample("reconciler_cycles_total", result="skipped") == 1
    assert r.reconciler.cycle == 1 and r.ready[0] is True

    assert r.reconciler.quiesce(0) is True  # shutdown: no cycle running, none started after
    r.reconciler.on_listing = None
    cpa.reset_requests()
    r.tick()
    assert cpa.requests() == [] and r.reconciler.cycle == 1


def test_no_cycle_once_stop_is_set(cpa: Emulator, rig: Any) -> None:
    r = rig(desired_text())
    r.reconciler.stop.set()
    r.tick()
    assert r.reconciler.cycle == 0 and r.events() == [] and cpa.requests() == []
    assert r.sample("reconciler_cycles_total", result="success") == 0
    assert r.sample("reconciler_cycles_total", result="skipped") == 0
    assert r.reconciler.quiesce(0) is True


def test_a_skipped_cycle_is_not_timed(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), ban_backoff=1000.0)
    r.env["CPA_MANAGEMENT_KEY"] = WRONG_KEY
    r.tick(3)
    assert r.sample("reconciler_cycles_total", result="error") == 1
    assert r.sample("reconciler_cycles_total", result="skipped") == 2
    assert r.sample("reconciler_cycle_duration_seconds_count") == 1
    assert r.reconciler.cycle == 3
    assert [e["cycle"] for e in r.events("auth.backoff")] == [1]


def test_an_unexpected_error_is_an_event_and_the_daemon_lives_on(
    cpa: Emulator, rig: Any, capsys: Any
) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text())

    def broken_hook(entries: object) -> None:
        raise RuntimeError("a bug-PLANTED")

    r.reconciler.on_listing = broken_hook
    r.tick()
    (error,) = r.events("reconcile.error")
    assert error["stage"] == "internal" and error["severity"] == "error"
    assert error["reason"].startswith("RuntimeError at test_cycle_mutants.py:")
    assert capsys.readouterr().err == f"internal error: {error['reason']}\n"
    assert r.sample("reconciler_cycles_total", result="error") == 1
    assert r.sample("reconciler_cycle_in_progress") == 0
    assert r.sample("reconciler_cycle_duration_seconds_count") == 1
    assert r.ready[1]["reason"] == "the last cycle failed (internal)"
    assert_no_secrets(r.out.getvalue())
    r.reconciler.on_listing = None
    r.tick()
    assert r.ready[0] is True
    assert r.events("reconcile.recovered")[0]["failed_cycles"] == 1


def test_the_server_build_is_a_metric(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text())
    r.tick()
    build = {"version": VERSION, "commit": COMMIT, "build_date": BUILD_DATE}
    assert r.sample("reconciler_cpa_server_info", **build) == 1


# -- the quota job's client -------------------------------------------------------------------


def test_the_quota_job_gets_a_client_only_while_the_key_may_be_used(
    cpa: Emulator, rig: Any
) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), ban_backoff=1000.0)
    assert r.reconciler.quota_client() is None  # no desired state yet
    r.tick()
    client = r.reconciler.quota_client()
    assert client is not None
    with client:
        assert [f.name for f in client.list_auth_files()] == [ALICE]
    del r.env["CPA_MANAGEMENT_KEY"]
    assert r.reconciler.quota_client() is None  # the cycle reports the target
    r.env["CPA_MANAGEMENT_KEY"] = KEY

    wrong = ManagementClient(cpa.url, WRONG_KEY)
    with wrong, pytest.raises(errors.UnauthorizedError) as refused:  # a real 401, as a quota read
        wrong.list_auth_files()
    r.reconciler.quota_refused(refused.value)
    (hold,) = r.events("auth.backoff")
    assert hold["hold_seconds"] == 1000.0 and hold["failed_attempts"] == 1
    assert r.sample("reconciler_auth_backoff") == 1
    assert r.sample("reconciler_failures_total", stage="auth") == 1
    assert r.reconciler.quota_client() is None
    assert r.ready[0] is False
    cpa.reset_requests()
    r.tick()  # the cycle holds too: the key is the one refused
    assert cpa.requests() == []


def test_a_refusal_before_any_desired_state_is_ignored(cpa: Emulator, rig: Any) -> None:
    r = rig(desired_text())
    r.reconciler.quota_refused(errors.UnauthorizedError("401", status=401))
    assert r.events() == [] and r.sample("reconciler_auth_backoff") == 0


def test_the_quota_jobs_refusals_count_as_the_cycles_do(cpa: Emulator, rig: Any) -> None:
    """The quota job's client keeps the state dir's record of failed attempts too: a key its
    reads had refused three times is sent by neither it nor the cycle (CPA bans at five)."""
    planted(cpa, ALICE)
    r = rig(desired_text())
    r.tick()
    r.env["CPA_MANAGEMENT_KEY"] = WRONG_KEY  # the key file changed under the daemon
    for _ in range(4):
        client = r.reconciler.quota_client()
        assert client is not None
        with client, pytest.raises(errors.UnauthorizedError):
            client.list_auth_files()
    assert [q.status for q in cpa.requests()][-3:] == [401, 401, 401]
    assert len([q for q in cpa.requests() if q.status == 401]) == 3  # not a fourth
    cpa.reset_requests()
    r.tick()
    assert cpa.requests() == []
    assert r.events("auth.backoff")[-1]["failed_attempts"] == 0  # none reached CPA


def test_each_summary_counts_the_cycles_since_the_last_one(cpa: Emulator, rig: Any) -> None:
    planted(cpa, ALICE)
    r = rig(desired_text(), summary_interval=0.05)
    ticks = 0

    def summaries(count: int) -> list[dict[str, Any]]:
        nonlocal ticks
        r.tick()
        ticks += 1
        found: list[dict[str, Any]] = r.events("cycle.summary")
        return found if len(found) >= count else []

    wait_until(lambda: summaries(1), "a summary")
    first_ticks, ticks = ticks, 0
    wait_until(lambda: summaries(2), "a second summary")
    first, second = r.events("cycle.summary")
    assert first["cycles"] == {"success": first_ticks, "error": 0, "skipped": 0}
    assert second["cycles"] == {"success": ticks, "error": 0, "skipped": 0}
    assert second["since"] >= first["since"]
