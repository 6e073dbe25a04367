"""The state directory: it ignores itself, holds a backup only of what was replaced, keeps a
bounded number of them, and ``restore --list`` / ``--dry-run`` show them without writing.

Decisions recorded here:

* A config PUT is backed up only when it replaces or removes a live value; one that only adds
  keys replaces nothing (taking the keys out again undoes it). An auth-file PATCH is backed up
  when it writes at a secret-bearing path (headers, tokens, keys), not for ``note`` or
  ``disabled``.
* ``--keep-backups N`` (apply and daemon, default 20, at least 1): after a run that made a
  backup, the oldest beyond N are removed. Only folders named as the reconciler names them
  count; anything else in ``backups/`` is left alone.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from pathlib import Path

import pytest
from e2e_helpers import (
    KEY,
    Cli,
    Project,
    auth_source,
    desired_doc,
    management,
    mutating,
    web_ui_put,
)
from prometheus_client import CollectorRegistry

from reconciler.client.management import ManagementClient
from reconciler.core.changes import Change
from reconciler.core.model import DesiredState, LiveState
from reconciler.core.plan import Action, Plan
from reconciler.daemon.cycle import DaemonConfig, Reconciler
from reconciler.daemon.events import EventSink
from reconciler.daemon.metrics import Metrics
from reconciler.emulator import Emulator
from reconciler.errors import ReconcilerError
from reconciler.pipeline import planning
from reconciler.pipeline.apply import apply_plan
from reconciler.statedir.backup import Backup, list_backups

OLD_IDS = ["20200101T000000Z-aaaaaa", "20200102T000000Z-bbbbbb", "20200103T000000Z-cccccc"]


def _old_backups(state_dir: Path, url: str) -> list[Path]:
    """Three backups from 2020, made as the reconciler makes them, and a folder of the user's."""
    made = []
    for backup_id in OLD_IDS:
        backup = Backup(state_dir, url, backup_id, created_at=backup_id[:8])
        backup.save_auth_file(f"old-{backup_id[-1]}.json", b'{"type":"codex"}', "deleted")
        made.append(backup.root)
    (state_dir / "backups" / "notes-of-mine").mkdir()
    return made


