"""Auth-file JSON as the server reads and writes it.

Owns parsing an uploaded body the way Go's ``json.Unmarshal`` into a map does (with its error
wording), the store's normalisation on save (legacy kebab keys renamed, ``disabled`` set), and
the saved byte form: compact JSON, sorted keys, HTML-escaped, numbers after a float64 round
trip.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.emulator.defaults import LEGACY_AUTH_KEYS
from reconciler.emulator.gojson import dumpb, go_numbers

_GO_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "bool"}


class InvalidAuthFile(Exception):
    """The body is not a JSON object; ``str()`` is the server's message."""


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def parse(raw: bytes) -> dict[str, Any]:
    """The JSON object in ``raw``; raises :class:`InvalidAuthFile` like the server."""
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        raise InvalidAuthFile("invalid auth file: unexpected end of JSON input")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise InvalidAuthFile(f"invalid auth file: {_go_syntax_error(text, exc)}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        kind = _GO_KINDS.get(type(value), "value")
        raise InvalidAuthFile(
            f"invalid auth file: json: cannot unmarshal {kind} into Go value of type "
            "map[string]interface {}"
        )
    return value


def _go_syntax_error(text: str, exc: Exception) -> str:
    position = exc.pos if isinstance(exc, json.JSONDecodeError) else 0
    if position >= len(text.rstrip()):
        return "unexpected end of JSON input"
    char = text[position]
    return f"invalid character {char!r} looking for beginning of value"


def canonical_key(key: str) -> str:
    """The canonical name of a metadata key (``proxy-url`` → ``proxy_url``)."""
    return LEGACY_AUTH_KEYS.get(key.strip(), key.strip())


def normalised(data: dict[str, Any], disabled: bool) -> dict[str, Any]:
    """What ``FileTokenStore.Save`` writes: legacy keys renamed, ``disabled`` set."""
    out = dict(data)
    for legacy, canonical in LEGACY_AUTH_KEYS.items():
        if legacy in out:
            value = out.pop(legacy)
            out.setdefault(canonical, value)
    out["disabled"] = disabled
    return out


def serialise(data: dict[str, Any]) -> bytes:
    """The saved bytes of an auth file (Go ``json.Marshal`` of a map)."""
    return dumpb(go_numbers(data))


def bool_value(value: Any) -> bool | None:
    """``authFileBoolValue``: a bool, or a string Go's ``strconv.ParseBool`` accepts."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if text in ("0", "f", "F", "FALSE", "false", "False"):
            return False
    return None


def int_value(value: Any) -> int | None:
    """``authFileIntValue``: an int from a number or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None
