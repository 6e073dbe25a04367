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
import re
from collections.abc import Iterable
from typing import Any

from reconciler.core.model import Path

MASK = "***"

# The one classifier of secrets: plan text, JSON and Markdown, plan files, export, daemon
# events and error redaction all ask ``is_secret_path``. A value is secret when:
#
# * it is a scalar and the last key of its path ends with a secret-naming suffix (``api-key``,
#   ``secret-key``, ``token``, ``password``, ``credential``, ...: ``amp-upstream-api-key``,
#   ``ampcode.upstream-api-key``, ``generative-language-api-key[0]``, keys CPA adds later; an
#   entry of ``codex-api-key`` is a mapping, so only its own secret keys are masked);
# * any key on its path names a secret sub-tree (``headers``, ``api-keys``, ``api-key-entries``,
#   ``store-auth``): all of it is masked, its shape kept;
# * it is a string URL with ``user:pass@`` in it, wherever it stands (at a URL key such as
#   ``proxy-url``, any ``@``: CPA also takes ``user:pass@host:port`` without a scheme);
# * it came from a ``${env:}``/``${file:}`` reference (``secret_paths``), or sits below one.
#
# List indices never decide (a change's ``before`` side is indexed by the live list).

_SECRET_SUFFIXES = (
    "api-key",
    "api_key",
    "apikey",
    "secret",
    "secret-key",
    "secret_key",
    "management-key",
    "password",
    "passwd",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "credential",
    "credentials",
    "private-key",
    "private_key",
    "access-key",
    "access_key",
    "cookie",
)
_SECRET_SUBTREE_KEYS = frozenset({"headers", "api-keys", "api-key-entries", "store-auth"})
_URL_KEYS = frozenset({"proxy-url", "proxy_url", "base-url", "base_url"})
_URL_WITH_USERINFO = re.compile(r"^[a-z][a-z0-9+.-]*://[^/?#\s]*@", re.IGNORECASE)


def is_secret_path(path: Path, value: Any = None, *, secret_paths: Iterable[Path] = ()) -> bool:
    """Whether the value at ``path`` must be masked (see the rules above)."""
    # A dotted auth-file field name (headers.Authorization) is a path of its own.
    keys = [part for p in path if isinstance(p, str) for part in p.split(".")]
    named = bool(keys) and keys[-1].lower().endswith(_SECRET_SUFFIXES)
    if named and not isinstance(value, dict | list):  # a list or mapping: its parts decide
        return True
    if any(k in _SECRET_SUBTREE_KEYS for k in keys):
        return True
    if isinstance(value, str) and (
        _URL_WITH_USERINFO.match(value) or (keys and keys[-1] in _URL_KEYS and "@" in value)
    ):
        return True
    wild = _wild(path)
    return any(wild[: len(s)] == _wild(s) for s in secret_paths)


def masked(path: Path, value: Any, *, secret_paths: Iterable[Path] = ()) -> tuple[Any, bool]:
    """``value`` (JSON-like, at ``path``) with every secret inside it replaced by ``MASK``
    (shape kept), and whether it held any."""
    return _masked(path, value, tuple(secret_paths))


def _masked(path: Path, value: Any, secret_paths: tuple[Path, ...]) -> tuple[Any, bool]:
    if is_secret_path(path, value, secret_paths=secret_paths):
        return mask_value(value), True
    if isinstance(value, dict):
        items = {k: _masked((*path, str(k)), v, secret_paths) for k, v in value.items()}
        return {k: m for k, (m, _) in items.items()}, any(hit for _, hit in items.values())
    if isinstance(value, list):
        elements = [_masked((*path, i), v, secret_paths) for i, v in enumerate(value)]
        return [m for m, _ in elements], any(hit for _, hit in elements)
    return value, False


def _wild(path: Path) -> Path:
    """``path`` with every list index replaced by 0, so indices match any index."""
    # not mutated: any one number in place of every index matches the same
    return tuple(0 if isinstance(p, int) else p for p in path)  # pragma: no mutate


def canonical_json(value: Any) -> str:
    """A stable text form of JSON-like data: sorted keys, no spaces, non-ASCII kept."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,  # pragma: no mutate: None is False here
        default=str,
    )


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
