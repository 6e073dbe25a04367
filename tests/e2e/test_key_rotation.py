"""``apply --next-management-key-file``: the plan sets the secret-key to the next key (the
lockout guard accepts exactly that one), applies, switches the client to it right after CPA
accepted the config write (the auth-file steps after it run with the new key), checks it with
one request and says so; on a failure it says precisely where CPA is."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from e2e_helpers import KEY, Cli, Project, auth_source, planted_in

from reconciler.emulator import Emulator

NEXT = "next-mgmt-key-PLANTED-77aa"

DESIRED = """\
config:
  debug: true
  remote-management:
    secret-key: ${management-key}
auth-files:
  files:
    - name: codex-new@example.com.json
      source: auth/new.json
"""


def accepts(emu: Emulator, key: str) -> int:
    return httpx.get(
        f"{emu.management_url}/config.yaml", headers={"Authorization": f"Bearer {key}"}, timeout=5
    ).status_code


@pytest.fixture
def desired(project: Project, tmp_path: Path) -> Path:
    project.write(DESIRED)
    (project.root / "auth").mkdir(exist_ok=True)
    (project.root / "auth" / "new.json").write_text(json.dumps(auth_source("new@example.com")))
    return project.root / "desired-state.yaml"


@pytest.fixture
def next_key(tmp_path: Path) -> Path:
    path = tmp_path / "next-key"
    path.write_text(NEXT + "\n")
    return path


def test_rotation_applies_switches_and_checks(
    desired: Path, next_key: Path, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    assert cli("plan", desired, "--detailed-exitcode").code == 2  # debug, the new file
    result = cli("apply", desired, "--auto-approve", "--next-management-key-file", next_key)
    assert result.code == 0, result.text
    assert "Management key rotated" in result.out
    assert planted_in(result.text) == []
    assert accepts(emu, NEXT) == 200 and accepts(emu, KEY) == 401
    assert emu.read_auth_file("codex-new@example.com.json")["email"] == "new@example.com"
    # every run now uses the new key; ${management-key} is it, so nothing is left to do
    after = cli("plan", desired, "--detailed-exitcode", "--management-key-file", next_key)
    assert after.code == 0, after.text


def test_without_the_flag_the_lockout_guard_still_refuses(
    project: Project, target_env: Emulator, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEW_KEY", NEXT)
    desired = project.write("config:\n  remote-management:\n    secret-key: ${env:NEW_KEY}\n")
    assert cli("apply", desired, "--auto-approve").code == 4
    assert target_env.mutating_requests() == []


@pytest.mark.parametrize(
    ("text", "extra", "message"),
    [
        ("config:\n  remote-management:\n    secret-key: ${env:OTHER}\n", (), "must set"),
        ("config:\n  debug: true\n", (), "must set"),
        (DESIRED.split("auth-files:")[0], ("--plan", "plan.json"), "cannot be used with --plan"),
    ],
)
def test_refused_before_any_request(
    project: Project,
    target_env: Emulator,
    cli: Cli,
    next_key: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    extra: tuple[str, ...],
    message: str,
) -> None:
    monkeypatch.setenv("OTHER", "other-PLANTED")
    desired = project.write(text)
    target_env.reset_requests()
    result = cli("apply", desired, "--next-management-key-file", next_key, *extra)
    assert result.code == 1 and message in result.err, result.text
    assert target_env.requests() == []


def test_the_key_in_use_is_no_rotation(
    project: Project, target_env: Emulator, cli: Cli, tmp_path: Path
) -> None:
    same = tmp_path / "same"
    same.write_text(KEY + "\n")
    desired = project.write(DESIRED.split("auth-files:")[0])
    result = cli("apply", desired, "--next-management-key-file", same)
    assert result.code == 1 and "the key in use already" in result.err


def test_a_failed_config_write_leaves_the_old_key(
    desired: Path, next_key: Path, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    emu.inject_fault("PUT", "/config.yaml", status=500, body={"error": "write_failed"})
    result = cli("apply", desired, "--auto-approve", "--next-management-key-file", next_key)
    assert result.code == 1
    assert "was not rotated" in result.err and "WAS rotated" not in result.err
    assert accepts(emu, KEY) == 200 and accepts(emu, NEXT) == 401


def test_a_failed_check_says_where_cpa_is(
    desired: Path, next_key: Path, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    # GET config.yaml: the plan's read, apply's re-read before the PUT, then the check
    emu.inject_fault(
        "GET", "/config.yaml", nth=3, status=401, body={"error": "invalid management key"}
    )
    result = cli("apply", desired, "--auto-approve", "--next-management-key-file", next_key)
    assert result.code == 1
    assert "could not be checked" in result.err
    assert "CPA accepted config.yaml with the new secret-key" in result.err
    assert "--management-key-file" in result.err and planted_in(result.text) == []
    assert accepts(emu, NEXT) == 200  # it was rotated: the message says how to confirm it


def test_a_step_after_the_config_write_failing_says_the_key_was_rotated(
    desired: Path, next_key: Path, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    emu.inject_fault("POST", "/auth-files", status=500, body={"error": "disk full"})
    result = cli("apply", desired, "--auto-approve", "--next-management-key-file", next_key)
    assert result.code == 1
    assert "WAS rotated" in result.err
    assert accepts(emu, NEXT) == 200 and accepts(emu, KEY) == 401
