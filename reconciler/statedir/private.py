"""The state directory on disk, opened so that nothing in it can point the reconciler elsewhere.

A desired-state repository may carry a ``.reconciler/`` of its own (committed by mistake, or
planted): a ``lock`` that is a symbolic link to a file worth clobbering, a ``backups`` link to a
directory elsewhere, a backup folder written by someone else. So every directory below the
state directory is opened with ``O_NOFOLLOW | O_DIRECTORY`` relative to its parent's descriptor
and must be owned by the current user, every file is opened with ``O_NOFOLLOW``, and a file is
only ever created (``O_EXCL``), never truncated through a name the reconciler did not make.
Names that come from elsewhere (a server's listing, a manifest) must be plain file names.

Decisions:

* The state directory itself is refused when it is a symbolic link or not owned by the user.
  An explicit ``--state-dir`` that is a link is resolved by ``commands.options`` first: the
  operator named it, so the link is theirs; ``.reconciler`` beside the desired file is not.
* A new state directory is made 0700 and gets a ``.gitignore`` holding ``*`` (as pytest and
  venv do), so backups full of live tokens never reach a commit. One already there without a
  ``.gitignore`` (made by an older version) gets one too; an existing one is never rewritten.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from reconciler import errors

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
GITIGNORE = "*\n"
NAME_MAX = 255


def shown(name: str) -> str:
    """A name from elsewhere, quoted with every control or non-ASCII character escaped."""
    return json.dumps(name)


def plain_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be used as a file name inside a folder; None when it can."""
    if not isinstance(name, str) or name == "":
        return "it is empty or not a string"
    if name in (".", ".."):
        return "it names a directory"
    if "/" in name or "\\" in name:
        return "it holds a path separator"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "it holds a control character"
    if len(name.encode("utf-8", "surrogatepass")) > NAME_MAX:
        return f"it is longer than {NAME_MAX} bytes"
    return None


def _refusal(path: Path, why: str) -> errors.UsageError:
    return errors.UsageError(
        f"state directory {path}: {why}. It holds the lock and backups full of live tokens, "
        "so the reconciler uses only a real directory of yours there; pass --state-dir DIR "
        "to use another one"
    )


def ensure_state_dir(path: Path) -> None:
    """Create the state directory (0700, with its ``.gitignore``) or check the one there.

    UsageError when it is a symbolic link, not a directory, not owned by the user, or cannot
    be created."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise _refusal(path, f"cannot be read ({exc.strerror})") from exc
    if info is None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass  # made by a concurrent run: checked below like any other
        except OSError as exc:
            raise _refusal(path, f"cannot be created ({exc.strerror})") from exc
    fd = open_state_dir(path)
    try:
        _write_gitignore(fd)
    finally:
        os.close(fd)


def open_state_dir(path: Path) -> int:
    """A descriptor of the existing state directory, after the checks of ``ensure_state_dir``."""
    try:
        fd = os.open(path, DIR_FLAGS)
    except OSError as exc:
        if os.path.islink(path):
            raise _refusal(
                path,
                "it is a symbolic link (one committed to a repository could point anywhere)",
            ) from exc
        if exc.errno == errno.ENOTDIR:
            raise _refusal(path, "it is not a directory") from exc
        raise _refusal(path, f"cannot be opened ({exc.strerror})") from exc
    try:
        check_owned(fd, path)
    except errors.UsageError:
        os.close(fd)
        raise
    return fd


def check_owned(fd: int, path: Path) -> os.stat_result:
    info = os.fstat(fd)
    if info.st_uid != os.geteuid():
        raise _refusal(path, f"it is owned by user id {info.st_uid}, not by you")
    return info


def _write_gitignore(dir_fd: int) -> None:
    try:
        fd = os.open(
            ".gitignore",
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=dir_fd,
        )
    except FileExistsError:
        return  # there already (ours, or the operator's): never rewritten
    except OSError:
        return  # a read-only state directory fails later, where it matters, with its reason
    try:
        os.write(fd, GITIGNORE.encode())
    finally:
        os.close(fd)


def open_subdir(parent_fd: int, name: str, where: Path, *, create: bool) -> int:
    """``name`` inside the directory ``parent_fd`` (shown as ``where``), opened without
    following a link and checked to be owned by the user; made 0700 when ``create``."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=parent_fd)
    fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            raise OSError(f"{where / name} is owned by user id {info.st_uid}, not by you")
    except OSError:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def descriptors(
    place: str, error: type[errors.ReconcilerError] = errors.BackupError
) -> Iterator[list[int]]:
    """A list for the directory descriptors a block opens, one below the other: all closed when
    the block ends (the last opened first); an ``OSError`` met in the block is raised as
    ``error("<place>: <why>")``."""
    fds: list[int] = []
    try:
        yield fds
    except OSError as exc:
        raise error(f"{place}: {exc.strerror or exc}") from exc
    finally:
        for fd in reversed(fds):
            os.close(fd)


def write_private(dir_fd: int, name: str, data: bytes) -> None:
    """Write ``name`` in ``dir_fd`` (mode 0600, fsynced), atomically: a fresh temporary file
    (``O_EXCL``, never one found there) renamed over it."""
    tmp = f".tmp-{secrets.token_hex(8)}"  # short: ``name`` may already be 255 bytes long
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def read_private(dir_fd: int, name: str, *, limit: int) -> bytes:
    """A regular file of the user's, at most ``limit`` bytes, not readable by others: OSError
    (with the reason as its text) otherwise."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError("not a regular file")
        if info.st_uid != os.geteuid():
            raise OSError(f"owned by user id {info.st_uid}, not by you")
        if info.st_mode & 0o077:
            raise OSError(f"mode {stat.S_IMODE(info.st_mode):o}: readable by others")
        if info.st_size > limit:
            raise OSError(f"larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 65536):
            size += len(chunk)
            if size > limit:
                raise OSError(f"larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
