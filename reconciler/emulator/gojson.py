"""JSON encoding the way CPA's Go server writes it.

Owns the byte format of every JSON body and every auth file the emulator produces: compact
separators, map keys sorted (``encoding/json`` sorts map keys), ``<``, ``>``, ``&``, U+2028 and
U+2029 escaped, floats printed like Go. Go structs keep their field order: wrap such objects in
:class:`Struct`. Pre-encoded JSON can be spliced in with :class:`Raw`.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

_HTML_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)
_TOKEN_PREFIX = f"\x00{secrets.token_hex(4)}:"
_MAX_SAFE_INT = 2**53


class Struct:
    """A JSON object whose keys keep their order (a Go struct, not a map)."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[tuple[str, Any]] | Mapping[str, Any] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self.items: list[tuple[str, Any]] = list(pairs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Struct) and self.items == other.items

    __hash__ = None  # type: ignore[assignment]


class Raw:
    """Already-encoded JSON text, inserted verbatim."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def go_float(value: float) -> str:
    """Format a float like Go's ``encoding/json`` (shortest digits, ``e`` only when huge/tiny)."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError("unsupported value: NaN or Inf")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    magnitude = abs(value)
    if 1e-6 <= magnitude < 1e21:
        text = format(Decimal(repr(value)), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    text = repr(value)
    if len(text) >= 4 and text[-4] == "e" and text[-3] == "-" and text[-2] == "0":
        text = text[:-2] + text[-1]
    return text


def go_numbers(value: Any) -> Any:
    """Return ``value`` with numbers as Go prints them after a float64 round trip."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT:
            return value
        return Raw(go_float(float(value)))
    if isinstance(value, float):
        return Raw(go_float(value))
    if isinstance(value, dict):
        return {k: go_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [go_numbers(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Encode ``value`` compactly with sorted map keys, Go style."""
    spliced: dict[int, tuple[str, str]] = {}

    def default(obj: Any) -> str:
        key = id(obj)
        if key not in spliced:
            token = f"{_TOKEN_PREFIX}{len(spliced)}"
            spliced[key] = (token, _encode_special(obj))
        return spliced[key][0]

    text = json.dumps(
        value,
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
        allow_nan=False,
        default=default,
    )
    for old, new in _HTML_ESCAPES:
        if old in text:
            text = text.replace(old, new)
    for token, encoded in spliced.values():
        text = text.replace(json.dumps(token), encoded)
    return text


def dumpb(value: Any) -> bytes:
    """:func:`dumps`, encoded as UTF-8."""
    return dumps(value).encode("utf-8")


def _encode_special(obj: Any) -> str:
    if isinstance(obj, Raw):
        return obj.text
    if isinstance(obj, Struct):
        members = (f"{dumps(key)}:{dumps(val)}" for key, val in obj.items)
        return "{" + ",".join(members) + "}"
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")
