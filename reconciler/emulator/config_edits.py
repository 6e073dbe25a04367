"""What the list and map endpoints share: body parsing, 4xx answers, and the save.

Owns reading a list/map request body (raw or wrapped in ``{"items": ...}``), the ``Reject``
exception that becomes a ``{"error": ...}`` answer, and writing one top-level config value
through the per-field save (as round-trip nodes, so the file gets block style).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from reconciler.emulator.messages import BadJson, Request, Response, error
from reconciler.emulator.state import EmulatorState

Handler = Callable[[EmulatorState, Request], Response]


class Reject(Exception):
    """A 4xx answer with ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def guarded(handler: Handler) -> Handler:
    """``handler`` with :class:`Reject` turned into its answer."""

    def run(state: EmulatorState, req: Request) -> Response:
        try:
            return handler(state, req)
        except Reject as exc:
            return error(exc.status, str(exc))

    return run


def json_body(req: Request, container: type) -> Any:
    """The body as a list or dict; ``{"items": ...}`` is unwrapped. Else 400 invalid body."""
    try:
        body = req.json()
    except BadJson:
        raise Reject(400, "invalid body") from None
    if isinstance(body, dict) and container is list and "items" in body:
        body = body["items"] or None
    elif isinstance(body, dict) and container is dict and isinstance(body.get("items"), dict):
        body = body["items"]
    if not isinstance(body, container):
        raise Reject(400, "invalid body")
    return body


def text(entry: dict[str, Any], name: str) -> str:
    """A string field, trimmed; "" when absent or not a string."""
    value = entry.get(name)
    return value.strip() if isinstance(value, str) else ""


def save(state: EmulatorState, key: str, value: Any) -> None:
    """Set top-level ``key`` to ``value`` and run the per-field save."""

    def change(doc: CommentedMap) -> None:
        doc[key] = _as_yaml(value)

    state.config.update(change)


def _as_yaml(value: Any) -> Any:
    if isinstance(value, dict):
        return CommentedMap((k, _as_yaml(v)) for k, v in value.items())
    if isinstance(value, list):
        return CommentedSeq(_as_yaml(v) for v in value)
    return value
