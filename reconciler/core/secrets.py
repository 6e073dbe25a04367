"""Which values are secret, how they are masked, and keyed fingerprints of them.

Pure: no I/O. A secret never leaves the process in clear: renderers show ``***`` (or
``*** (before)`` / ``*** (after)`` when it changed, as kubectl and Flux do) and plan files carry
only HMAC fingerprints keyed with a per-target key, so two plans can be compared without either
holding the value.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Any

from reconciler.core.model import Path

MASK = "***"

# Config keys whose value is a secret wherever they stand (the last key of a path, or any key
# on the path for whole sub-trees such as `headers`).
_SECRET_LEAF_KEYS = frozenset(
    {
        "secret-key",
        "api-key",
        "api-keys",
        "api_key",
        "credential",
        "password",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "management-key",
    }
)
_SECRET_SUBTREE_KEYS = frozenset({"headers", "api-keys", "api-key-entries", "store-auth"})
_URL_KEYS = frozenset({"proxy-url", "proxy_url", "base-url", "base_url"})


def is_secret_path(path: Path, value: Any = None, *, secret_paths: Iterable[Path] = ()) -> bool:
    """Whether the value at ``path`` must be masked.

    True for known secret keys, anything under a secret sub-tree (headers, api-keys, ...), a URL
    that embeds credentials (``user:pass@``), and every path in ``secret_paths`` (values that
    came from a ``${env:}``/``${file:}`` reference) or below one.
    """
    # A dotted auth-file field name (headers.Authorization) is a path of its own.
    keys = [part for p in path if isinstance(p, str) for part in p.split(".")]
    if keys and keys[-1] in _SECRET_LEAF_KEYS:
        return True
    if any(k in _SECRET_SUBTREE_KEYS for k in keys):
        return True
    if keys and keys[-1] in _URL_KEYS and isinstance(value, str) and "@" in value:
        return True
    return any(path[: len(s)] == s for s in secret_paths)


def canonical_json(value: Any) -> str:
    """A stable text form of JSON-like data: sorted keys, no spaces, non-ASCII kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def fingerprint(key: bytes, value: Any) -> str:
    """A keyed fingerprint of ``value``: ``hmac-sha256:<first 16 hex>``.

    Without the key nobody can test a guess against it, so it may stand in a plan file.
    """
    digest = hmac.new(key, canonical_json(value).encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest[:16]}"


def mask_value(value: Any) -> Any:
    """The whole value replaced by the mask, keeping only its shape for lists and mappings."""
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    return MASK


def redact(path: Path, value: Any, *, secret_paths: Iterable[Path] = ()) -> Any:
    """``value`` with every secret inside it (judged by its full path) replaced by ``MASK``."""
    paths = tuple(secret_paths)
    if is_secret_path(path, value, secret_paths=paths):
        return mask_value(value)
    if isinstance(value, dict):
        return {k: redact((*path, str(k)), v, secret_paths=paths) for k, v in value.items()}
    if isinstance(value, list):
        return [redact((*path, i), v, secret_paths=paths) for i, v in enumerate(value)]
    return value


def contains_secret(path: Path, value: Any, *, secret_paths: Iterable[Path] = ()) -> bool:
    """Whether anything inside ``value`` at ``path`` is secret (so a renderer must mask)."""
    return bool(redact(path, value, secret_paths=secret_paths) != value)
