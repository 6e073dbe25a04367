"""Failed authentications remembered across runs, so that repeated runs never get an IP banned.

CPA counts failed authentications per client IP (a wrong key, or none) and bans the IP for 30
minutes at the 5th; even the right key is refused during a ban, and so is every other
management client on that host (the web UI too). It forgets the count only after a success, a
ban, or about two idle hours. One process stops at its first 401 (``client.transport``), but
a cron job or a CI pipeline starts a new process each time, so this record keeps what earlier
runs met, per target, in the state directory:

* the same key that already failed ``attempts`` times (default 3) within the last 30 minutes
  is not tried again until 30 minutes after its last failure (exit 1, nothing sent);
* a different key is tried, once: its failure is counted like any other;
* never a 5th failure: once 4 failed attempts reached CPA since the last success, nothing is
  sent to that target until CPA has forgotten them (``FORGET`` after the last one);
* after a 403 ban nothing is sent until the ban ends (CPA's ``Try again in ...``, else 30 min);
* a success clears the target's failures and remembers which key passed (its fingerprint):
  ``before`` says whether the key about to be tried is that key with nothing failed since, and
  only then may a run send its first two requests at once (``Session.together``): should the
  key have been changed on the server meanwhile, that run brings two failed attempts to CPA,
  not one, and the next runs send one at a time again (the failures are recorded, the key no
  longer known good): never more than ``attempts`` of one key, never a 5th.

The file (``auth-record.json``, 0600) holds a random salt and, per target, HMAC-SHA256
fingerprints of the target and of each failed key under that salt, with the failure times
(wall clock, seconds): never a key, never the URL. Runs share it safely, with two ``fcntl``
locks:

* ``auth-record.lock``, the directory-wide lock, is held only while the file is read or
  written (by atomic replace), never while a request is in flight;
* ``auth-record-<id>.lock``, one per target (``<id>``: an HMAC of the target under the salt, so
  the name reveals no URL), is taken by ``before`` and kept while the first authenticated
  request of a key is in flight; ``after`` records how it went and releases it.

So ten runs started at once against one target still send at most one failed attempt at a
time to it (the second run reads the first one's outcome before it sends anything), while the
first requests of different targets (a fleet's servers) are in flight together: CPA counts
failed attempts per server, per client IP, so one server's attempt cannot bring another's
ban closer. The salt is written to the file before a target's lock is first named, so every
run names the same lock; should the file be unwritable, ``before`` keeps the directory-wide
lock across the request instead (every target one after another, as safe as before).

Implements ``reconciler.client.transport.AuthGuard`` (structurally: the state directory does
not import the client).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler import errors
from reconciler.statedir.private import ensure_state_dir

RECORD = "auth-record.json"
LOCK = "auth-record.lock"
#: The per-target lock: ``auth-record-<id>.lock``, ``<id>`` a keyed fingerprint of the target.
TARGET_LOCK = "auth-record-{}.lock"

#: CPA bans an IP at this many failed attempts.
CPA_MAX_FAILURES = 5
#: CPA's ban, and the window in which repeated failures of one key are held back.
WINDOW = 30 * 60.0
#: When CPA has surely forgotten failed attempts: it drops an IP's count once idle for 2 hours,
#: in a sweep that runs every hour.
FORGET = 3 * 3600.0
#: Default number of failures of one key after which it is not tried again within the window.
ATTEMPTS = 3
#: How long ``before`` waits for another run's attempt to finish.
LOCK_WAIT = 120.0
_MAX_FILE = 1024 * 1024
_VERSION = 1


@dataclass(frozen=True)
class Failure:
    key: str  # keyed fingerprint of the key
    at: float


@dataclass
class Entry:
    """What the record knows of one target: the failures since the last success, a ban, and
    ``good``, the keyed fingerprint of the key that last passed (None after any failure)."""

    failures: list[Failure]
    banned_until: float | None = None
    good: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "failures": [{"key": f.key, "at": f.at} for f in self.failures],
            "banned_until": self.banned_until,
        }
        if self.good is not None:
            data["good"] = self.good
        return data

    @classmethod
    def from_json(cls, data: Any) -> Entry:
        failures = []
        for item in data.get("failures", []) if isinstance(data, dict) else []:
            if (
                isinstance(item, dict)
                and isinstance(item.get("key"), str)
                and isinstance(item.get("at"), int | float)
            ):
                failures.append(Failure(item["key"], float(item["at"])))
        until = data.get("banned_until") if isinstance(data, dict) else None
        good = data.get("good") if isinstance(data, dict) else None
        return cls(
            failures,
            float(until) if isinstance(until, int | float) else None,
            good if isinstance(good, str) else None,
        )


@dataclass(frozen=True)
class _Held:
    """The lock ``before`` holds across a first request: the target's own, or the directory's
    (``directory``); ``fd`` None when the state directory cannot be used."""

    fd: int | None
    directory: bool


def _stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class AuthRecord:
    """The record of failed authentications against ``target`` in ``state_dir``."""

    def __init__(
        self,
        state_dir: Path,
        target: str,
        *,
        attempts: int = ATTEMPTS,
        clock: Callable[[], float] = time.time,
        warn: Callable[[str], None] = _stderr,
    ) -> None:
        if not 1 <= attempts < CPA_MAX_FAILURES:
            raise ValueError(f"attempts must be 1 to {CPA_MAX_FAILURES - 1}, not {attempts}")
        self.state_dir = state_dir
        self.path = state_dir / RECORD
        self.target = target
        self.attempts = attempts
        self._clock = clock
        self._warn = warn
        self._warned = False
        self._mutex = threading.Lock()
        self._local = threading.local()  # the lock taken by this thread's ``before``

    # -- the AuthGuard protocol -----------------------------------------------------------

    def before(self, key: str, method: str, endpoint: str) -> bool:
        """Take the target's lock and raise, lock released, if ``key`` must not be tried now.
        True when ``key`` is the key that last passed on this target and nothing has failed
        since (read under the lock)."""
        self._mutex.acquire()
        try:
            held, refusal, known = self._hold(key, method, endpoint)
        except BaseException:
            self._mutex.release()
            raise
        if refusal is not None:
            _close(held.fd)
            self._mutex.release()
            raise refusal
        self._local.pending = held
        return known

    def after(self, key: str, outcome: str, ban_seconds: float | None) -> None:
        """Record how the attempt went and release the lock ``before`` took (or only record
        it, for a refusal met later in a run)."""
        held: _Held | None = getattr(self._local, "pending", None)
        self._local.pending = None
        if held is None:
            self._mutex.acquire()
            held = _Held(None, directory=False)
        try:
            if outcome in ("ok", "refused", "banned"):
                if held.directory:
                    if held.fd is not None:
                        self._update(key, outcome, ban_seconds)
                else:
                    directory = self._take_lock(LOCK)
                    try:
                        if directory is not None:
                            self._update(key, outcome, ban_seconds)
                    finally:
                        _close(directory)
        finally:
            _close(held.fd)
            self._mutex.release()

    def _hold(
        self, key: str, method: str, endpoint: str
    ) -> tuple[_Held, errors.ApiError | None, bool]:
        """The lock held across the first request, the refusal read from the record once it
        is held, and whether the record knows ``key`` as good (``_known_good``).

        The target's own lock is named from the salt in the file: the salt is read (written
        first, if the file holds none) under the directory lock, which is then released; the
        target's lock is taken, and the record read again under the directory lock. Should
        the salt have changed meanwhile (the file was removed or replaced), the lock taken was
        the wrong one: start over. Should the salt not be writable, or no target lock be
        made, the directory lock itself is kept across the request. No usable state
        directory: nothing is held (``fd`` None), nothing refused."""
        for _ in range(3):
            directory = self._take_lock(LOCK)
            if directory is None:
                return _Held(None, directory=True), None, False
            try:
                salt = self._stored_salt()
            except BaseException:
                _close(directory)
                raise
            _close(directory)
            if salt is None:
                break
            target = self._take_lock(TARGET_LOCK.format(self._lock_id(salt)))
            if target is None:
                break
            try:
                directory = self._take_lock(LOCK)
                try:
                    now_salt, entries = self._read()
                finally:
                    _close(directory)
            except BaseException:
                _close(target)
                raise
            if now_salt == salt:
                refusal = self._refusal(salt, entries, key, method, endpoint)
                known = self._known_good(salt, entries, key)
                return _Held(target, directory=False), refusal, known
            _close(target)
        directory = self._take_lock(LOCK)
        try:
            refusal, known = None, False
            if directory is not None:
                salt, entries = self._read()
                refusal = self._refusal(salt, entries, key, method, endpoint)
                known = self._known_good(salt, entries, key)
        except BaseException:
            _close(directory)
            raise
        return _Held(directory, directory=True), refusal, known

    def _known_good(self, salt: bytes, entries: dict[str, Entry], key: str) -> bool:
        """Whether ``key`` last passed on this target with no failure or ban since."""
        entry = self._current(entries.get(self._target_id(salt)), self._clock())
        return (
            entry is not None
            and not entry.failures
            and entry.banned_until is None
            and entry.good == self._key_id(salt, key)
        )

    def refusal(self, key: str) -> str | None:
        """Why ``key`` would not be tried now (the message), or None."""
        with self._mutex:
            fd = self._take_lock(LOCK)
            try:
                if fd is None:
                    return None
                salt, entries = self._read()
                refused = self._refusal(salt, entries, key, "GET", "/v0/management")
            finally:
                _close(fd)
        return None if refused is None else str(refused)

    def _refusal(
        self,
        salt: bytes,
        entries: dict[str, Entry],
        key: str,
        method: str,
        endpoint: str,
    ) -> errors.ApiError | None:
        now = self._clock()
        entry = self._current(entries.get(self._target_id(salt)), now)
        if entry is None:
            return None
        not_sent = f"{method} {endpoint}: not sent"
        if entry.banned_until is not None:
            return errors.BannedError(
                f"{not_sent}: CPA banned this client IP after repeated failed authentications; "
                f"the ban ends at {_when(entry.banned_until, now)}, and until then even the "
                "right key is refused, so nothing is sent to this target. Check the key "
                "meanwhile, then run again after that time",
                method=method,
                endpoint=endpoint,
            )
        if not entry.failures:
            return None
        total = len(entry.failures)
        last = max(f.at for f in entry.failures)
        if total >= CPA_MAX_FAILURES - 1:
            return errors.UnauthorizedError(
                f"{not_sent}: {total} failed authentications reached this target since the "
                "last success, and CPA bans the client IP for 30 minutes at the "
                f"{CPA_MAX_FAILURES}th, even for the right key. Nothing is sent to it until CPA "
                f"has forgotten them, at {_when(last + FORGET, now)}. Check the key meanwhile "
                "(CPA_MANAGEMENT_KEY, --management-key-file or target.management-key). "
                f"(A login that succeeded elsewhere from this host resets CPA's count; then "
                f"remove {self.path} to try at once.)",
                method=method,
                endpoint=endpoint,
            )
        fingerprint = self._key_id(salt, key)
        mine = [f.at for f in entry.failures if f.key == fingerprint]
        if len(mine) >= self.attempts and now - max(mine) < WINDOW:
            left = CPA_MAX_FAILURES - total
            return errors.UnauthorizedError(
                f"{not_sent}: this management key was refused {len(mine)} time(s) by this "
                f"target in the last 30 minutes; {left} more failed attempt(s) from this host "
                "would get its IP banned for 30 minutes (the web UI too). Check the key "
                "(CPA_MANAGEMENT_KEY, --management-key-file or target.management-key): a "
                "different key is tried at once; this one again after "
                f"{_when(max(mine) + WINDOW, now)}",
                method=method,
                endpoint=endpoint,
            )
        return None

    @staticmethod
    def _current(entry: Entry | None, now: float) -> Entry | None:
        """The entry as CPA sees it now: an ended ban and forgotten failures dropped."""
        if entry is None:
            return None
        if entry.banned_until is not None and now >= entry.banned_until:
            entry = Entry([])  # CPA resets the count when it bans
        if entry.failures and now - max(f.at for f in entry.failures) >= FORGET:
            entry = Entry([], entry.banned_until, entry.good)
        if not entry.failures and entry.banned_until is None and entry.good is None:
            return None
        return entry

    # -- writing the record ---------------------------------------------------------------

    def _update(self, key: str, outcome: str, ban_seconds: float | None) -> None:
        salt, entries = self._read()
        target = self._target_id(salt)
        now = self._clock()
        if outcome == "ok":
            good = self._key_id(salt, key)
            if entries.get(target) == Entry([], None, good):
                return  # nothing new: no write on a run that only confirms the key
            entries[target] = Entry([], None, good)
        else:
            entry = self._current(entries.get(target), now) or Entry([])
            entry.good = None
            if outcome == "refused":
                entry.failures.append(Failure(self._key_id(salt, key), now))
            else:
                entry.failures = []
                entry.banned_until = now + (ban_seconds if ban_seconds else WINDOW)
            entries[target] = entry
        for name in [n for n, e in entries.items() if self._current(e, now) is None]:
            del entries[name]
        self._write(salt, entries)

    def _read(self) -> tuple[bytes, dict[str, Entry]]:
        """The salt and the entries; a missing, unreadable or foreign file starts afresh."""
        salt, entries = self._load()
        return (secrets.token_bytes(32) if salt is None else salt), entries

    def _stored_salt(self) -> bytes | None:
        """The salt in the file, which is written first when it holds none (a new, unreadable
        or foreign file); None when it cannot be written. The directory lock must be held."""
        salt, entries = self._load()
        if salt is not None:
            return salt
        salt = secrets.token_bytes(32)
        return salt if self._write(salt, entries) else None

    def _load(self) -> tuple[bytes | None, dict[str, Entry]]:
        """The salt (None: the file holds none) and the entries."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None, {}
        except OSError as exc:
            self._warn_once(f"{self.path}: cannot be read ({exc.strerror}); starting afresh")
            return None, {}
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(_MAX_FILE + 1)
        try:
            if len(raw) > _MAX_FILE:
                raise ValueError("too large")
            data = json.loads(raw)
            salt = bytes.fromhex(data["salt"])
            targets = data["targets"]
            if data.get("version") != _VERSION or len(salt) < 16 or not isinstance(targets, dict):
                raise ValueError("not a record of this version")
        except (ValueError, TypeError, KeyError):
            self._warn_once(f"{self.path}: not a record this version wrote; starting afresh")
            return None, {}
        return salt, {str(k): Entry.from_json(v) for k, v in targets.items()}

    def _write(self, salt: bytes, entries: dict[str, Entry]) -> bool:
        doc = {
            "version": _VERSION,
            "about": "failed management-key attempts per target (keyed fingerprints, no keys); "
            "see reconciler/statedir/auth_record.py",
            "salt": salt.hex(),
            "targets": {name: entry.to_json() for name, entry in sorted(entries.items())},
        }
        tmp = self.state_dir / f".{RECORD}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=1)
                fh.write("\n")
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            self._warn_once(f"{self.path}: cannot be written ({exc.strerror})")
            return False
        return True

    # -- fingerprints and the lock ----------------------------------------------------------

    def _target_id(self, salt: bytes) -> str:
        return _hmac(salt, b"target\0" + self.target.encode("utf-8", "surrogatepass"))

    def _lock_id(self, salt: bytes) -> str:
        """The name of the target's lock file: a fingerprint of its own (not the record's)."""
        return _hmac(salt, b"lock\0" + self.target.encode("utf-8", "surrogatepass"))[:32]

    @staticmethod
    def _key_id(salt: bytes, key: str) -> str:
        return _hmac(salt, b"key\0" + key.encode("utf-8", "surrogatepass"))

    def _take_lock(self, name: str) -> int | None:
        """An exclusive ``flock`` on ``name`` in the state directory (the descriptor), waiting
        up to ``LOCK_WAIT``; None, warned once, when the state directory cannot be used."""
        try:
            ensure_state_dir(self.state_dir)  # 0700, its .gitignore, never through a link
        except errors.UsageError as exc:
            self._warn_once(
                f"{exc}; the record of failed authentications is not kept, so only this run's "
                "own stop at the first refusal protects against an IP ban. Pass --state-dir DIR"
            )
            return None
        try:
            fd = os.open(
                self.state_dir / name,
                os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
            )
        except OSError as exc:
            self._warn_once(
                f"state directory {self.state_dir}: cannot keep the record of failed "
                f"authentications there ({exc.strerror}); only this run's own stop at the "
                "first refusal protects against an IP ban. Pass --state-dir DIR"
            )
            return None
        deadline = time.monotonic() + LOCK_WAIT
        pause = 0.002  # the directory lock is held for a file read or write: a few ms
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise errors.LockedError(
                        f"{self.state_dir / name}: another run has been trying a management "
                        f"key against a target for over {LOCK_WAIT:.0f} s; try again later"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.05)

    def _warn_once(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            self._warn(message)


def _close(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


def _hmac(salt: bytes, data: bytes) -> str:
    return hmac.new(salt, data, hashlib.sha256).hexdigest()


def _when(at: float, now: float) -> str:
    """``14:32:05 UTC (in 29 min)``."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
    left = max(0.0, at - now)
    if left >= 2 * 3600:
        span = f"{left // 3600:.0f} h {left % 3600 / 60:.0f} min"
    else:
        span = f"{left / 60:.0f} min" if left >= 90 else f"{left:.0f} s"
    return f"{stamp} (in {span})"
