"""Backups of what an apply replaces or deletes, reading them back, and keeping a bounded number.

A backup is a directory ``<state-dir>/backups/<UTC time>-<id>/`` (mode 0700) holding
``config.yaml`` (the live config before a PUT that replaced or removed something),
``auth-files/<name>`` (each file downloaded before it was deleted, re-seeded, overwritten by a
restore, or patched at a secret-bearing path) and ``manifest.json``. Every file is written with
mode 0600 before the change it guards is sent, and fsynced: backups hold live secrets and must
survive a crash of the apply that made them. A backup directory is made only when the first item
is saved, so an apply that replaced nothing leaves none.

Everything goes through ``private``: no link is followed below the state directory, and a name
from the server (an auth file's) is used only when it is a plain file name.

Reading a backup trusts nothing in it: ``items[].file`` must be ``config.yaml`` or
``auth-files/<name>`` with ``<name>`` a plain file name, every file a regular file of the user's
that only the user can read (a backup the reconciler makes is 0700/0600; a folder committed to
a repository and checked out, or copied with ``cp -r``, is not, and is refused with the ``chmod``
that would accept it), within a size limit. The manifest's ``target`` is only information: restore
never sends anything there unless told to (``--to-backup-target``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler import errors
from reconciler.statedir import private

MANIFEST = "manifest.json"
BACKUPS = "backups"
AUTH_FILES = "auth-files"
CONFIG = "config.yaml"
DEFAULT_KEEP = 20
ID_PATTERN = re.compile(r"\A\d{8}T\d{6}Z-[0-9a-f]{6}\Z")
MANIFEST_LIMIT = 32 * 1024 * 1024  # 10,000 items are ~1.5 MB
FILE_LIMIT = 10 * 1024 * 1024  # as auth-file sources


@dataclass
class Backup:
    """One apply's backup directory; created on the first item saved."""

    state_dir: Path
    target: str
    id: str
    items: list[dict[str, Any]] = field(default_factory=list)
    created_at: str = ""

    @classmethod
    def new(cls, state_dir: Path, target: str) -> Backup:
        backup = cls(state_dir, target, "")
        backup._name_now()
        return backup

    def _name_now(self) -> None:
        """``<UTC second>-<microsecond in 5 hex digits><1 random hex digit>``: names sort in
        the order backups were made, within one second too (``latest``, pruning)."""
        now = time.time()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        micro = int(now % 1 * 1_000_000)
        self.id = f"{stamp}-{micro:05x}{secrets.token_hex(1)[0]}"
        self.created_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))

    @property
    def root(self) -> Path:
        return self.state_dir / BACKUPS / self.id

    @property
    def exists(self) -> bool:
        return bool(self.items)

    def save_config(self, text: str) -> None:
        self._save(None, CONFIG, text.encode(), {"kind": "config", "name": CONFIG})

    def save_auth_file(self, name: str, content: bytes, reason: str) -> None:
        problem = private.plain_name_problem(name)
        if problem is not None:
            raise errors.BackupError(
                f"auth file {private.shown(name)} (a name the server listed) cannot be backed "
                f"up: {problem}, so it is no plain file name to save inside {self.root}. Nothing "
                "was written for it, and it is not deleted or replaced without a backup"
            )
        item = {"kind": "auth-file", "name": name, "reason": reason}
        self._save(AUTH_FILES, name, content, item)

    def _save(self, folder: str | None, name: str, data: bytes, item: dict[str, Any]) -> None:
        rel = f"{folder}/{name}" if folder else name
        with private.descriptors(f"cannot write the backup {self.root / rel}") as fds:
            private.ensure_state_dir(self.state_dir)
            fds.append(private.open_state_dir(self.state_dir))
            fds.append(private.open_subdir(fds[-1], BACKUPS, self.state_dir, create=True))
            if not self.items:
                self._make_root(fds[-1])
            for part in (self.id, *((folder,) if folder else ())):
                fds.append(private.open_subdir(fds[-1], part, self.root, create=True))
            private.write_private(fds[-1], name, data)
            self.items.append({**item, "file": rel})
            manifest = {
                "id": self.id,
                "created_at": self.created_at,
                "target": self.target,
                "items": self.items,
            }
            root_fd = fds[2]
            private.write_private(root_fd, MANIFEST, json.dumps(manifest, indent=2).encode())

    def _make_root(self, backups_fd: int) -> None:
        """A fresh folder for this backup: never one that is already there."""
        for _ in range(16):
            try:
                os.mkdir(self.id, 0o700, dir_fd=backups_fd)
                return
            except FileExistsError:
                self._name_now()
        raise FileExistsError(f"no free backup name in {self.state_dir / BACKUPS}")


