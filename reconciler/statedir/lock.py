"""One run at a time per state directory: an advisory lock on ``<state-dir>/lock``.

``fcntl.flock`` is released by the kernel when the holder dies, so a lock left by a killed
process is taken over safely; the file's text (pid, host, start time) only explains who holds
a live lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from reconciler import errors


@contextlib.contextmanager
def state_lock(state_dir: Path) -> Iterator[None]:
    """Hold the state directory's lock for the block, or raise LockedError at once."""
    path = state_dir / "lock"
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise errors.UsageError(
            f"cannot use the state directory {state_dir} ({exc.strerror}): it holds the lock and "
            "the backups; pass --state-dir with a writable directory"
        ) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            holder = path.read_text(errors="replace").strip() or "another process"
            raise errors.LockedError(
                f"{path} is locked by {holder}: another reconciler run is in progress on this "
                "state directory; try again when it has finished"
            ) from exc
        os.ftruncate(fd, 0)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode())
        yield
    finally:
        os.close(fd)
