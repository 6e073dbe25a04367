"""Reading a file the operator names (a flag, a ``${file:}`` reference, a ``source``), bounded.

Every file the reconciler reads because a person or a desired-state file named it goes through
``read_bounded``: only a regular file is read (a FIFO would block for ever, ``/dev/zero`` or
``/dev/urandom`` would never end), and at most ``limit`` bytes of it. A FIFO is opened without
blocking and refused; a device is refused before it is opened. Symlinks are followed: mounted
secrets (Kubernetes, Docker) are symlinks to regular files.

Refusals are ``OSError`` subclasses whose ``strerror`` says why in words that read well after
"cannot be read: " (``a FIFO, not a regular file``, ``larger than the 1 MiB limit``), so a
caller that already turns ``OSError`` into its own message naming the place keeps doing so.
A directory is refused as ``IsADirectoryError``, as ``open()`` would.

May import: nothing of the reconciler.
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = [
    "DOCUMENT_LIMIT",
    "PLAN_FILE_LIMIT",
    "SECRET_LIMIT",
    "SOURCE_LIMIT",
    "FileTooLargeError",
    "NotRegularFileError",
    "read_bounded",
    "read_text_bounded",
    "shown_size",
]

MiB = 1024 * 1024

SECRET_LIMIT = 1 * MiB
"""A key or secret file (``--management-key-file``, ``--webhook-secret-file``) and the file of a
``${file:PATH}`` reference."""

SOURCE_LIMIT = 10 * MiB
"""An auth file's ``source`` (real ones are a few KiB)."""

DOCUMENT_LIMIT = 16 * MiB
"""The desired-state file and its ``config-file`` (a 10,000-entry desired file is ~1.5 MiB)."""

PLAN_FILE_LIMIT = 64 * MiB
"""A saved plan (``plan --out``, read by ``apply --plan``)."""

_CHUNK = 1 * MiB


class NotRegularFileError(OSError):
    """The path names a FIFO, a device or a socket: reading it could block or never end."""


class FileTooLargeError(OSError):
    """The file holds more than the limit for its kind."""


def shown_size(limit: int) -> str:
    """``1048576`` as ``1 MiB``."""
    if limit % MiB == 0:
        return f"{limit // MiB} MiB"
    if limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"


def read_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file at ``path``; refuses anything else, or more than ``limit``.

    Raises ``FileNotFoundError``, ``IsADirectoryError``, ``PermissionError`` (as ``open`` would),
    ``NotRegularFileError``, ``FileTooLargeError`` or another ``OSError``.
    """
    name = os.fspath(path)
    _check_kind(os.stat(name).st_mode, name)  # refuse a device before opening it
    # O_NONBLOCK: a FIFO swapped in after the stat opens at once instead of waiting for a writer.
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        _check_kind(info.st_mode, name)
        if info.st_size > limit:
            raise _too_large(limit, name)
        chunks: list[bytes] = []
        total = 0
        while total <= limit:  # st_size may be 0 (/proc) or the file may grow: count what comes
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise _too_large(limit, name)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text_bounded(path: str | os.PathLike[str], limit: int, *, encoding: str = "utf-8") -> str:
    """``read_bounded`` decoded; raises ``UnicodeDecodeError`` for text that is not ``encoding``."""
    return read_bounded(path, limit).decode(encoding)


def _check_kind(mode: int, name: str) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", name)
    raise NotRegularFileError(None, f"{_kind(mode)}, not a regular file", name)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "an unknown kind of file"  # pragma: no cover - no other kind on Linux


def _too_large(limit: int, name: str) -> FileTooLargeError:
    return FileTooLargeError(None, f"larger than the {shown_size(limit)} limit", name)
