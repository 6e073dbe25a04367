"""Handlers of ``/auth-files``: list, upload, download, delete, status and fields.

Owns request validation and the answers of section 2.6, including the name rules, the
multipart rules (every file part under any field name, 207 on partial failure) and the
single/multiple/all forms of delete.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.emulator import gostrings, multipart
from reconciler.emulator.auth_fields import FieldError, parse_patch
from reconciler.emulator.auth_json import InvalidAuthFile
from reconciler.emulator.auth_listing import auth_index, listing_body
from reconciler.emulator.auth_store import AuthRecord
from reconciler.emulator.messages import (
    JSON_TYPE,
    BadJson,
    Request,
    Response,
    error,
    json_response,
    ok,
)
from reconciler.emulator.state import EmulatorState

Handler = Callable[[EmulatorState, Request], Response]


class _MustBeJson(Exception):
    """A multipart file whose name does not end with .json."""


def _unsafe_name(name: str) -> bool:
    return not name or "/" in name or "\\" in name or name in (".", "..")


def _name_error(name: str) -> Response | None:
    if _unsafe_name(name):
        return error(400, "invalid name")
    if not name.lower().endswith(".json"):
        return error(400, "name must end with .json")
    return None


def list_auth_files(state: EmulatorState, req: Request) -> Response:
    records = state.auths.scan()
    name, index = gostrings.trim_space(req.arg("name")), req.arg("auth_index").strip()
    if name:
        records = [record for record in records if record.name == name]
    if index:
        records = [record for record in records if auth_index(record) == index]
    return Response(200, listing_body(records).encode("utf-8"), [("Content-Type", JSON_TYPE)])


def download_auth_file(state: EmulatorState, req: Request) -> Response:
    name = gostrings.trim_space(req.arg("name"))
    problem = _name_error(name)
    if problem is not None:
        return problem
    data = state.auths.read_bytes(name)
    if data is None:
        return error(404, "file not found")
    headers = [
        ("Content-Disposition", f'attachment; filename="{name}"'),
        ("Content-Type", "application/json"),
    ]
    return Response(200, data, headers)


def upload_auth_file(state: EmulatorState, req: Request) -> Response:
    content_type = req.headers.get("content-type", "")
    if multipart.media_type(content_type) == "multipart/form-data":
        return _upload_multipart(state, req, content_type)
    name = gostrings.trim_space(req.arg("name"))
    problem = _name_error(name)
    if problem is not None:
        return problem
    try:
        state.auths.upload(gostrings.base(name), req.body)
    except InvalidAuthFile as exc:
        return error(500, str(exc))
    return ok()


def _upload_multipart(state: EmulatorState, req: Request, content_type: str) -> Response:
    boundary = multipart.boundary_of(content_type)
    try:
        if boundary is None:
            raise multipart.MultipartError("no multipart boundary param in Content-Type")
        parts = multipart.parse(req.body, boundary)
    except multipart.MultipartError as exc:
        return error(400, f"invalid multipart form: {exc}")
    files = sorted((part for part in parts if part.filename), key=lambda part: part.field)
    if not files:
        return error(400, "no files uploaded")
    if len(files) == 1:
        try:
            _store_part(state, files[0])
        except _MustBeJson:
            return error(400, "file must be .json")
        except InvalidAuthFile as exc:
            return error(500, str(exc))
        return ok()
    uploaded: list[str] = []
    failed: list[dict[str, str]] = []
    for part in files:
        try:
            uploaded.append(_store_part(state, part))
        except _MustBeJson:
            failed.append({"error": "file must be .json", "name": _part_name(part)})
        except InvalidAuthFile as exc:
            failed.append({"error": str(exc), "name": _part_name(part)})
    if failed:
        body = {"failed": failed, "files": uploaded, "status": "partial", "uploaded": len(uploaded)}
        return json_response(207, body)
    return json_response(200, {"files": uploaded, "status": "ok", "uploaded": len(uploaded)})


def _part_name(part: multipart.Part) -> str:
    """The file name Go's multipart reader gives a part: ``filepath.Base`` of the
    Content-Disposition ``filename``, as sent (a client's percent-encoding is not undone)."""
    return gostrings.base(part.filename) if part.filename else ""


def _stored_name(part: multipart.Part) -> str:
    """The name CPA stores a part under: ``filepath.Base(strings.TrimSpace(filename))``, so
    ``" victim.json"`` and ``"\u00a0victim.json"`` land on ``victim.json``."""
    return gostrings.base(gostrings.trim_space(_part_name(part)))


def _store_part(state: EmulatorState, part: multipart.Part) -> str:
    name = _stored_name(part)
    if not name.lower().endswith(".json"):
        raise _MustBeJson
    state.auths.upload(name, part.content)
    return name


def delete_auth_files(state: EmulatorState, req: Request) -> Response:
    if req.arg("all") in ("true", "1", "*"):
        return json_response(200, {"deleted": state.auths.delete_all(), "status": "ok"})
    try:
        names = _names_to_delete(req)
    except ValueError as exc:
        return error(400, str(exc))
    if not names:
        return error(400, "invalid name")
    if len(names) == 1:
        status, message = _delete_one(state, names[0])
        return ok() if status == 200 else error(status, message)
    deleted: list[str] = []
    failed: list[dict[str, str]] = []
    for name in names:
        status, message = _delete_one(state, name)
        if status == 200:
            deleted.append(gostrings.base(name))
        else:
            failed.append({"error": message, "name": name})
    if failed:
        body = {"deleted": len(deleted), "failed": failed, "files": deleted, "status": "partial"}
        return json_response(207, body)
    return json_response(200, {"deleted": len(deleted), "files": deleted, "status": "ok"})


def _names_to_delete(req: Request) -> list[str]:
    names: list[Any] = req.args("name")
    if not any(isinstance(n, str) and gostrings.trim_space(n) for n in names):
        names = _body_names(req)
    out: list[str] = []
    for name in names:
        trimmed = gostrings.trim_space(name) if isinstance(name, str) else ""
        if trimmed and trimmed not in out:
            out.append(trimmed)
    return out


def _body_names(req: Request) -> list[Any]:
    if not req.body.strip():
        return []
    try:
        body = req.json()
    except BadJson:
        raise ValueError("invalid request body") from None
    if isinstance(body, list) and all(isinstance(item, str) for item in body):
        return body
    if isinstance(body, dict):
        names = body.get("names") or []
        single = body.get("name")
        names_ok = isinstance(names, list) and all(isinstance(n, str) for n in names)
        if names_ok and isinstance(single, str | None):
            return ([single] if single and gostrings.trim_space(single) else []) + names
    raise ValueError("invalid request body")


def _delete_one(state: EmulatorState, name: str) -> tuple[int, str]:
    if _unsafe_name(name):
        return 400, "invalid name"
    if not state.auths.delete(name):
        return 404, "auth file not found"
    return 200, ""


def _lookup(state: EmulatorState, name: str, index: str = "") -> AuthRecord | None:
    record = state.auths.get(name)
    if record is None and index:
        record = state.auths.find_by_index(index, auth_index)
    return record


def patch_status(state: EmulatorState, req: Request) -> Response:
    try:
        body = req.json()
    except BadJson:
        return error(400, "invalid request body")
    if not isinstance(body, dict) or not isinstance(body.get("name", ""), str):
        return error(400, "invalid request body")
    disabled = body.get("disabled")
    if disabled is not None and not isinstance(disabled, bool):
        return error(400, "invalid request body")
    name = gostrings.trim_space(body.get("name", ""))
    if not name:
        return error(400, "name is required")
    if disabled is None:
        return error(400, "disabled is required")
    index = body.get("auth_index")
    record = _lookup(state, name, index.strip() if isinstance(index, str) else "")
    if record is None:
        return error(404, "auth file not found")

    def change(rec: AuthRecord) -> None:
        rec.disabled = disabled
        rec.data["disabled"] = disabled

    state.auths.update(record, change)
    return json_response(200, {"disabled": disabled, "status": "ok"})


def patch_fields(state: EmulatorState, req: Request) -> Response:
    try:
        patch = parse_patch(req.json())
    except BadJson:
        return error(400, "invalid request body")
    except FieldError as exc:
        return error(400, str(exc))
    record = _lookup(state, patch.name)
    if record is None:
        return error(404, "auth file not found")
    if patch.invalid is not None:
        return error(400, patch.invalid)
    if not patch.changes:
        return error(400, "no fields to update")

    def change(rec: AuthRecord) -> None:
        disabled = patch.apply(rec.data)
        if disabled is not None:
            rec.disabled = disabled

    state.auths.update(record, change)
    return ok()


def routes() -> dict[tuple[str, str], Handler]:
    return {
        ("GET", "/auth-files"): list_auth_files,
        ("POST", "/auth-files"): upload_auth_file,
        ("DELETE", "/auth-files"): delete_auth_files,
        ("GET", "/auth-files/download"): download_auth_file,
        ("PATCH", "/auth-files/status"): patch_status,
        ("PATCH", "/auth-files/fields"): patch_fields,
    }
