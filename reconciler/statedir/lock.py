"""One run at a time per state directory: an advisory lock on ``<state-dir>/lock``.

``fcntl.flock`` is released by the kernel when the holder dies, so a lock left by a killed
process is taken over safely; the file's text (pid, host, start time) only explains who holds
a live lock.

The lock file is opened with ``O_NOFOLLOW`` inside the checked state directory
(``private.ensure_state_dir``): a ``lock`` that is a symbolic link (one committed to a
repository could point anywhere) is refused, nothing opened through it. A regular file that is
not the user's own, or has other names (hard links), is refused too; one that holds anything
but a holder line this code writes is locked but never truncated or rewritten.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from reconciler import errors
from reconciler.statedir import private

LOCK = "lock"
_HOLDER = re.compile(rb"\A(pid \d+ on [^\n]{0,255} since [0-9TZ:-]{20}\n)?\Z")


@contextlib.contextmanager
def state_lock(state_dir: Path) -> Iterator[None]:
    """Hold the state directory's lock for the block, or raise LockedError at once."""
    path = state_dir / LOCK
    private.ensure_state_dir(state_dir)
    dir_fd = private.open_state_dir(state_dir)
    try:
        fd = _open_lock(dir_fd, path)
    finally:
        os.close(dir_fd)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            text = _read(fd)
            holder = text.decode(errors="replace").strip() if _HOLDER.match(text) else ""
            raise errors.LockedError(
                f"{path} is locked by {holder or 'another process'}: another reconciler run "
                "is in progress on this state directory; try again when it has finished"
            ) from exc
        if _HOLDER.match(_read(fd)):  # empty, or a holder line: ours to rewrite
            os.ftruncate(fd, 0)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            line = f"pid {os.getpid()} on {socket.gethostname()[:255]} since {stamp}\n"
            os.pwrite(fd, line.encode(), 0)
        yield
    finally:
        os.close(fd)


def _open_lock(dir_fd: int, path: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(LOCK, flags, 0o600, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            why = (
                "is a symbolic link; the reconciler never opens its lock through one (a link "
                "committed to a repository could point anywhere). Remove the link"
            )
        else:
            why = f"cannot be opened ({exc.strerror})"
        raise errors.UsageError(f"lock file {path} {why}; nothing was changed") from exc
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "is not a regular file"
    elif info.st_uid != os.geteuid():
        problem = f"is owned by user id {info.st_uid}, not by you"
    elif info.st_nlink != 1:
        problem = "has other names (hard links) and could be another file"
    if problem is not None:
        os.close(fd)
        raise errors.UsageError(
            f"lock file {path} {problem}; the reconciler left it untouched and changed "
            "nothing. Remove it"
        )
    return fd


def _read(fd: int) -> bytes:
    return os.pread(fd, 4096, 0)
