"""The management key as the server stores and checks it: bcrypt, cost 10, ``$2a$`` prefix.

Owns hashing a plaintext ``secret-key`` the way Go's ``bcrypt.GenerateFromPassword`` writes
it, recognising an already-hashed value, and a process-wide memory of (hash, SHA-256 of the
key) pairs known to match, so a test suite pays for bcrypt rarely. Keys are never stored.
"""

from __future__ import annotations

import hashlib
import threading

import bcrypt

BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
BCRYPT_COST = 10

_lock = threading.Lock()
_matching: set[tuple[str, bytes]] = set()
_startup_hashes: dict[bytes, str] = {}


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def is_hashed(value: str) -> bool:
    """Whether ``value`` is already a bcrypt hash (the server then leaves it alone)."""
    return value.startswith(BCRYPT_PREFIXES)


def hash_key(plaintext: str, *, reuse: bool = False) -> str:
    """A bcrypt hash of ``plaintext`` as Go writes it (``$2a$10$``), with a random salt.

    ``reuse=True`` (startup only) returns the hash made for the same key earlier in this
    process, so many short-lived emulators do not each pay for bcrypt.
    """
    digest = _digest(plaintext)
    if reuse:
        with _lock:
            if digest in _startup_hashes:
                return _startup_hashes[digest]
    hashed = bcrypt.hashpw(plaintext.encode("utf-8"), bcrypt.gensalt(BCRYPT_COST)).decode()
    hashed = "$2a$" + hashed[4:]
    with _lock:
        _matching.add((hashed, digest))
        if reuse:
            _startup_hashes[digest] = hashed
    return hashed


class KeyVerifier:
    """``bcrypt.CompareHashAndPassword`` backed by the memory of matching pairs."""

    def matches(self, stored_hash: str, provided: str) -> bool:
        """Whether ``provided`` is the key ``stored_hash`` was made from."""
        if not stored_hash or not is_hashed(stored_hash):
            return False
        pair = (stored_hash, _digest(provided))
        with _lock:
            if pair in _matching:
                return True
        try:
            ok = bcrypt.checkpw(provided.encode("utf-8"), stored_hash.encode("utf-8"))
        except ValueError:
            return False
        if ok:
            with _lock:
                _matching.add(pair)
        return ok
