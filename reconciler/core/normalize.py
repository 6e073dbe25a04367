"""How two config values are judged the same, the way CPA itself would read them.

Pure: no I/O (bcrypt is a computation). The server rewrites and normalises values on its own;
every rule here exists so that such a rewrite never reads as drift:

* ``remote-management.secret-key``: the server stores a bcrypt hash of a plaintext key;
  a desired plaintext equals the live hash when the hash verifies it.
* ``auth-dir``: ``~/x`` is stored as the resolved absolute path.
* Go durations: ``60s`` and ``1m`` are the same; ``3000000000`` (ns) too.
* ``routing.strategy`` aliases (``rr``, ``ff``, ...) and lower-cased, de-duplicated
  ``excluded-models``; set-like lists compare without order.
* ``auth-index`` fields that GET responses add to list entries are dropped.
* A missing key equals its default (``core.defaults``) or Go's zero value.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import bcrypt

from reconciler.core import defaults
from reconciler.core.model import Path

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()

SECRET_KEY_PATH: Path = ("remote-management", "secret-key")
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9}
_UNIT_NS["h"] = 3600 * 10**9
_STRATEGY_ALIASES = {
    "": "round-robin",
    "rr": "round-robin",
    "roundrobin": "round-robin",
    "round-robin": "round-robin",
    "wrr": "weighted-round-robin",
    "weighted-round-robin": "weighted-round-robin",
    "ff": "fill-first",
    "fillfirst": "fill-first",
    "fill-first": "fill-first",
}


def is_bcrypt_hash(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(_BCRYPT_PREFIXES)


def bcrypt_matches(plaintext: str, hashed: str) -> bool:
    """Whether ``hashed`` (a bcrypt hash) verifies ``plaintext``; False for a malformed hash."""
    try:
        return bcrypt.checkpw(plaintext.encode(), hashed.encode())
    except ValueError:
        return False


def go_duration_ns(value: Any) -> int | None:
    """A Go duration string (``1m30s``) or an int of nanoseconds, as nanoseconds; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str) or not _DURATION.match(value):
        return None
    return int(sum(float(n) * _UNIT_NS[u] for n, u in _DURATION_PART.findall(value)))


def effective_default(path: Path, like: Any) -> Any:
    """What CPA uses at ``path`` when the key is absent; ``like`` hints the type."""
    if defaults.has_default(path):
        return defaults.default_for(path)
    if isinstance(like, dict):
        return {}
    if isinstance(like, list):
        return []
    if isinstance(like, bool):
        return False
    if isinstance(like, int | float):
        return 0
    if isinstance(like, str):
        return ""
    return None


def is_default(path: Path, value: Any) -> bool:
    """Whether ``value`` at ``path`` is what CPA would use anyway (so it is not real config)."""
    if isinstance(value, dict):
        return all(is_default((*path, str(k)), v) for k, v in value.items())
    return values_equal(path, effective_default(path, value), value)


def normalize(path: Path, value: Any) -> Any:
    """The canonical form of ``value`` at ``path`` for comparison (not for writing)."""
    key = path[-1] if path else None
    if isinstance(value, dict):
        return {
            str(k): normalize((*path, str(k)), v)
            for k, v in value.items()
            if str(k) not in defaults.COMPUTED_KEYS
        }
    if isinstance(value, list):
        items = [normalize((*path, i), v) for i, v in enumerate(value)]
        if key == "excluded-models":
            items = [i.strip().lower() for i in items if isinstance(i, str) and i.strip()]
        return items
    if path == ("routing", "strategy") and isinstance(value, str):
        return _STRATEGY_ALIASES.get(value.strip().lower(), value)
    if key in {"prefix"} and isinstance(value, str):
        return value.strip("/")
    return value


def values_equal(path: Path, desired: Any, live: Any) -> bool:
    """Whether CPA would treat the desired and live values at ``path`` as the same."""
    if live is MISSING:
        live = effective_default(path, desired)
    if desired is MISSING:
        desired = effective_default(path, live)
    if path == SECRET_KEY_PATH:
        return _secret_key_equal(desired, live)
    if path == ("auth-dir",):
        return _auth_dir_equal(desired, live)
    return _equal(path, normalize(path, desired), normalize(path, live))


def _equal(path: Path, a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = set(a) | set(b)
        return all(
            values_equal((*path, k), a.get(k, MISSING), b.get(k, MISSING)) for k in sorted(keys)
        )
    if isinstance(a, list) and isinstance(b, list):
        if path and path[-1] in defaults.SET_LIKE_KEYS:
            return _as_multiset(a, dedupe=True) == _as_multiset(b, dedupe=True)
        return len(a) == len(b) and all(
            _equal((*path, i), x, y) for i, (x, y) in enumerate(zip(a, b, strict=True))
        )
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (isinstance(a, bool) and isinstance(b, bool) and a == b)
    if a == b:
        return True
    da, db = go_duration_ns(a), go_duration_ns(b)
    if da is not None and db is not None and (isinstance(a, str) or isinstance(b, str)):
        return da == db
    return False


def _as_multiset(items: list[Any], *, dedupe: bool) -> Counter[str]:
    from reconciler.core.secrets import canonical_json

    keys = [canonical_json(i) for i in items]
    return Counter(set(keys)) if dedupe else Counter(keys)


def _secret_key_equal(desired: Any, live: Any) -> bool:
    if not isinstance(desired, str) or not isinstance(live, str):
        return bool(desired == live)
    if desired == live:
        return True
    if desired == "" or live == "":
        return False
    if is_bcrypt_hash(live) and not is_bcrypt_hash(desired):
        return bcrypt_matches(desired, live)
    if is_bcrypt_hash(desired) and not is_bcrypt_hash(live):
        return bcrypt_matches(live, desired)
    return False


def _auth_dir_equal(desired: Any, live: Any) -> bool:
    if desired == live:
        return True
    if not isinstance(desired, str) or not isinstance(live, str):
        return False
    d, lv = desired.rstrip("/"), live.rstrip("/")
    if d.startswith("~"):
        # CPA stores `~` resolved to the server user's home, which we cannot see: accept any
        # absolute home (/root, /home/<user>) in front of the same remainder.
        rest = d[1:]
        return bool(re.fullmatch(r"/(root|home/[^/]+|Users/[^/]+)" + re.escape(rest), lv))
    return d == lv
