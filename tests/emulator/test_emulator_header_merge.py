"""PATCH /auth-files/fields with a ``headers`` object, as CPA's ``applyAuthFileHeadersPatch``
does it: the file's own headers are read through ``ExtractCustomHeadersFromMetadata`` (names
and values trimmed, empty and non-string ones dropped) before the patch is merged, and only
Go's white space (``strings.TrimSpace``) is trimmed. A dotted ``headers.<name>`` is a plain
path write: stored as sent."""

from __future__ import annotations

import json

from reconciler.emulator import Emulator

ALICE = {"type": "codex", "email": "alice@example.com", "access_token": "a", "refresh_token": "r"}


def _upload(mgmt, name: str, data) -> None:
    raw = json.dumps(data).encode()
    assert mgmt.post("/auth-files", params={"name": name}, content=raw).status_code == 200


def _patch(mgmt, body) -> None:
    answer = mgmt.patch("/auth-files/fields", json=body)
    assert answer.json() == {"status": "ok"}, answer.text


def test_a_headers_merge_rewrites_the_files_own_headers(emulator: Emulator, mgmt) -> None:
    existing = {" X-Padded ": " old ", "X-Blank": "  ", "X-Number": 7, "X-Keep": "k"}
    _upload(mgmt, "a.json", {**ALICE, "headers": existing})
    assert emulator.read_auth_file("a.json")["headers"] == existing  # an upload keeps them

    _patch(mgmt, {"name": "a.json", "headers": {"X-Team": "red"}})
    assert emulator.read_auth_file("a.json")["headers"] == {
        "X-Padded": "old",
        "X-Keep": "k",
        "X-Team": "red",
    }


def test_only_go_white_space_is_trimmed(emulator: Emulator, mgmt) -> None:
    _upload(mgmt, "a.json", ALICE)
    _patch(mgmt, {"name": "a.json", "headers": {"X-Sep": "a\x1c", "X-Nbsp": "\u00a0b\u3000"}})
    assert emulator.read_auth_file("a.json")["headers"] == {"X-Sep": "a\x1c", "X-Nbsp": "b"}


def test_a_merge_that_leaves_nothing_removes_headers(emulator: Emulator, mgmt) -> None:
    _upload(mgmt, "a.json", {**ALICE, "headers": {"X-Blank": " ", "X-Gone": "g"}})
    _patch(mgmt, {"name": "a.json", "headers": {"X-Gone": ""}})
    assert "headers" not in emulator.read_auth_file("a.json")


def test_a_dotted_header_is_stored_as_sent(emulator: Emulator, mgmt) -> None:
    _upload(mgmt, "a.json", {**ALICE, "headers": {"X-Keep": " k "}})
    _patch(mgmt, {"name": "a.json", "headers.X-Team": " red ", "headers.X-Off": None})
    assert emulator.read_auth_file("a.json")["headers"] == {
        "X-Keep": " k ",
        "X-Team": " red ",
        "X-Off": None,
    }