@dataclass(frozen=True)
class BackupContents:
    root: Path
    target: str
    created_at: str
    config_text: str | None
    auth_files: dict[str, bytes]

    @property
    def id(self) -> str:
        return self.root.name

    def summary(self) -> str:
        """What it holds, in words: ``config.yaml, 3 auth files``."""
        parts = [CONFIG] if self.config_text is not None else []
        if self.auth_files:
            count = len(self.auth_files)
            parts.append(f"{count} auth file{'s' if count != 1 else ''}")
        return ", ".join(parts) or "nothing"


def read_backup(root: Path) -> BackupContents:
    """A backup directory's contents, read without trusting the manifest (see the module
    docstring); BackupError naming the backup and the reason when anything is off."""
    manifest_path = root / MANIFEST

    def fail(why: str) -> errors.BackupError:
        return errors.BackupError(f"{manifest_path}: not a readable reconciler backup ({why})")

    if os.path.islink(root):
        raise fail(f"{root} is a symbolic link; a backup is read only from a real directory")
    try:
        root_fd = os.open(root, private.DIR_FLAGS)
    except OSError as exc:
        raise fail(exc.strerror or str(exc)) from exc
    try:
        _check_private_dir(root_fd, root)
        try:
            manifest = json.loads(private.read_private(root_fd, MANIFEST, limit=MANIFEST_LIMIT))
        except OSError as exc:
            raise fail(f"{MANIFEST}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise fail(f"{MANIFEST} is not JSON: {exc}") from exc
        if not isinstance(manifest, dict) or not isinstance(manifest.get("items"), list):
            raise fail(f"{MANIFEST} has no list of items")
        target = manifest.get("target", "")
        created = manifest.get("created_at", "")
        config_text: str | None = None
        files: dict[str, bytes] = {}
        for n, item in enumerate(manifest["items"]):
            kind, name, data = _read_item(root_fd, root, item, n, fail)
            if kind == "config":
                try:
                    config_text = data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise fail(f"{CONFIG} is not UTF-8 text") from exc
            else:
                files[name] = data
    finally:
        os.close(root_fd)
    return BackupContents(
        root,
        target if isinstance(target, str) else "",
        created if isinstance(created, str) else "",
        config_text,
        files,
    )


def _check_private_dir(fd: int, path: Path) -> None:
    info = os.fstat(fd)
    if info.st_uid != os.geteuid():
        raise errors.BackupError(
            f"{path}: refused: owned by user id {info.st_uid}, not by you; a backup is read only "
            "from a folder of your own"
        )
    if info.st_mode & 0o077:
        raise errors.BackupError(
            f"{path}: refused: mode {stat.S_IMODE(info.st_mode):o}, but the reconciler makes its "
            "backups 0700 (files 0600). This folder was not made by it here: one committed to a "
            "repository, or copied, is not used. If it is really yours and you trust every file "
            f"in it: chmod -R go= {path}"
        )


def _read_item(root_fd: int, root: Path, item: Any, n: int, fail: Any) -> tuple[str, str, bytes]:
    if not isinstance(item, dict):
        raise fail(f"items[{n}] is not an object")
    kind, name, rel = item.get("kind"), item.get("name"), item.get("file")
    if kind == "config":
        if rel != CONFIG:
            raise fail(
                f"items[{n}]: the config must be the file {CONFIG}, not {private.shown(str(rel))}"
            )
        try:
            return "config", CONFIG, private.read_private(root_fd, CONFIG, limit=FILE_LIMIT)
        except OSError as exc:
            raise fail(f"{CONFIG}: {exc.strerror or exc}") from exc
    if kind != "auth-file":
        raise fail(f"items[{n}]: unknown kind {private.shown(str(kind))}")
    problem = private.plain_name_problem(name)
    if problem is not None or not isinstance(name, str):
        raise fail(
            f"items[{n}]: the auth-file name {private.shown(str(name))} is refused: {problem}"
        )
    if rel != f"{AUTH_FILES}/{name}":
        raise fail(
            f"items[{n}]: the file of {private.shown(name)} must be "
            f"{AUTH_FILES}/<its name> inside the backup, not {private.shown(str(rel))}"
        )
    try:
        folder = os.open(AUTH_FILES, private.DIR_FLAGS, dir_fd=root_fd)
    except OSError as exc:
        raise fail(f"{AUTH_FILES}/: {exc.strerror or exc} (a link is not followed)") from exc
    try:
        _check_private_dir(folder, root / AUTH_FILES)
        return "auth-file", name, private.read_private(folder, name, limit=FILE_LIMIT)
    except OSError as exc:
        raise fail(f"{rel}: {exc.strerror or exc}") from exc
    finally:
        os.close(folder)


def _backup_ids(state_dir: Path, *, with_manifest: bool) -> list[str]:
    """The names of the backup folders in ``state_dir``, oldest first; only real directories
    named as ``Backup.new`` names them. No state directory or no backups: an empty list."""
    if not os.path.lexists(state_dir):
        return []
    state_fd = private.open_state_dir(state_dir)
    try:
        try:
            fd = os.open(BACKUPS, private.DIR_FLAGS, dir_fd=state_fd)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise errors.BackupError(
                f"{state_dir / BACKUPS}: cannot be read ({exc.strerror}; a link is not followed)"
            ) from exc
        try:
            ids = []
            for name in os.listdir(fd):
                if not ID_PATTERN.match(name):
                    continue
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if not stat.S_ISDIR(info.st_mode):
                    continue
                if with_manifest:
                    try:
                        os.stat(f"{name}/{MANIFEST}", dir_fd=fd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                ids.append(name)
            return sorted(ids)
        finally:
            os.close(fd)
    finally:
        os.close(state_fd)


def list_backups(state_dir: Path) -> list[Path]:
    """The backups in ``state_dir``, oldest first (each with a manifest)."""
    return [state_dir / BACKUPS / i for i in _backup_ids(state_dir, with_manifest=True)]


def prune_backups(state_dir: Path, keep: int) -> list[Path]:
    """Remove the oldest backups beyond the newest ``keep``; the folders removed.

    Only folders named as the reconciler names them are counted and removed (a folder without
    a manifest, left by a run killed at its first save, counts as one); anything else in
    ``backups/`` is left alone. Removal never follows a link (``shutil.rmtree`` works by
    descriptor here)."""
    ids = _backup_ids(state_dir, with_manifest=False)
    doomed = ids[: max(0, len(ids) - keep)]
    if not doomed:
        return []
    state_fd = private.open_state_dir(state_dir)
    removed: list[Path] = []
    try:
        fd = os.open(BACKUPS, private.DIR_FLAGS, dir_fd=state_fd)
        try:
            for name in doomed:
                try:
                    shutil.rmtree(name, dir_fd=fd)
                except OSError as exc:
                    raise errors.BackupError(
                        f"cannot remove the old backup {state_dir / BACKUPS / name}: "
                        f"{exc.strerror or exc}"
                    ) from exc
                removed.append(state_dir / BACKUPS / name)
        finally:
            os.close(fd)
    finally:
        os.close(state_fd)
    return removed
