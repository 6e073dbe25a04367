"""A tampered backup sends neither the management key nor a local file anywhere.

``restore`` used to take its URL from the backup's ``manifest.json`` (the key went wherever it
said, without asking) and to read ``items[].file`` as any path (absolute, ``../``, through a
link), uploading any local file. Now: the target is the command line's or the desired state's
(another one in the manifest is refused, with no request to either server, unless
``--to-backup-target``); only ``config.yaml`` and ``auth-files/<plain name>`` inside the backup
folder are read, never through a link, and only from a folder only the user can read (a folder
committed to a repository and checked out is refused); it asks, or needs ``--yes``; the config
goes through the lockout guard (exit 4) and is read again right before the PUT (exit 3).
"""

from __future__ import annotations

import builtins
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile_server import HostileServer, Reply, Seen

from reconciler import cli
from reconciler.emulator import Emulator

KEY = "restore-key-PLANTED-7c1e"
LOCAL_SECRET = "ssh-private-PLANTED-0a9b"
BACKUP_ID = "20260101T000000Z-abc123"
AUTH = {"type": "codex", "email": "a@example.com", "refresh_token": "rt-backup"}


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    for name in ("CPA_URL", "CPA_MANAGEMENT_KEY"):
        monkeypatch.delenv(name, raising=False)
    with Emulator(management_key=KEY) as emulator:
        monkeypatch.setenv("CPA_MANAGEMENT_KEY", KEY)
        yield emulator


@pytest.fixture
def elsewhere() -> Iterator[HostileServer]:
    """The server a tampered manifest names: it must never hear from us."""

    def handler(req: Seen) -> Reply | None:
        return Reply.json({"files": []}) if req.method == "GET" else Reply.json({})

    with HostileServer(handler) as srv:
        yield srv


@pytest.fixture
def local_secret(tmp_path: Path) -> Path:
    path = tmp_path / "home" / ".ssh" / "id_ed25519.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"type": "codex", "key": LOCAL_SECRET}))
    path.chmod(0o600)
    return path


def make_backup(
    state: Path,
    target: str,
    items: list[dict[str, Any]] | None = None,
    files: dict[str, bytes] | None = None,
) -> Path:
    """A backup as the reconciler writes one (0700 folders, 0600 files), then tampered with."""
    root = state / "backups" / BACKUP_ID
    (root / "auth-files").mkdir(parents=True)
    for directory in (state, state / "backups", root, root / "auth-files"):
        directory.chmod(0o700)
    if items is None:
        items = [{"kind": "auth-file", "name": "a.json", "file": "auth-files/a.json"}]
        files = {"auth-files/a.json": json.dumps(AUTH).encode()}
    for rel, data in (files or {}).items():
        (root / rel).write_bytes(data)
        (root / rel).chmod(0o600)
    manifest = {"id": BACKUP_ID, "target": target, "items": items}
    (root / "manifest.json").write_text(json.dumps(manifest))
    (root / "manifest.json").chmod(0o600)
    return root


