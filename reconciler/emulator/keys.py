"""The management key as the server stores and checks it: bcrypt, cost 10, ``$2a$`` prefix.

Owns hashing a plaintext ``secret-key`` the way Go's ``bcrypt.GenerateFromPassword`` writes
it, recognising an already-hashed value, and a verifier that remembers successful checks
(keyed on the hash and a SHA-256 of the key, never the key itself) so tests stay fast.
"""

from __future__ import annotations

import hashlib
import threading

import bcrypt

BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
BCRYPT_COST = 10


def is_hashed(value: str) -> bool:
    """Whether ``value`` is already a bcrypt hash (the server then leaves it alone)."""
    return value.startswith(BCRYPT_PREFIXES)


def hash_key(plaintext: str) -> str:
    """A fresh bcrypt hash of ``plaintext`` with a random salt, as Go writes it (``$2a$10$``)."""
    hashed = bcrypt.hashpw(plaintext.encode("utf-8"), bcrypt.gensalt(BCRYPT_COST)).decode()
    return "$2a$" + hashed[4:]


class KeyVerifier:
    """bcrypt comparison with a memory of the (hash, key digest) pairs that matched."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._good: set[tuple[str, bytes]] = set()

    def matches(self, stored_hash: str, provided: str) -> bool:
        """``bcrypt.CompareHashAndPassword(stored_hash, provided) == nil``."""
        if not stored_hash:
            return False
        digest = hashlib.sha256(provided.encode("utf-8")).digest()
        with self._lock:
            if (stored_hash, digest) in self._good:
                return True
        try:
            ok = bcrypt.checkpw(provided.encode("utf-8"), stored_hash.encode("utf-8"))
        except ValueError:
            return False
        if ok:
            with self._lock:
                self._good.add((stored_hash, digest))
        return ok
