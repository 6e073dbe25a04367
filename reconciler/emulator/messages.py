"""The request and response values passed between the HTTP layer and the handlers.

Owns :class:`Request` (parsed method, path, query, headers, body, client address),
:class:`Response`, and the helpers that build the server's usual answers: JSON with
``application/json; charset=utf-8``, ``{"error": ...}``, gin's text 404, an empty body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from reconciler.emulator.gojson import dumpb

JSON_TYPE = "application/json; charset=utf-8"


class BadJson(Exception):
    """The request body is not JSON."""


@dataclass
class Request:
    """One parsed HTTP request. Header names are lower-case; the first value wins (Go)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    peer: str
    client_ip: str

    def arg(self, name: str) -> str:
        """gin's ``c.Query(name)``: the first value, or ""."""
        values = self.query.get(name)
        return values[0] if values else ""

    def args(self, name: str) -> list[str]:
        return list(self.query.get(name, []))

    def json(self) -> Any:
        """The body decoded as JSON (NaN and Infinity refused, like Go)."""
        if not self.body.strip():
            raise BadJson("EOF")
        try:
            return json.loads(self.body, parse_constant=_refuse)
        except ValueError as exc:
            raise BadJson(str(exc)) from None


def _refuse(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


@dataclass
class Response:
    """An answer; ``headers`` excludes Date and Content-Length, which the writer adds."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def with_header(self, name: str, value: str) -> Response:
        self.headers.append((name, value))
        return self


def json_response(status: int, value: Any) -> Response:
    return Response(status, dumpb(value), [("Content-Type", JSON_TYPE)])


def error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


def ok() -> Response:
    return json_response(200, {"status": "ok"})


def page_not_found() -> Response:
    """gin's answer for a route that is not registered."""
    return Response(404, b"404 page not found", [("Content-Type", "text/plain")])


def empty(status: int) -> Response:
    return Response(status)