def restore(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str]:
    code = cli.main(["restore", *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    return code, out + err


def assert_silent(emu: Emulator, elsewhere: HostileServer) -> None:
    assert elsewhere.requests == [], "nothing goes to the target named in the backup"
    assert [r for r in emu.requests() if r.is_management] == []


# -- the target ----------------------------------------------------------------------------


def test_another_target_in_the_manifest_is_refused(
    emu: Emulator, elsewhere: HostileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_backup(tmp_path / ".reconciler", elsewhere.url)
    code, text = restore(capsys, root, "--yes", "--url", emu.url)
    assert code == 1, text
    assert f"was made from {elsewhere.url}, not from {emu.url}" in text
    assert "--to-backup-target" in text
    assert_silent(emu, elsewhere)
    assert not emu.auth_dir.joinpath("a.json").exists()


def test_no_target_on_the_command_line_is_refused_not_read_from_the_backup(
    emu: Emulator, elsewhere: HostileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_backup(tmp_path / ".reconciler", elsewhere.url)
    code, text = restore(capsys, root, "--yes")
    assert code == 1, text
    assert "restore needs the target" in text and "--to-backup-target" in text
    assert_silent(emu, elsewhere)


def test_the_desired_states_target_is_used(
    emu: Emulator, elsewhere: HostileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    desired = tmp_path / "desired-state.yaml"
    desired.write_text(
        f"target:\n  url: {emu.url}\n  management-key: ${{env:CPA_MANAGEMENT_KEY}}\n"
    )
    root = make_backup(tmp_path / ".reconciler", elsewhere.url)
    code, text = restore(capsys, "latest", "--desired", desired, "--yes")
    assert code == 1 and "was made from" in text, text
    assert_silent(emu, elsewhere)

    ours = make_backup(tmp_path / "ours", emu.url)
    code, text = restore(capsys, ours, "--desired", desired, "--yes")
    assert code == 0, text
    assert elsewhere.requests == []
    assert emu.read_auth_file("a.json")["refresh_token"] == "rt-backup"
    assert root.exists()


def test_to_backup_target_uses_it_and_says_so(
    emu: Emulator, elsewhere: HostileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_backup(tmp_path / ".reconciler", elsewhere.url)
    code, text = restore(capsys, root, "--yes", "--url", emu.url, "--to-backup-target")
    assert code == 1 and "give only one" in text, text
    assert_silent(emu, elsewhere)

    code, text = restore(capsys, root, "--dry-run", "--to-backup-target")
    assert code == 0, text
    assert f"--to-backup-target: restoring to {elsewhere.url}" in text
    assert {r.method for r in elsewhere.requests} == {"GET"}, "a dry run only reads"


def test_a_remote_plain_http_target_in_the_manifest_is_refused(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_backup(tmp_path / ".reconciler", "http://192.0.2.10:8317")
    code, text = restore(capsys, root, "--yes", "--to-backup-target")
    assert code == 1 and "--allow-insecure-http" in text, text
    assert KEY not in text


# -- the files -----------------------------------------------------------------------------


def _tampered_items(local_secret: Path, root_hint: Path) -> dict[str, Any]:
    rel_up = os.path.relpath(local_secret, root_hint)
    return {
        "absolute": [{"kind": "auth-file", "name": "a.json", "file": str(local_secret)}],
        "dot-dot": [{"kind": "auth-file", "name": "a.json", "file": rel_up}],
        "dot-dot-inside": [
            {"kind": "auth-file", "name": "a.json", "file": f"auth-files/../../{rel_up}"}
        ],
        "name-is-a-path": [{"kind": "auth-file", "name": rel_up, "file": f"auth-files/{rel_up}"}],
        "config-elsewhere": [{"kind": "config", "name": "config.yaml", "file": str(local_secret)}],
    }


@pytest.mark.parametrize(
    "case", ["absolute", "dot-dot", "dot-dot-inside", "name-is-a-path", "config-elsewhere"]
)
def test_files_outside_the_backup_are_never_read(
    case: str,
    emu: Emulator,
    elsewhere: HostileServer,
    tmp_path: Path,
    local_secret: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = tmp_path / ".reconciler"
    root_hint = state / "backups" / BACKUP_ID
    items = _tampered_items(local_secret, root_hint)[case]
    root = make_backup(state, emu.url, items, {})
    code, text = restore(capsys, root, "--yes", "--url", emu.url)
    assert code == 1, text
    assert "not a readable reconciler backup" in text
    assert LOCAL_SECRET not in text
    assert_silent(emu, elsewhere)
    assert list(emu.auth_dir.iterdir()) == []


@pytest.mark.parametrize("what", ["file", "folder", "manifest"])
def test_a_symlink_out_of_the_backup_is_not_followed(
    what: str,
    emu: Emulator,
    tmp_path: Path,
    local_secret: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = make_backup(tmp_path / ".reconciler", emu.url)
    if what == "file":
        (root / "auth-files" / "a.json").unlink()
        os.symlink(local_secret, root / "auth-files" / "a.json")
    elif what == "folder":
        (root / "auth-files" / "a.json").unlink()
        (root / "auth-files").rmdir()
        os.symlink(local_secret.parent, root / "auth-files")
        (local_secret.parent / "a.json").symlink_to(local_secret)
    else:
        outside = tmp_path / "manifest.json"
        outside.write_text((root / "manifest.json").read_text())
        outside.chmod(0o600)
        (root / "manifest.json").unlink()
        os.symlink(outside, root / "manifest.json")
    code, text = restore(capsys, root, "--yes", "--url", emu.url)
    assert code == 1, text
    assert "not a readable reconciler backup" in text
    assert LOCAL_SECRET not in text
    assert [r for r in emu.requests() if r.is_management] == []
    assert list(emu.auth_dir.iterdir()) == []


def test_a_backup_folder_that_is_a_symlink_is_refused(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = make_backup(tmp_path / "real", emu.url)
    link = tmp_path / "link-to-backup"
    os.symlink(real, link)
    code, text = restore(capsys, link, "--yes", "--url", emu.url)
    assert code == 1 and "symbolic link" in text, text
    assert emu.requests() == []


def test_a_backup_committed_to_the_repository_is_refused(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkout makes folders 0755 and files 0644 (git keeps no other modes): not ours."""
    repo = tmp_path / "repo"
    desired = repo / "desired-state.yaml"
    repo.mkdir()
    desired.write_text("target:\n  management-key: ${env:CPA_MANAGEMENT_KEY}\n")
    root = make_backup(repo / ".reconciler", emu.url)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    code, text = restore(capsys, "latest", "--desired", desired, "--yes", "--url", emu.url)
    assert code == 1, text
    assert "mode 755" in text and f"chmod -R go= {root}" in text
    assert emu.requests() == []
    assert list(emu.auth_dir.iterdir()) == []


# -- asking, the lock, the config guard ----------------------------------------------------


def test_without_a_terminal_and_without_yes_nothing_is_sent(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_backup(tmp_path / ".reconciler", emu.url)
    code, text = restore(capsys, root, "--url", emu.url)
    assert code == 1 and "--yes" in text, text
    assert emu.requests() == []


class _Terminal:
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_it_shows_and_asks(
    emu: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = make_backup(tmp_path / ".reconciler", emu.url)
    monkeypatch.setattr(sys, "stdin", _Terminal())
    asked: list[str] = []

    def answer(prompt: str) -> str:
        asked.append(capsys.readouterr().out)
        return "no"

    monkeypatch.setattr(builtins, "input", answer)
    code, text = restore(capsys, root, "--url", emu.url)
    assert code == 1 and "Restore cancelled; nothing was changed." in text
    assert "+ a.json: not on the server, restored" in asked[0]
    assert not emu.auth_dir.joinpath("a.json").exists()

    monkeypatch.setattr(builtins, "input", lambda prompt: "yes")
    code, text = restore(capsys, root, "--url", emu.url)
    assert code == 0, text
    assert emu.read_auth_file("a.json")["refresh_token"] == "rt-backup"


def test_restore_takes_the_state_lock(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from reconciler.statedir.lock import state_lock

    state = tmp_path / ".reconciler"
    root = make_backup(state, emu.url)
    with state_lock(state):
        code, text = restore(capsys, root, "--yes", "--url", emu.url)
    assert code == 5, text
    assert [r for r in emu.requests() if r.is_management] == []


def _config_backup(emu: Emulator, tmp_path: Path, text: str) -> Path:
    data = text.encode()
    items = [{"kind": "config", "name": "config.yaml", "file": "config.yaml"}]
    return make_backup(tmp_path / ".reconciler", emu.url, items, {"config.yaml": data})


def test_a_config_that_would_lock_the_key_out_is_refused(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = emu.config_yaml()
    lines = [
        '  secret-key: "some-other-key"' if ln.strip().startswith("secret-key:") else ln
        for ln in live.splitlines()
    ]
    root = _config_backup(emu, tmp_path, "\n".join(lines) + "\n")
    code, text = restore(capsys, root, "--yes", "--url", emu.url)
    assert code == 4, text
    assert "secret-key would no longer match" in text
    assert [r.method for r in emu.requests() if r.is_management] == ["GET"]
    assert emu.config_yaml() == live


def test_the_config_is_read_again_right_before_the_put(
    emu: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    live = emu.config_yaml()
    root = _config_backup(emu, tmp_path, live.replace("request-retry: 0", "request-retry: 4"))
    monkeypatch.setattr(sys, "stdin", _Terminal())
    meanwhile = live.replace("request-retry: 0", "request-retry: 9")

    def answer(prompt: str) -> str:
        emu.set_config_yaml(meanwhile)  # the web UI saves while the operator reads
        return "yes"

    monkeypatch.setattr(builtins, "input", answer)
    code, text = restore(capsys, root, "--url", emu.url)
    assert code == 3, text
    assert "changed on the server since restore read it" in text
    assert "request-retry: 9" in emu.config_yaml()
    assert [r for r in emu.requests() if r.method == "PUT"] == []


def test_a_restore_is_itself_backed_up(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = emu.config_yaml()
    root = _config_backup(emu, tmp_path, live.replace("request-retry: 0", "request-retry: 4"))
    code, text = restore(capsys, root, "--yes", "--url", emu.url)
    assert code == 0, text
    assert "request-retry: 4" in emu.config_yaml()
    undo = [p for p in (tmp_path / ".reconciler" / "backups").iterdir() if p != root]
    assert len(undo) == 1 and (undo[0] / "config.yaml").read_text() == live
    assert str(undo[0]) in text
