"""CPA's rules for the ``fields`` an auth-file entry declares.

This module owns what a declared ``fields`` mapping may hold: the legacy kebab names CPA still
accepts (``LEGACY_FIELD_NAMES``), the fields no desired state may set (tokens and identity the
server writes, the PATCH /auth-files/fields request's own keys), and the values PATCH
/auth-files/fields would refuse or rewrite (weight, request_retry, headers, padded or empty
field names), so an apply never stops part-way and a plan never shows a change it cannot make.
``normalise_fields`` applies them all.

It knows nothing of the desired file: the caller passes a ``Place`` that names where the
fields are written and shows a value safely (a value from a reference as the reference, a
header value, which may be a credential, only by its kind).
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import re
from collections.abc import Mapping
from typing import Any, Protocol

from reconciler.desired import references
from reconciler.desired.yaml_io import YamlDocument, YamlPath, format_path
from reconciler.errors import DesiredStateError

__all__ = [
    "KNOWN_FIELDS",
    "LEGACY_FIELD_NAMES",
    "RESERVED_FIELDS",
    "SECRET_TOKEN_FIELDS",
    "TOKEN_FIELDS",
    "TOKEN_FIELD_PATTERNS",
    "Place",
    "field_name_hint",
    "normalise_fields",
]

LEGACY_FIELD_NAMES: Mapping[str, str] = {
    "proxy-url": "proxy_url",
    "excluded-models": "excluded_models",
    "model-aliases": "model_aliases",
    "request-retry": "request_retry",
    "disable-cooling": "disable_cooling",
    "api-key": "api_key",
    "base-url": "base_url",
    "fingerprint-profile": "fingerprint_profile",
    "request-scoped-errors": "request_scoped_errors",
    "tool-prefix-disabled": "tool_prefix_disabled",
}
"""Kebab auth-file field names CPA still accepts, and the snake names it stores them under."""

TOKEN_FIELDS = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "expired",
        "expires_in",
        "expires_at",
        "expiry",
        "timestamp",
        "last_refresh",
        "type",
        "email",
        "sub",
        "base_url",
        "auth_kind",
    }
)
"""Auth-file fields the server writes (tokens and identity): never set through ``fields``."""

TOKEN_FIELD_PATTERNS = ("account_*", "organization_*", "claude_*", "token_*")

SECRET_TOKEN_FIELDS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "api_key",
        "cookie",
        "cookies",
        "client_secret",
        "session_token",
    }
)
"""Keys that hold a credential wherever they stand in a path: CPA's token lookup reads
``accessToken``/``access_token``, ``token`` (a string, or an object holding ``access_token``,
as Gemini-style files keep their tokens), ``id_token`` and ``cookie``; refreshes write
``refresh_token``. ``fields: {token: null}`` or ``token.refresh_token: x`` would wipe or
replace them, so any path with one of these as a part (any spelling: ``accessToken``,
``access-token``, ``Token``) is refused."""

RESERVED_FIELDS = frozenset({"name", "auth_index"})
"""Keys of the PATCH /auth-files/fields body itself."""


class Place(Protocol):
    """Where an auth-file entry is written, for error messages; ``rest`` is a path inside it."""

    @property
    def document(self) -> YamlDocument: ...

    @property
    def resolution(self) -> references.Resolution: ...

    def path(self, *rest: Any) -> YamlPath: ...

    def line(self, *rest: Any) -> int: ...

    def error(self, message: str, *rest: Any) -> DesiredStateError: ...

    def value_words(self, *rest: Any) -> str:
        """'the value', or 'the value of <reference as written>': never the value itself."""

    def got(self, value: Any, *rest: Any) -> str:
        """A wrong value, shown only when it is safe (else by its kind, or its reference)."""

    def described(self, value: Any, *rest: Any) -> str:
        """A value by its kind (it may be a credential), or its reference as written."""


def normalise_fields(fields: Mapping[str, Any], at: Place) -> dict[str, Any]:
    """Legacy kebab names become CPA's snake names; token and reserved fields are refused, and
    so are values CPA rewrites when it stores them (they could never be converged)."""
    result: dict[str, Any] = {}
    for key, value in fields.items():
        name = LEGACY_FIELD_NAMES.get(key, key)
        _check_field(key, name, at)
        if name in result:
            raise at.error(f"'{key}' and '{name}' are the same field; keep one", "fields", key)
        _check_field_value(key, name, value, at)
        result[name] = value
    return result


def _check_field(key: str, name: str, at: Place) -> None:
    problem = _field_problem(key, name)
    if problem is not None:
        raise at.error(problem, "fields", key)


@functools.lru_cache(maxsize=4096)
def _field_problem(key: str, name: str) -> str | None:
    """Why the declared field ``key`` (CPA's ``name``) cannot be set; None when it can. Pure,
    so cached: 10,000 entries declare the same few fields."""
    parts = name.split(".")
    head = parts[0].replace("-", "_")
    problem = None
    if not _go_trim(name):
        problem = "a field name must not be empty"
    elif any(not _go_trim(part) for part in parts):
        problem = f"'{key}' has an empty part: CPA refuses it (invalid field path)"
    elif any(_go_trim(part) != part for part in parts):
        trimmed = ".".join(_go_trim(part) for part in parts)
        problem = (
            f"CPA trims field names, so {key!r} would be read as '{trimmed}' and never "
            "match: remove the whitespace"
        )
    elif head == "disabled":
        problem = "'disabled' is not a field: use the entry's own disabled key"
    elif head in ("weight", "request_retry") and len(parts) > 1:
        problem = f"CPA refuses '{key}': {head} does not support nested fields"
    elif head in RESERVED_FIELDS:
        problem = "cannot be set: it is part of the PATCH /auth-files/fields request itself"
    elif _is_token_field(head):
        problem = "a token field: tokens are owned by the server, never set from desired state"
    elif head != "headers":
        problem = _token_part_problem(parts)
    return problem


def _token_part_problem(parts: list[str]) -> str | None:
    for part in parts:
        if _is_secret_token_key(part):
            return (
                f"'{part}' is a token field: tokens are owned by the server (CPA refreshes "
                "and rotates them), never set from desired state, not even nested"
            )
    return None


def _is_secret_token_key(key: str) -> bool:
    squashed = key.lower().replace("-", "").replace("_", "").strip()
    return squashed in _SECRET_TOKEN_SQUASHED


def _check_no_token_inside(key: str, value: Any, at: Place, *rest: Any) -> None:
    """A mapping value is merged into the file: its keys are parts of the path too."""
    if not isinstance(value, dict):
        return
    for inner, item in value.items():
        if isinstance(inner, str) and _is_secret_token_key(inner):
            raise at.error(
                f"'{inner}' is a token field: tokens are owned by the server (CPA refreshes "
                "and rotates them), never set from desired state, not even nested",
                "fields",
                key,
                *rest,
                inner,
            )
        _check_no_token_inside(key, item, at, *rest, inner)


# Declared values PATCH /auth-files/fields refuses (a 400 would stop an apply part-way) or
# rewrites (the live value could never equal them, so plan would show the same change
# forever). Refused here, before any request, not normalised: which value was meant is not
# obvious (an empty header value is CPA's way to delete a header).
#
# * weight: a JSON integer literal, or null. CPA refuses a string (no "5" -> 5), a boolean, a
#   number written with a fraction or exponent (1.0 too: it parses the literal as an integer),
#   anything outside the 64-bit range and anything above 1,000,000; it stores a negative
#   weight as 0. ``weight.<x>`` is refused too.
# * request_retry: the same literal rule (no upper limit but the 64-bit range); a negative
#   value deletes the field. ``request_retry.<x>`` is refused.
# * headers: a mapping whose values are all strings is merged into the file's headers, every
#   name and value trimmed and an empty value deleting the header. Anything else (a mapping
#   holding null or a number, a list, a string) is stored as sent *in place of* all of the
#   file's headers, so undeclared headers would silently go, and CPA sends only string
#   values. CPA sends its headers trimmed and drops empty ones whichever way they were
#   written, so ``headers.<name>`` (stored as sent) follows the same rules, null excepted:
#   ``headers.<name>: null`` is the way to remove one header.
# * Field names: CPA trims every part of a dotted name and refuses an empty part.
#
# Everything else is stored in the file as sent, whatever its type (``priority: "1"``,
# ``websockets: "yes"``, ``note: 5``: CPA does not check them, its runtime copy reads what it
# can) and blank or padded (CPA trims only its runtime copy and the listing's note; a
# declared value the listing does not show as equal is read back from the file, live.py), so
# those converge and are left alone, like custom fields.

_INT64 = range(-(2**63), 2**63)
_MAX_WEIGHT = 1_000_000  # the largest auth-file weight CPA accepts

_WHOLE = "a whole number written without quotes, decimal point or exponent, or null"


def _check_field_value(key: str, name: str, value: Any, at: Place) -> None:
    if name.split(".", 1)[0] != "headers":
        _check_no_token_inside(key, value, at)
    if name == "headers":
        _check_headers(key, value, at)
    elif name.startswith("headers.") and name.count(".") == 1:
        _check_header_value(name.split(".", 1)[1], value, at, False, "fields", key)
    elif name in ("weight", "request_retry") and value is not None:
        _check_integer_field(key, name, value, at)


def _check_integer_field(key: str, name: str, value: Any, at: Place) -> None:
    loc = at.path("fields", key)
    if not _is_integer(value) or value not in _INT64:
        got = (
            f"the decimal number {value}"
            if isinstance(value, float)
            else at.got(value, "fields", key)
        )
        why = " (a reference always gives a string)" if loc in at.resolution.sources else ""
        outside = " (outside the 64-bit range)" if _is_integer(value) else ""
        raise at.error(f"CPA refuses {got}{outside}{why}: {name} must be {_WHOLE}", "fields", key)
    if name == "request_retry" and value < 0:
        raise at.error(
            "CPA deletes request_retry when it is negative, so it could never be set; "
            "declare null to remove it",
            "fields",
            key,
        )
    if name == "weight" and value > _MAX_WEIGHT:
        raise at.error(f"CPA refuses a weight above {_MAX_WEIGHT:,}, got {value}", "fields", key)
    if name == "weight" and value < 0:
        raise at.error(
            "CPA stores a negative weight as 0, so it could never match: declare 0 (no "
            "weighted traffic) or more",
            "fields",
            key,
        )


def _check_headers(key: str, value: Any, at: Place) -> None:
    if value is None:
        return  # stored as null: no custom headers at all
    if not isinstance(value, dict):
        raise at.error(
            "headers must be a mapping of header names to string values, got "
            f"{at.described(value, 'fields', key)}: CPA would store it in place of all of "
            "the file's headers and send none; declare 'headers: null' to remove them all",
            "fields",
            key,
        )
    for header, text in value.items():
        _check_header_name(header, at, key)
        _check_header_value(header, text, at, True, "fields", key, header)


def _check_header_name(header: str, at: Place, key: str) -> None:
    if not _go_trim(header):
        raise DesiredStateError(
            f"{format_path(at.path('fields', key))}: CPA ignores a header with an empty name, "
            "so it could never be set: give it a name",
            path=at.document.name,
            line=at.line("fields", key, header),
        )
    if _go_trim(header) != header:
        raise at.error(
            f"CPA trims header names, so {header!r} would be stored as '{_go_trim(header)}' "
            "and never match: remove the whitespace",
            "fields",
            key,
            header,
        )


def _check_header_value(header: str, value: Any, at: Place, in_mapping: bool, *rest: Any) -> None:
    if value is None:
        if in_mapping:
            raise at.error(
                "a headers mapping holding null is not merged: CPA stores it in place of all "
                "of the file's headers, dropping every header not listed here; to remove this "
                f"one header declare 'headers.{header}: null' as a field of its own, to "
                "remove them all 'headers: null'",
                *rest,
            )
        return  # headers.<name>: null is stored as null, which CPA does not send
    if not isinstance(value, str):
        also = (
            ", and a headers mapping holding one is not merged: CPA stores it in place of all "
            "of the file's headers"
            if in_mapping
            else ""
        )
        raise at.error(
            f"CPA sends only string header values, so {at.described(value, *rest)} would "
            f"be stored but never sent{also}; declare a string (quote a number)",
            *rest,
        )
    words = at.value_words(*rest)
    if not _go_trim(value):
        raise at.error(
            "CPA drops empty header values (an empty value deletes the header), so "
            f"{words} could never be set; leave the header out, or declare "
            f"'headers.{header}: null' to clear it",
            *rest,
        )
    if _go_trim(value) != value:
        raise at.error(
            f"CPA trims header values, so {words} would be stored without its leading or "
            "trailing whitespace and never match: declare it trimmed",
            *rest,
        )


# The white space Go's strings.TrimSpace removes (unicode.IsSpace): str.strip() would also
# remove U+001C..U+001F, which CPA keeps.
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def _go_trim(text: str) -> str:
    return text.strip(_GO_SPACE)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_TOKEN_FIELD_PATTERN = re.compile("|".join(fnmatch.translate(p) for p in TOKEN_FIELD_PATTERNS))


_SECRET_TOKEN_SQUASHED = frozenset(k.replace("_", "") for k in SECRET_TOKEN_FIELDS)


def _is_token_field(name: str) -> bool:
    lowered = name.lower()
    return lowered in TOKEN_FIELDS or _TOKEN_FIELD_PATTERN.match(lowered) is not None


# ---------------------------------------------------------------------------------------------
# Names close to a known field: a warning, not an error (custom fields are allowed)

KNOWN_FIELDS = (
    "priority",
    "weight",
    "note",
    "prefix",
    "proxy_url",
    "headers",
    "excluded_models",
    "model_aliases",
    "websockets",
    "request_retry",
    "disable_cooling",
    "fingerprint_profile",
    "request_scoped_errors",
    "tool_prefix_disabled",
    "cloak_mode",
    "timezone",
    "refresh_interval_seconds",
    "project_id",
)
"""Policy fields CPA v7.2.140 reads from an auth file (management-api.md sections 2.6, 5.1)."""


def field_name_hint(key: str) -> str | None:
    """For a declared field name CPA does not read but that is close to one it does
    (``priorty``, ``proxy-urls``, ``Note``), the known name it probably meant; else None.
    ``disabled`` is the entry's own key, so it is offered too."""
    head = LEGACY_FIELD_NAMES.get(key, key).split(".", 1)[0]
    if head in KNOWN_FIELDS or not head:
        return None
    candidates = [*KNOWN_FIELDS, "disabled"]
    for spelling in (head, head.lower().replace("-", "_")):
        if spelling in KNOWN_FIELDS:
            return spelling
        close = difflib.get_close_matches(spelling, candidates, n=1, cutoff=0.8)
        if close and close[0] != head:
            return close[0]
    return None
