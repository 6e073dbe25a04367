"""The body rules of ``PATCH /auth-files/fields`` (section 2.6).

Owns turning a request body into metadata changes: legacy names canonicalised, dot paths
creating nested objects, ``headers`` merged (names and values trimmed, the file's own headers
too; an empty value removes a header; any other ``headers`` value replaces them all),
``weight`` an integer literal up to 1,000,000 or null (negative stores 0), ``request_retry`` an
integer literal or null (negative deletes), with the server's error messages.
``FieldPatch.apply`` changes a metadata dict in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.emulator.auth_json import bool_value, canonical_key
from reconciler.emulator.config_check import MAX_WEIGHT

_DELETE = object()


class FieldError(Exception):
    """A 400 answer; ``str()`` is the ``error`` text."""


@dataclass
class FieldPatch:
    """A validated patch: the target name and the ordered changes to make. ``invalid`` is a
    400 CPA gives only once it has found the file (a 404 wins over it): a bad ``weight`` or
    field path. A bad ``request_retry`` is refused before the lookup, by ``parse_patch``."""

    name: str
    changes: list[tuple[str, Any]] = field(default_factory=list)
    invalid: str | None = None

    def apply(self, metadata: dict[str, Any]) -> bool | None:
        """Change ``metadata``; returns the new ``disabled`` state when the patch set one."""
        disabled: bool | None = None
        for path, value in self.changes:
            if path == "headers":
                _merge_headers(metadata, value)
            elif value is _DELETE:
                metadata.pop(path, None)
            else:
                _set_path(metadata, path, value)
            if path.split(".")[0] == "disabled":
                disabled = bool_value(metadata.get("disabled"))
        return disabled


def parse_patch(body: Any) -> FieldPatch:
    """Validate a decoded JSON body; raises :class:`FieldError`."""
    if not isinstance(body, dict):
        raise FieldError("invalid request body")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise FieldError("name is required")
    patch = FieldPatch(name.strip())
    fields = _canonical_fields({k: v for k, v in body.items() if k != "name"})
    for path, value in fields.items():
        try:
            patch.changes.append((path, _checked_value(path, value)))
        except FieldError as exc:
            if path.split(".")[0] == "request_retry":
                raise
            patch.invalid = patch.invalid or str(exc)
    return patch


def _canonical_fields(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    origin: dict[str, tuple[str, bool]] = {}
    for key, value in fields.items():
        parts = [part.strip() for part in key.strip().split(".")]
        is_canonical = canonical_key(parts[0]) == parts[0]
        parts[0] = canonical_key(parts[0])
        path = ".".join(parts)
        if path in origin:
            first, first_canonical = origin[path]
            if first_canonical == is_canonical:
                raise FieldError(f'auth file fields "{first}" and "{key}" refer to the same field')
            if is_canonical:
                out[path], origin[path] = value, (key, True)
            continue
        out[path], origin[path] = value, (key, is_canonical)
    return out


def _checked_value(path: str, value: Any) -> Any:
    root = path.split(".")[0].strip()
    if not path.strip():
        raise FieldError("field name is required")
    if root == "request_retry":
        if path != root:
            raise FieldError("request_retry does not support nested fields")
        if value is None:
            return _DELETE
        if not _is_int(value) or not _INT64_MIN <= value <= _INT64_MAX:
            raise FieldError("request_retry must be an integer or null")
        return _DELETE if value < 0 else value
    if root == "weight":
        if path != root:
            raise FieldError("weight does not support nested fields")
        return _DELETE if value is None else _weight(value)
    if any(not part.strip() for part in path.split(".")):
        raise FieldError(f"invalid field path: {path}")
    return value


# CPA decodes the body with json.Number and parses a weight's or request_retry's literal as a
# 64-bit integer: a literal with a fraction or exponent (1.0, 1e3) is refused. Python's
# decoder turns exactly those literals into floats, and only integer literals into ints.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _weight(value: Any) -> int:
    """credentialweight.ParseValue of a JSON number: at most MAX_WEIGHT, and a weight of 0 or
    less is stored as 0 (no weighted traffic), not refused."""
    if isinstance(value, float):
        raise FieldError(
            f"weight must be an integer: {_parse_int_error(repr(value), 'invalid syntax')}"
        )
    if not _is_int(value):
        raise FieldError("weight must be an integer")
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise FieldError(
            f"weight must be an integer: {_parse_int_error(str(value), 'value out of range')}"
        )
    if value > MAX_WEIGHT:
        raise FieldError(f"weight must not exceed {MAX_WEIGHT}")
    return max(int(value), 0)


def _parse_int_error(literal: str, why: str) -> str:
    """Go's strconv.ParseInt error text (the literal as Python prints the number: ``1e3``
    reads ``1000.0``)."""
    return f'strconv.ParseInt: parsing "{literal}": {why}'


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _set_path(metadata: dict[str, Any], path: str, value: Any) -> None:
    parts = [part.strip() for part in path.split(".")]
    node = metadata
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _merge_headers(metadata: dict[str, Any], value: Any) -> None:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        metadata["headers"] = value
        return
    merged = _custom_headers(metadata.get("headers"))
    for key, item in value.items():
        name, text = _trim(key), _trim(item)
        if not name:
            continue
        if text:
            merged[name] = text
        else:
            merged.pop(name, None)
    if merged:
        metadata["headers"] = merged
    else:
        metadata.pop("headers", None)


def _custom_headers(current: Any) -> dict[str, str]:
    """``ExtractCustomHeadersFromMetadata``: the file's string headers, names and values
    trimmed, empty ones dropped (so a merge rewrites padded headers the file already had)."""
    if not isinstance(current, dict):
        return {}
    out: dict[str, str] = {}
    for key, item in current.items():
        if not isinstance(item, str):
            continue
        name, text = _trim(key), _trim(item)
        if name and text:
            out[name] = text
    return out


# Go's strings.TrimSpace (unicode.IsSpace): str.strip() would also remove U+001C..U+001F.
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def _trim(text: str) -> str:
    return text.strip(_GO_SPACE)
