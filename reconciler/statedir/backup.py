"""Backups of everything an apply replaces or deletes, and putting them back.

A backup is a directory ``<state-dir>/backups/<UTC time>-<id>/`` (mode 0700) holding
``config.yaml`` (the live config before a PUT), ``auth-files/<name>`` (each file downloaded
before it was deleted or re-seeded) and ``manifest.json``. Every file is written with mode 0600
before the change it guards is sent, and fsynced: backups hold live secrets and must survive a
crash of the apply that made them.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler import errors

MANIFEST = "manifest.json"


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@dataclass
class Backup:
    """One apply's backup directory; created lazily on the first item."""

    root: Path
    target: str
    items: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def new(cls, state_dir: Path, target: str) -> Backup:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return cls(state_dir / "backups" / f"{stamp}-{secrets.token_hex(3)}", target)

    def _ensure(self) -> None:
        try:
            # mkdir(parents=True) gives the parents the umask's mode: create each level private.
            for directory in (self.root.parent, self.root, self.root / "auth-files"):
                directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.chmod(directory, 0o700)
        except OSError as exc:
            raise errors.BackupError(
                f"cannot create the backup directory {self.root}: {exc}"
            ) from exc

    def save_config(self, text: str) -> None:
        self._save("config.yaml", text.encode(), {"kind": "config", "name": "config.yaml"})

    def save_auth_file(self, name: str, content: bytes, reason: str) -> None:
        item = {"kind": "auth-file", "name": name, "reason": reason}
        self._save(f"auth-files/{name}", content, item)

    def _save(self, rel: str, data: bytes, item: dict[str, Any]) -> None:
        self._ensure()
        try:
            _write_private(self.root / rel, data)
            self.items.append({**item, "file": rel})
            manifest = {"target": self.target, "created_at": self.root.name, "items": self.items}
            _write_private(self.root / MANIFEST, json.dumps(manifest, indent=2).encode())
        except OSError as exc:
            raise errors.BackupError(f"cannot write the backup {self.root / rel}: {exc}") from exc

    @property
    def exists(self) -> bool:
        return bool(self.items)


@dataclass(frozen=True)
class BackupContents:
    root: Path
    target: str
    config_text: str | None
    auth_files: dict[str, bytes]


def read_backup(root: Path) -> BackupContents:
    """A backup directory's contents; BackupError naming the file when anything is off."""
    manifest_path = root / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
        items = manifest["items"]
        config_text: str | None = None
        files: dict[str, bytes] = {}
        for item in items:
            data = (root / item["file"]).read_bytes()
            if item["kind"] == "config":
                config_text = data.decode()
            else:
                files[item["name"]] = data
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise errors.BackupError(
            f"{manifest_path}: not a readable reconciler backup ({exc})"
        ) from exc
    return BackupContents(root, str(manifest.get("target", "")), config_text, files)


def list_backups(state_dir: Path) -> list[Path]:
    base = state_dir / "backups"
    return sorted(p for p in base.iterdir() if (p / MANIFEST).is_file()) if base.is_dir() else []
