"""The move journal: a credential in flight between two servers, on disk before anything changes.

A move downloads the credential from its source, writes it here, deletes it from the source,
uploads it to the destination and, once the destination lists it, closes (removes) the entry.
Each entry is ``<state-dir>/moves/<id>.json``, mode 0600, written atomically and fsynced with
its directory: it holds the live tokens, and it is what makes a run that dies anywhere
recoverable (the next run completes the move from it). Like backups, it goes through
``private`` (no link followed, the user's own directories only).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reconciler import errors
from reconciler.statedir import private

MOVES = "moves"
ENTRY_LIMIT = 16 * 1024 * 1024


@dataclass(frozen=True)
class MoveEntry:
    """One move in flight. ``upload`` is what goes to the destination (the downloaded file with
    the declared policy applied): a secret, never shown."""

    id: str
    name: str
    source: str
    source_name: str
    dest: str
    source_url: str
    dest_url: str
    upload: bytes
    created_at: str

    def __repr__(self) -> str:
        return f"MoveEntry({self.name!r}: {self.source} -> {self.dest})"

    def to_json(self) -> bytes:
        doc: dict[str, Any] = asdict(self)
        doc["upload"] = base64.b64encode(self.upload).decode("ascii")
        return json.dumps(doc, indent=1).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> MoveEntry:
        doc = json.loads(raw)
        doc["upload"] = base64.b64decode(doc["upload"])
        return cls(**doc)


def new_entry(
    name: str,
    source: str,
    source_name: str,
    dest: str,
    source_url: str,
    dest_url: str,
    upload: bytes,
) -> MoveEntry:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return MoveEntry(
        f"{stamp}-{secrets.token_hex(4)}",
        name,
        source,
        source_name,
        dest,
        source_url,
        dest_url,
        upload,
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )


class Journal:
    """The open moves of one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    @property
    def root(self) -> Path:
        return self.state_dir / MOVES

    @contextlib.contextmanager
    def _dir(self, *, create: bool) -> Iterator[int | None]:
        with private.descriptors(f"the move journal {self.root}") as fds:
            if create:
                private.ensure_state_dir(self.state_dir)
            elif not self.state_dir.exists():
                yield None
                return
            fds.append(private.open_state_dir(self.state_dir))
            try:
                fds.append(private.open_subdir(fds[0], MOVES, self.state_dir, create=create))
            except FileNotFoundError:
                yield None
                return
            yield fds[-1]

    def write(self, entry: MoveEntry) -> None:
        """Write ``entry`` (0600, fsynced, and its directory fsynced): on disk when this
        returns."""
        with self._dir(create=True) as fd:
            assert fd is not None
            private.write_private(fd, f"{entry.id}.json", entry.to_json())
            os.fsync(fd)

    def close(self, entry: MoveEntry) -> None:
        """The move is done: remove its entry (and make that durable)."""
        with self._dir(create=False) as fd:
            if fd is None:
                return
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{entry.id}.json", dir_fd=fd)
            os.fsync(fd)

    def entries(self) -> list[MoveEntry]:
        """The open moves, oldest first. An entry that cannot be read is an error (its tokens
        may be the only copy): it is never skipped silently."""
        out: list[MoveEntry] = []
        with self._dir(create=False) as fd:
            if fd is None:
                return out
            for name in sorted(os.listdir(fd)):
                if not name.endswith(".json") or name.startswith("."):
                    continue
                try:
                    raw = private.read_private(fd, name, limit=ENTRY_LIMIT)
                    out.append(MoveEntry.from_json(raw))
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    raise errors.BackupError(
                        f"the move journal entry {self.root / name} cannot be read ({exc}); it "
                        "may hold the only copy of a credential: look at it, upload it by hand "
                        "if need be, then remove it"
                    ) from exc
        return out