def test_the_state_dir_ignores_itself_and_is_private(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    emu.write_auth_file("gone.json", auth_source("gone@example.com"))
    project.write(desired_doc(prune=True))
    assert cli("apply", project.desired, "--auto-approve").code == 0
    state = project.state_dir
    assert (state / ".gitignore").read_text() == "*\n"
    assert state.stat().st_mode & 0o777 == 0o700
    (backup,) = project.backups()
    for path in [backup, *backup.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_a_backup_only_when_something_was_replaced(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    files = [
        {
            "name": "a.json",
            "source": project.source("auth/a.json", auth_source("a@example.com")),
            "fields": {"note": "first"},
        }
    ]
    # Adds a config key and creates a file: nothing replaced, no backup.
    project.write(desired_doc(config={"max-retry-interval": 31}, files=files))
    applied = cli("apply", project.desired, "--auto-approve")
    assert applied.code == 0, applied.text
    assert "Backup of" not in applied.out
    assert project.backups() == []

    # A note and the disabled flag: no secret-bearing path, no backup.
    files[0] = {**files[0], "fields": {"note": "second"}, "disabled": True}
    project.write(desired_doc(config={"max-retry-interval": 31}, files=files))
    assert cli("apply", project.desired, "--auto-approve").code == 0
    assert project.backups() == []

    # A header (may hold a credential): the live file is saved before the PATCH.
    live_before = emu.read_auth_file("a.json")
    files[0] = {**files[0], "fields": {"note": "second", "headers": {"X-Team": "t1"}}}
    project.write(desired_doc(config={"max-retry-interval": 31}, files=files))
    patched = cli("apply", project.desired, "--auto-approve")
    assert patched.code == 0, patched.text
    (backup,) = project.backups()
    manifest = json.loads((backup / "manifest.json").read_text())
    assert [(i["name"], i["reason"]) for i in manifest["items"]] == [("a.json", "patched")]
    assert json.loads((backup / "auth-files" / "a.json").read_bytes()) == live_before

    # A changed config value: the live config.yaml is saved.
    live_config = emu.config_yaml()
    project.write(desired_doc(config={"max-retry-interval": 45}, files=files))
    changed = cli("apply", project.desired, "--auto-approve")
    assert changed.code == 0, changed.text
    newest = project.backups()[-1]  # names sort in the order made, within a second too
    assert newest != backup, changed.text
    assert (newest / "config.yaml").read_text() == live_config
    assert not (newest / "auth-files").exists()


def test_keep_backups_removes_the_oldest(project: Project, target_env: Emulator, cli: Cli) -> None:
    emu = target_env
    old = _old_backups(project.state_dir, emu.url)
    emu.write_auth_file("gone.json", auth_source("gone@example.com"))
    project.write(desired_doc(prune=True))
    applied = cli("apply", project.desired, "--auto-approve", "--keep-backups", "2")
    assert applied.code == 0, applied.text
    assert "Removed 2 old backup(s)" in applied.err
    kept = project.backups()
    assert old[-1] in kept and old[0] not in kept and old[1] not in kept
    assert len([p for p in kept if p.name != "notes-of-mine"]) == 2
    assert (project.state_dir / "backups" / "notes-of-mine").is_dir(), "not ours: left alone"
    with pytest.raises(SystemExit) as refused:  # argparse: exit 1, before anything is read
        cli("apply", project.desired, "--keep-backups", "0")
    assert refused.value.code == 1


def test_default_keeps_twenty(project: Project, target_env: Emulator, cli: Cli) -> None:
    emu = target_env
    for day in range(1, 26):
        Backup(project.state_dir, emu.url, f"202001{day:02d}T000000Z-abcdef").save_config("a: 1\n")
    emu.write_auth_file("gone.json", auth_source("gone@example.com"))
    project.write(desired_doc(prune=True))
    assert cli("apply", project.desired, "--auto-approve").code == 0
    assert len(project.backups()) == 20
    assert project.backups()[0].name.startswith("20200107")


def test_the_daemon_heal_keeps_a_bounded_number(
    project: Project, target_env: Emulator, tmp_path: Path
) -> None:
    emu = target_env
    project.write(desired_doc(config={"request-retry": 3}))
    old = _old_backups(project.state_dir, emu.url)
    config = DaemonConfig(
        desired=str(project.desired),
        state_dir=project.state_dir,
        target=planning.TargetOptions(url=emu.url),
        mode="heal",
        listen=None,
        keep_backups=2,
    )
    out = io.StringIO()
    reconciler = Reconciler(
        config,
        EventSink(out, log_format="json", target=emu.url),
        Metrics(CollectorRegistry()),
        threading.Event(),
        {"CPA_MANAGEMENT_KEY": KEY},
    )
    reconciler.tick()  # request-retry 0 -> 3: the live config is backed up
    web_ui_put(emu, "request-retry", 5)
    reconciler.tick()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in events].count("apply.succeeded") == 2, events
    ours = [p for p in project.backups() if p.name != "notes-of-mine"]
    assert len(ours) == 2 and not set(old) & set(ours)


def test_restore_list_shows_each_backup(
    project: Project, target_env: Emulator, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = target_env
    emu.write_auth_file("gone.json", auth_source("gone@example.com"))
    project.write(desired_doc(config={"request-retry": 2}, prune=True))
    assert cli("apply", project.desired, "--auto-approve").code == 0
    (backup,) = project.backups()
    emu.reset_requests()
    monkeypatch.delenv("CPA_MANAGEMENT_KEY")  # --list needs no key: it sends nothing

    listed = cli("restore", "--list", "--desired", project.desired)

    assert listed.code == 0, listed.text
    lines = listed.out.splitlines()
    assert lines[0].split() == ["BACKUP", "TIME", "TARGET", "HOLDS"]
    row = lines[1]
    stamp = backup.name
    assert row.startswith(stamp)
    assert f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:" in row
    assert emu.url in row and row.endswith("config.yaml, 1 auth file")
    assert management(emu) == []


def test_restore_list_with_no_backups(project: Project, cli: Cli) -> None:
    listed = cli("restore", "--list", "--state-dir", project.state_dir)
    assert listed.code == 0
    assert "No backups in" in listed.out
    assert not project.state_dir.exists(), "listing creates nothing"


def test_restore_dry_run_shows_and_writes_nothing(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    emu.write_auth_file("gone.json", auth_source("gone@example.com"))
    project.write(desired_doc(config={"request-retry": 2}, prune=True))
    assert cli("apply", project.desired, "--auto-approve").code == 0
    emu.reset_requests()

    dry = cli("restore", "latest", "--desired", project.desired, "--dry-run")

    assert dry.code == 0, dry.text
    assert (
        "config.yaml: replace the live config with the backup's (differs at: request-retry)"
        in dry.out
    )
    assert "+ gone.json: not on the server, restored" in dry.out
    assert "Dry run: nothing was written." in dry.out
    assert management(emu), "it reads"
    assert mutating(emu) == []
    assert not emu.auth_dir.joinpath("gone.json").exists()
    assert len(project.backups()) == 1


def test_backups_made_within_one_second_sort_in_the_order_made(tmp_path: Path) -> None:
    """``latest`` and pruning go by name: a random suffix alone ordered them by chance."""
    made = []
    for n in range(8):
        backup = Backup.new(tmp_path / "state", "http://127.0.0.1:1")
        backup.save_config(f"n: {n}\n")
        made.append(backup.root)
    assert list_backups(tmp_path / "state") == made


def test_the_daemon_flag_reaches_its_config(tmp_path: Path) -> None:
    from reconciler import cli as cli_module
    from reconciler.commands import daemon as daemon_command

    desired = tmp_path / "desired-state.yaml"
    desired.write_text("{}\n")
    parser = cli_module.build_parser(only="daemon")
    args = parser.parse_args(["daemon", str(desired), "--keep-backups", "3"])
    assert daemon_command.config_from(args, {}).keep_backups == 3
    default = parser.parse_args(["daemon", str(desired)])
    assert daemon_command.config_from(default, {}).keep_backups == 20


@pytest.mark.parametrize(
    "field",
    ["token", "token.refresh_token", "access_token", "api_key", "cookie", "headers.Authorization"],
)
def test_a_patch_at_a_secret_bearing_path_is_backed_up_first(
    field: str, emu: Emulator, tmp_path: Path
) -> None:
    """The loader refuses token fields; a plan that did not come from it (a crafted plan file,
    a bug) still gets the live file saved before the PATCH: the second line of defence."""
    live = auth_source("a@example.com", token={"refresh_token": "rt-nested-live"})
    emu.write_auth_file("a.json", live)
    saved = emu.read_auth_file("a.json")
    change = Change(("fields", field), before="x", after=None)
    plan = Plan(actions=(Action("auth-file", "a.json", "update", "crafted", (change,)),))
    backup = Backup.new(tmp_path / "state", emu.url)
    # Whatever CPA makes of the PATCH, the backup came first.
    with ManagementClient(emu.url, KEY) as client, contextlib.suppress(ReconcilerError):
        apply_plan(
            plan,
            DesiredState(config=None, auth_files=()),
            LiveState(config={}, config_text=""),
            client,
            backup,
            seed_key=b"seed",
        )
    assert backup.exists
    assert json.loads((backup.root / "auth-files" / "a.json").read_bytes()) == saved
    manifest = json.loads((backup.root / "manifest.json").read_text())
    assert manifest["items"][0]["reason"] == "patched"


@pytest.mark.parametrize("argv", [("plan",), ("export",)])
def test_a_read_only_command_makes_the_state_dir_ignore_itself_too(
    project: Project,
    target_env: Emulator,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
) -> None:
    """plan and export keep the record of failed logins there: the folder they make is private
    and ignores itself as apply's does, and a link planted in its place is not followed."""
    project.write(desired_doc())
    monkeypatch.chdir(project.root)
    args = [*argv, str(project.desired)] if argv == ("plan",) else [*argv, "-o", "out.yaml"]
    assert cli(*args).code == 0
    assert (project.state_dir / ".gitignore").read_text() == "*\n"
    assert oct(project.state_dir.stat().st_mode)[-3:] == "700"


def test_plan_does_not_follow_a_planted_state_dir_link(
    project: Project, target_env: Emulator, cli: Cli, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    project.write(desired_doc())
    project.state_dir.symlink_to(elsewhere)
    result = cli("plan", project.desired)
    assert "symbolic link" in result.err
    assert list(elsewhere.iterdir()) == [], "nothing written through the link"
