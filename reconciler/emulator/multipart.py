"""A small, fast ``multipart/form-data`` parser for auth-file uploads.

Owns splitting a request body into parts and reading each part's ``Content-Disposition``
(field name and file name). It works on bytes in one pass, so a 1,000-file upload parses in
milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


class MultipartError(Exception):
    """The body is not valid multipart; ``str()`` reads like Go's ``mime/multipart`` errors."""


@dataclass(frozen=True)
class Part:
    """One form part."""

    field: str
    filename: str | None
    content: bytes


def media_type(content_type: str) -> str:
    """The media type without parameters, lower-cased (gin's ``c.ContentType()``)."""
    return content_type.split(";", 1)[0].strip().lower()


def boundary_of(content_type: str) -> str | None:
    """The ``boundary`` parameter of a Content-Type header."""
    params = _params(content_type[content_type.find(";") :] if ";" in content_type else "")
    return params.get("boundary") or None


def parse(body: bytes, boundary: str) -> list[Part]:
    """All parts of ``body``; raises :class:`MultipartError`."""
    delimiter = b"--" + boundary.encode("latin-1")
    start = body.find(delimiter)
    if start < 0:
        raise MultipartError("multipart: NextPart: EOF")
    parts: list[Part] = []
    position = start + len(delimiter)
    separator = b"\r\n" + delimiter
    while True:
        if body.startswith(b"--", position):
            return parts
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            raise MultipartError("multipart: NextPart: EOF")
        end = body.find(separator, line_end)
        if end < 0:
            raise MultipartError("multipart: NextPart: EOF")
        parts.append(_part(body[line_end + 2 : end]))
        position = end + len(separator)


def _part(chunk: bytes) -> Part:
    head_end = chunk.find(b"\r\n\r\n")
    if head_end < 0:
        if chunk.startswith(b"\r\n"):
            return Part("", None, chunk[2:])
        raise MultipartError("multipart: NextPart: malformed MIME header")
    headers = chunk[:head_end].decode("utf-8", errors="replace").split("\r\n")
    disposition = ""
    for header in headers:
        name, _, value = header.partition(":")
        if name.strip().lower() == "content-disposition":
            disposition = value.strip()
    params = _params(disposition[disposition.find(";") :] if ";" in disposition else "")
    return Part(params.get("name", ""), params.get("filename"), chunk[head_end + 4 :])


def _params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, raw in _PARAM.findall(text):
        value = raw.strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[key.lower()] = value
    return params
