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
* A bare scalar that CPA reads as text equals the string it spells. CPA decodes config.yaml
  with Go's yaml.v3, which puts the text of *any* bare scalar into a string field (``api-key:
  5555512345`` is the key ``"5555512345"``), while the live loader here builds numbers and
  timestamps, and a ``${env:...}`` reference always resolves to a string. So a live number at a
  secret path (every secret is a string field in CPA) equals a desired string when that string,
  written bare, builds the same number; and a timestamp anywhere (the desired-state loader keeps
  timestamps as strings) equals a string that builds the same timestamp. The original spelling
  is lost in parsing, so ``0x1F`` and ``31`` count as the same key: the one case judged equal
  that CPA would not.
* NaN equals NaN.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

import bcrypt
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import ScalarNode

from reconciler.core import defaults, secrets
from reconciler.core.model import Path

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()

SECRET_KEY_PATH: Path = ("remote-management", "secret-key")
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9}
_UNIT_NS["h"] = 3600 * 10**9
# The live loader's resolver and constructor (config_document.parse), for one scalar at a time.
_BARE = YAML(typ="safe", pure=True)
_NUMBER_STARTS = frozenset("+-.0123456789")  # YAML 1.2 ints, floats and timestamps start so
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
        # A scalar item is its own canonical form (its key is an index): no walk for it.
        items = [
            normalize((*path, i), v)
            if isinstance(v, dict | list)
            else v  # pragma: no mutate: a shortcut
            for i, v in enumerate(value)
        ]
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
            # What _as_set compares, without a dump per item (a shortcut: mutants equivalent)
            if all(type(i) is str for i in a) and all(
                type(i) is str for i in b
            ):  # pragma: no mutate
                return set(a) == set(b)  # pragma: no mutate
            a, b = _spelled_as(path, a, b), _spelled_as(path, b, a)
            return _as_set(a) == _as_set(b)
        pairs = zip(a, b, strict=True)  # pragma: no mutate: the lengths are equal here
        return len(a) == len(b) and all(_equal((*path, i), x, y) for i, (x, y) in enumerate(pairs))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b  # a bool equals only the same bool: True is not 1
    if a == b or _both_nan(a, b) or _bare_scalar_spelled(path, a, b):
        return True
    if isinstance(a, str) or isinstance(b, str):  # a Go duration string, the other ns or text
        da = go_duration_ns(a)
        return da is not None and da == go_duration_ns(b)
    return False


def _both_nan(a: Any, b: Any) -> bool:
    return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)


def _read_as_text(path: Path, value: Any) -> bool:
    """Whether CPA reads the bare scalar that the live loader built as ``value`` as its text."""
    if isinstance(value, datetime.date):  # datetime.datetime included
        return True
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return secrets.is_secret_path(path)


def _bare_scalar_spelled(path: Path, a: Any, b: Any) -> bool:
    """Whether one side is a string and the other what that string, written bare, builds."""
    if isinstance(a, str) == isinstance(b, str):
        return False
    text, value = (a, b) if isinstance(a, str) else (b, a)
    if not _read_as_text(path, value):
        return False
    built = _build_bare(text)
    return type(built) is type(value) and (built == value or _both_nan(built, value))


def _build_bare(text: str) -> Any:
    """The number or timestamp the live config's loader builds from ``text`` written as a bare
    (plain) scalar; MISSING when it builds anything else.

    Resolved and constructed as one scalar, never parsed as a document: ``5 # note`` or
    ``--- 5`` are strings here, and so is text with surrounding spaces.
    """
    if not text or text[0] not in _NUMBER_STARTS or text != text.strip():
        return MISSING
    # implicit=(plain, quoted): the quoted flag is read only for a scalar that is not plain
    implicit = (True, False)  # pragma: no mutate: (True, True) is the same
    tag = _BARE.resolver.resolve(ScalarNode, text, implicit)
    if str(tag).rpartition(":")[2] not in ("int", "float", "timestamp"):
        return MISSING
    try:
        return _BARE.constructor.construct_non_recursive_object(ScalarNode(tag, text))
    except (YAMLError, ValueError, OverflowError):
        return MISSING


def _spelled_as(path: Path, items: list[Any], others: list[Any]) -> list[Any]:
    """``items`` with each bare number or timestamp replaced by a string of ``others`` that
    spells it, so that a set-like list compares its elements the way ``_equal`` does."""
    if not any(_read_as_text(path, i) for i in items):
        return items
    spelled: dict[tuple[type, Any], str] = {}
    for text in reversed(others):  # each string built once; the first one wins
        if isinstance(text, str) and (built := _build_bare(text)) is not MISSING:
            spelled[_scalar_key(built)] = text
    return [spelled.get(_scalar_key(i), i) if _read_as_text(path, i) else i for i in items]


def _scalar_key(value: Any) -> tuple[type, Any]:
    if _both_nan(value, value):  # NaN is no dict key: it never equals itself
        return (float, "nan")  # pragma: no mutate: any one marker of NaN works
    return (type(value), value)


def _as_set(items: list[Any]) -> set[str]:
    return {secrets.canonical_json(i) for i in items}


def _secret_key_equal(desired: Any, live: Any) -> bool:
    if not isinstance(desired, str) or not isinstance(live, str):
        return bool(desired == live) or _bare_scalar_spelled(SECRET_KEY_PATH, desired, live)
    if desired == live:
        return True
    if desired == "" or live == "":
        return False
    live_hashed, desired_hashed = is_bcrypt_hash(live), is_bcrypt_hash(desired)
    if live_hashed != desired_hashed:  # a plaintext and a hash (two hashes: no bcrypt run)
        return bcrypt_matches(desired, live) if live_hashed else bcrypt_matches(live, desired)
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
