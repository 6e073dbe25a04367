"""Every command, run against the planted world: no secret in anything printed, logged or
written (plan files, exported files), and backups that hold secrets are 0600 in 0700 dirs.

Each test also checks that the run really handled the secrets (the apply wrote them to CPA,
the backup holds the live ones), so a command that silently did nothing cannot pass.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from secrets_world import (
    ALICE,
    BOB,
    CAROL,
    ENV_SECRETS,
    FILE_SECRET,
    LITERALS,
    LIVE,
    MARK,
    TOKENS,
    Cli,
    World,
    assert_no_leak,
    files_under,
    mode,
)


def test_validate(world: World, cli: Cli) -> None:
    run = cli("validate", world.desired)
    assert run.code == 0, run.err
    assert "valid (2 auth files" in run.out
    assert_no_leak("validate", run.everything)


@pytest.mark.parametrize(
    "form", [(), ("--json",), ("--markdown",)], ids=["text", "json", "markdown"]
)
def test_plan(world: World, cli: Cli, form: tuple[str, ...]) -> None:
    run = cli("plan", world.desired, *form, "--detailed-exitcode")
    assert run.code == 2, run.err
    for shown in ("api-keys", "claude-api-key", "proxy-url", ALICE, CAROL):
        assert shown in run.out
    assert_no_leak(f"plan {' '.join(form)}", run.everything)
    assert world.emu.mutating_requests() == []


def test_plan_file_and_apply_of_it(world: World, cli: Cli) -> None:
    planfile = world.repo / "plan.json"
    planned = cli("plan", world.desired, "--out", planfile)
    assert planned.code == 0, planned.err
    text = planfile.read_text()
    assert json.loads(text)["summary"]["has_changes"] is True
    assert_no_leak("plan --out (output)", planned.everything)
    assert_no_leak("the plan file", text)
    assert mode(planfile) == 0o600

    applied = cli("apply", world.desired, "--plan", planfile)
    assert applied.code == 0, applied.err
    assert_no_leak("apply --plan", applied.everything)
    assert ENV_SECRETS["CLIENT_KEY_A"] in world.emu.config_yaml()


def test_apply_backup_and_restore(world: World, cli: Cli) -> None:
    applied = cli("apply", world.desired, "--auto-approve")
    assert applied.code == 0, applied.err
    assert_no_leak("apply", applied.everything)

    live = world.emu.config_yaml()
    for value in (
        ENV_SECRETS["CLIENT_KEY_A"],
        ENV_SECRETS["CLAUDE_KEY"],
        ENV_SECRETS["PROXY_PASSWORD"],
        FILE_SECRET,
        LITERALS["api_key"],
        LITERALS["provider_header"],
    ):
        assert value in live, "the apply did not write the planted secrets"
    assert world.emu.read_auth_file(ALICE)["refresh_token"] == TOKENS["alice"]["refresh_token"]
    bob = world.emu.read_auth_file(BOB)
    assert bob["refresh_token"] == TOKENS["bob-live"]["refresh_token"]  # never re-uploaded
    assert bob["headers"]["X-Literal"] == LITERALS["auth_header"]

    backup = _only_backup(world.state_dir)
    _assert_private(backup)
    saved_config = (backup / "config.yaml").read_text()
    assert LIVE["claude_key"] in saved_config and LIVE["api_key"] in saved_config
    saved_carol = json.loads((backup / "auth-files" / CAROL).read_text())
    assert saved_carol["refresh_token"] == TOKENS["carol-live"]["refresh_token"]
    assert_no_leak("the backup manifest", (backup / "manifest.json").read_text())

    again = cli("plan", world.desired, "--detailed-exitcode")
    assert again.code == 0, again.out + again.err
    assert_no_leak("plan after apply", again.everything)

    restored = cli("restore", "--yes", "latest", "--state-dir", world.state_dir)
    assert restored.code == 0, restored.err
    assert_no_leak("restore", restored.everything)
    assert LIVE["claude_key"] in world.emu.config_yaml()
    assert world.emu.read_auth_file(CAROL)["refresh_token"] == TOKENS["carol-live"]["refresh_token"]

    drift = cli("plan", world.desired, "--detailed-exitcode", "--markdown")
    assert drift.code == 2
    assert_no_leak("plan after restore", drift.everything)


def _only_backup(state_dir: Path) -> Path:
    backups = sorted((state_dir / "backups").iterdir())
    assert len(backups) == 1, backups
    return backups[0]


def _assert_private(backup: Path) -> None:
    """0700 for the backup directory and every directory in it, 0600 for every file."""
    directories = [backup, *(p for p in backup.rglob("*") if p.is_dir())]
    assert {d.name: mode(d) for d in directories} == {d.name: 0o700 for d in directories}
    files = list(files_under(backup))
    assert {"config.yaml", "manifest.json", CAROL} <= {f.name for f in files}
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_export(world: World, cli: Cli) -> None:
    printed = cli("export")
    assert printed.code == 0, printed.err
    assert "${env:CPA_MANAGEMENT_KEY}" in printed.out
    assert_no_leak("export", printed.everything)

    target = world.repo / "exported.yaml"
    written = cli("export", "-o", target)
    assert written.code == 0, written.err
    assert_no_leak("export -o (output)", written.everything)
    assert_no_leak("the exported file", target.read_text())
    assert "claude-api-key" in target.read_text()


def test_demo(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo makes its own secrets: make them recognisable, then look for them."""
    made: list[str] = []
    real = secrets.token_urlsafe

    def recognisable(nbytes: int | None = None) -> str:
        value = f"demo-{MARK}-{real(8)}"
        made.append(value)
        return value

    monkeypatch.setattr(secrets, "token_urlsafe", recognisable)
    run = cli("demo")
    assert run.code == 0, run.out + run.err
    assert len(made) >= 6, "the demo no longer generates its secrets with secrets.token_urlsafe"
    assert_no_leak("demo", run.everything)
