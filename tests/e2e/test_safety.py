"""Refusals and the backups behind deletes, end to end against the emulator.

Must-show 3 of issue 3, and: apply without a terminal and without --auto-approve refuses;
a config.yaml edited between the plan and the PUT is not overwritten.

Decisions recorded here:

* A refusal (exit 3 or 4) is checked against the emulator's request log: the refused command
  sends no mutating management request at all (reads are fine: a plan has to look).
* ``apply --plan PLANFILE`` re-reads both sides and compares keyed fingerprints with the ones
  in the plan file; any difference in the desired file or in the live config / auth-file
  policy is stale (exit 3), even a change that would not alter the plan's actions.
* A lockout is a desired ``secret-key`` that the key in use does not open. The other lockout
  (``allow-remote: false`` from another host) cannot be reached over loopback here; the core
  unit tests cover it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_helpers import (
    KEY,
    Cli,
    Project,
    auth_source,
    described,
    desired_doc,
    management,
    mutating,
    out_of_band_files,
    web_ui_put,
)

from reconciler.emulator import Emulator

ALICE = "codex-alice@example.com.json"
CONFIG = {"debug": False, "request-retry": 2}


def _with_config(project: Project, config: dict[str, Any]) -> None:
    """The desired state: one auth file (alice) and ``config``."""
    source = project.source("auth/alice.json", auth_source("alice@example.com"))
    files = [{"name": ALICE, "source": source, "fields": {"priority": 5}}]
    project.write(desired_doc(config=config, files=files))


def _converged(project: Project, cli: Cli) -> None:
    """The desired state with two config keys, applied."""
    _with_config(project, CONFIG)
    assert cli("apply", project.desired, "--auto-approve").code == 0


def _planned_change(project: Project, cli: Cli, *plan_args: str | Path) -> Path:
    """Converged, then debug turned on in the desired file and planned into a plan file."""
    _converged(project, cli)
    _with_config(project, {**CONFIG, "debug": True})
    planfile = project.root / "plan.json"
    assert cli("plan", project.desired, "--out", planfile, *plan_args).code == 0
    return planfile


def _apply_stale(project: Project, cli: Cli, emu: Emulator, planfile: Path) -> str:
    """``apply --plan`` refused as stale (exit 3), nothing written; its error text."""
    stale = cli("apply", project.desired, "--plan", planfile)
    assert stale.code == 3, stale.text
    assert mutating(emu) == []
    return stale.err


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- stale plan files ----------------------------------------------------------------------


def test_a_fresh_plan_file_applies_exactly(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    planfile = _planned_change(project, cli)
    applied = cli("apply", project.desired, "--plan", planfile)
    assert applied.code == 0, applied.text
    assert [r.method for r in mutating(target_env)][-1:] == ["PUT"]
    assert cli("plan", project.desired, "--detailed-exitcode").code == 0


def test_a_plan_file_is_stale_after_a_live_config_change(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    planfile = _planned_change(project, cli)
    web_ui_put(emu, "request-retry", 7)
    emu.reset_requests()

    stale = _apply_stale(project, cli, emu, planfile)
    assert "live state changed" in stale
    assert "(config request-retry)" in stale, "the error names what moved"
    assert "request-retry: 7" in emu.config_yaml()


def test_a_plan_file_is_stale_after_a_live_auth_file_change(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    planfile = _planned_change(project, cli)
    httpx.patch(
        f"{emu.management_url}/auth-files/fields",
        json={"name": ALICE, "priority": 9},
        headers={"Authorization": f"Bearer {KEY}"},
    ).raise_for_status()
    emu.reset_requests()

    stale = _apply_stale(project, cli, emu, planfile)
    assert f"(auth-file/{ALICE})" in stale, "the error names the file that moved"


def test_a_plan_file_applied_twice_says_already_applied(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    planfile = _planned_change(project, cli)
    assert cli("apply", project.desired, "--plan", planfile).code == 0
    emu.reset_requests()

    again = cli("apply", project.desired, "--plan", planfile)
    assert again.code == 0, again.text
    assert "already applied" in again.out
    assert "stale" not in again.text
    assert mutating(emu) == []


def test_a_plan_file_is_for_the_same_server_however_its_url_is_spelt(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    """Trailing slash, /v0/management, upper-case scheme and host: one server, one plan."""
    emu = target_env
    port = emu.url.rsplit(":", 1)[1]
    spelt = f"HTTP://LOCALHOST:{port}/v0/management/"
    planfile = _planned_change(project, cli, "--url", spelt)
    applied = cli("apply", project.desired, "--plan", planfile, "--url", f"http://localhost:{port}")
    assert applied.code == 0, applied.text
    other = cli("plan", project.desired, "--out", planfile, "--url", emu.url + "/")
    assert other.code == 0
    refused = cli("apply", project.desired, "--plan", planfile, "--url", f"http://localhost:{port}")
    assert refused.code == 1 and "was made for" in refused.err, "127.0.0.1 is not localhost"


def test_a_plan_file_is_stale_after_the_desired_file_changed(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    planfile = _planned_change(project, cli)
    _with_config(project, {**CONFIG, "debug": True, "request-retry": 4})
    emu.reset_requests()

    assert "desired state changed" in _apply_stale(project, cli, emu, planfile)


def test_config_edited_between_the_plan_and_the_put_is_not_overwritten(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    """The executor reads config.yaml again just before its PUT. The emulator cannot pause one
    process between two of its requests, so the second read is answered with the file as the
    web UI would have left it (an injected answer); the apply must notice, send no PUT and
    nothing else, and exit 3."""
    emu = target_env
    _converged(project, cli)
    _with_config(project, {**CONFIG, "debug": True})
    backups = project.backups()
    edited = emu.config_yaml().replace("request-retry: 2", "request-retry: 9")
    assert edited != emu.config_yaml()
    emu.inject_fault("GET", "/config.yaml", nth=2, status=200, body=edited)
    emu.reset_requests()

    refused = cli("apply", project.desired, "--auto-approve")
    assert refused.code == 3, refused.text
    assert "config.yaml changed on the server" in refused.err
    gets = [r for r in management(emu) if r.path.endswith("/config.yaml")]
    assert [r.method for r in gets] == ["GET", "GET"], described(management(emu))
    assert mutating(emu) == [], described(mutating(emu))
    assert project.backups() == backups, "nothing to back up when nothing is written"


# -- safety rules: exit 4 and not one mutating request -------------------------------------


def test_lockout_is_refused(
    project: Project, target_env: Emulator, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = target_env
    monkeypatch.setenv("NEW_MANAGEMENT_KEY", "new-key-PLANTED-77aa")
    config = {**CONFIG, "remote-management": {"secret-key": "${env:NEW_MANAGEMENT_KEY}"}}
    project.write(desired_doc(config=config))
    emu.reset_requests()

    refused = cli("apply", project.desired, "--auto-approve")
    assert refused.code == 4, refused.text
    assert "secret-key would no longer match" in refused.err
    assert mutating(emu) == []
    shown = cli("plan", project.desired)
    assert shown.code == 4, "a plan that apply would refuse fails a CI plan step too"
    assert "Blocked (exit 4)" in shown.out
    assert cli("plan", project.desired, "--detailed-exitcode").code == 4
    assert mutating(emu) == []


def test_mass_delete_is_refused_unless_allowed(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    extra = out_of_band_files(emu, "old-1.json", "old-2.json", "old-3.json")
    project.write(desired_doc(prune=True, max_deletions=2))
    emu.reset_requests()

    refused = cli("apply", project.desired, "--auto-approve")
    assert refused.code == 4, refused.text
    assert "max-deletions" in refused.err and "--allow-mass-delete" in refused.err
    assert mutating(emu) == []
    assert sorted(p.name for p in emu.auth_dir.iterdir()) == sorted(extra)
    assert cli("plan", project.desired).code == 4, "plan fails as apply would"
    planned = cli("plan", project.desired, "--allow-mass-delete", "--detailed-exitcode")
    assert planned.code == 2, "planned with apply's flag: changes, not blocked"

    allowed = cli("apply", project.desired, "--auto-approve", "--allow-mass-delete")
    assert allowed.code == 0, allowed.text
    assert list(emu.auth_dir.iterdir()) == []
    deletes = [r for r in mutating(emu) if r.method == "DELETE"]
    assert len(deletes) == 1, described(deletes)
    assert "all" not in deletes[0].query
    assert sorted(deletes[0].query["name"]) == sorted(extra)


# A protected file is kept, not a refusal: tests/e2e/test_protect.py.


# -- backups and restore -------------------------------------------------------------------


def test_every_delete_is_backed_up_privately_and_restore_brings_it_back(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    extra = out_of_band_files(emu, "gone-1.json", "gone-2.json")
    emu.refresh_auth_file("gone-1.json")  # the backup must hold the live tokens, not a source
    live_tokens = {name: emu.read_auth_file(name)["refresh_token"] for name in extra}
    project.write(desired_doc(prune=True))

    applied = cli("apply", project.desired, "--auto-approve")
    assert applied.code == 0, applied.text
    assert list(emu.auth_dir.iterdir()) == []
    (backup,) = project.backups()
    assert str(backup) in applied.out
    for directory in (project.state_dir, backup.parent, backup, backup / "auth-files"):
        assert _mode(directory) == 0o700, directory
    files = [p for p in backup.rglob("*") if p.is_file()]
    assert sorted(p.name for p in files) == sorted([*extra, "manifest.json"])
    for path in files:
        assert _mode(path) == 0o600, path

    restored = cli("restore", "--yes", backup)
    assert restored.code == 0, restored.text
    assert sorted(p.name for p in emu.auth_dir.iterdir()) == sorted(extra)
    for name, token in live_tokens.items():
        assert emu.read_auth_file(name)["refresh_token"] == token

    # A file that exists again is kept (its tokens may be newer) unless --overwrite.
    emu.refresh_auth_file("gone-2.json")
    newer = emu.read_auth_file("gone-2.json")["refresh_token"]
    kept = cli("restore", "--yes", backup)
    assert kept.code == 0 and "kept gone-2.json" in kept.out
    assert emu.read_auth_file("gone-2.json")["refresh_token"] == newer
    overwritten = cli("restore", "--yes", backup, "--overwrite")
    assert overwritten.code == 0 and "restored gone-2.json" in overwritten.out
    assert emu.read_auth_file("gone-2.json")["refresh_token"] == live_tokens["gone-2.json"]


def test_restore_latest_from_a_state_dir(project: Project, target_env: Emulator, cli: Cli) -> None:
    emu = target_env
    out_of_band_files(emu, "gone.json")
    state_dir = project.root / "elsewhere"
    project.write(desired_doc(prune=True))
    applied = cli("apply", project.desired, "--auto-approve", "--state-dir", state_dir)
    assert applied.code == 0, applied.text
    assert not emu.auth_dir.joinpath("gone.json").exists()
    assert project.backups() == []

    restored = cli("restore", "--yes", "latest", "--state-dir", state_dir)
    assert restored.code == 0, restored.text
    assert "restored gone.json" in restored.out
    assert emu.auth_dir.joinpath("gone.json").exists()


def test_restore_puts_back_the_config_an_apply_replaced(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    original = emu.config_yaml()
    project.write(desired_doc(config={"debug": True}))
    assert cli("apply", project.desired, "--auto-approve").code == 0
    (backup,) = project.backups()
    assert cli("plan", project.desired, "--detailed-exitcode").code == 0

    restored = cli("restore", "--yes", backup, "--only", "config")
    assert restored.code == 0, restored.text
    assert emu.config_yaml() == original
    assert cli("plan", project.desired, "--detailed-exitcode").code == 2


# -- confirmation ---------------------------------------------------------------------------


def test_apply_without_a_terminal_or_auto_approve_refuses(
    project: Project, target_env: Emulator, tmp_path: Path
) -> None:
    """A real process with stdin from /dev/null: no terminal to ask on."""
    emu = target_env
    project.write(desired_doc(config={"debug": True}))
    before = emu.config_yaml()
    emu.reset_requests()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", str(project.desired)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "--auto-approve" in done.stderr
    assert mutating(emu) == []
    assert emu.config_yaml() == before


def _non_loopback_address() -> str | None:
    """This machine's address on its default route, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.254", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if ipaddress.ip_address(address).is_loopback else address


def test_turning_allow_remote_off_from_another_host_is_refused(
    project: Project, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reconciler reaches the emulator on a non-loopback address, as from another host
    (plain http needs --allow-insecure-http there); a plan that sets allow-remote to false
    would cut it off, so it is refused."""
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    with Emulator(management_key=KEY, host=address, allow_remote=True) as remote:
        monkeypatch.setenv("CPA_URL", remote.url)
        monkeypatch.setenv("CPA_MANAGEMENT_KEY", KEY)
        project.write(desired_doc(config={"remote-management": {"allow-remote": False}}))

        refused = cli("apply", project.desired, "--auto-approve", "--allow-insecure-http")

        assert refused.code == 4, refused.text
        assert "allow-remote would become false" in refused.err
        assert mutating(remote) == []
        assert all(not r.client_ip.startswith("127.") for r in management(remote))
        insecure = cli("plan", project.desired)
        assert insecure.code == 1 and "--allow-insecure-http" in insecure.err
