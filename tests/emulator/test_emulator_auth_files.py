"""Auth-file endpoints beyond the recording: multipart rules, re-serialisation, patches."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime

import pytest

from reconciler.emulator import Emulator

ALICE = {"type": "codex", "email": "alice@example.com", "access_token": "a", "refresh_token": "r"}


def _upload(mgmt, name: str, data) -> None:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    assert mgmt.post("/auth-files", params={"name": name}, content=raw).status_code == 200


def test_multipart_many_files_any_field_name(mgmt) -> None:
    files = [
        ("zeta", ("b.json", b'{"type":"claude"}')),
        ("alpha", ("a.json", b'{"type":"codex"}')),
        ("alpha", ("dir/c.json", b'{"type":"kimi"}')),
        ("note", (None, b"plain form value")),
    ]
    answer = mgmt.post("/auth-files", files=files)
    assert answer.status_code == 200
    assert answer.json() == {"files": ["a.json", "c.json", "b.json"], "status": "ok", "uploaded": 3}
    listed = [entry["name"] for entry in mgmt.get("/auth-files").json()["files"]]
    assert listed == ["a.json", "b.json", "c.json"]


def test_multipart_partial_failure_is_207(mgmt) -> None:
    files = [
        ("file", ("ok.json", b'{"type":"codex"}')),
        ("file", ("bad.txt", b"{}")),
        ("file", ("broken.json", b"[1, 2]")),
    ]
    answer = mgmt.post("/auth-files", files=files)
    assert answer.status_code == 207
    body = answer.json()
    assert (body["status"], body["uploaded"], body["files"]) == ("partial", 1, ["ok.json"])
    assert body["failed"] == [
        {"error": "file must be .json", "name": "bad.txt"},
        {
            "error": "invalid auth file: json: cannot unmarshal array into Go value of type "
            "map[string]interface {}",
            "name": "broken.json",
        },
    ]


def test_upload_errors(mgmt) -> None:
    no_files = mgmt.post("/auth-files", files=[("x", (None, b"v"))])
    assert (no_files.status_code, no_files.json()) == (400, {"error": "no files uploaded"})
    single_bad = mgmt.post("/auth-files", files={"file": ("x.json", b"not json")})
    assert single_bad.status_code == 500
    assert single_bad.json()["error"].startswith("invalid auth file: ")
    raw_list = mgmt.post("/auth-files", params={"name": "x.json"}, content=b"[]")
    assert raw_list.status_code == 500
    for name, message in [("", "invalid name"), ("a/b.json", "invalid name"), ("X.JSONX", None)]:
        answer = mgmt.post("/auth-files", params={"name": name}, content=b"{}")
        assert answer.status_code == 400
        assert answer.json()["error"] == (message or "name must end with .json")
    assert mgmt.post("/auth-files", params={"name": "UPPER.JSON"}, content=b"{}").status_code == 200


def test_stored_form_is_sorted_compact_with_legacy_keys_renamed(emulator: Emulator, mgmt) -> None:
    data = {"type": "codex", "proxy-url": "http://p", "big": 2**60, "x": 1.0, "html": "<&>"}
    _upload(mgmt, "a.json", data)
    stored = (emulator.auth_dir / "a.json").read_bytes()
    assert stored == (
        b'{"big":1152921504606847000,"disabled":false,"html":"\\u003c\\u0026\\u003e",'
        b'"proxy_url":"http://p","type":"codex","x":1}'
    )
    assert os.stat(emulator.auth_dir / "a.json").st_mode & 0o777 == 0o600


def test_upload_already_normal_is_kept_byte_for_byte(emulator: Emulator, mgmt) -> None:
    raw = b'{\n  "type": "codex",\n  "disabled": true\n}\n'
    _upload(mgmt, "kept.json", raw)
    assert (emulator.auth_dir / "kept.json").read_bytes() == raw
    entry = mgmt.get("/auth-files", params={"name": "kept.json"}).json()["files"][0]
    assert (entry["disabled"], entry["status"], entry["size"]) == (True, "disabled", len(raw))


def test_listing_filters_and_unknown_provider(mgmt) -> None:
    _upload(mgmt, "B.json", {"note": " hi "})
    _upload(mgmt, "a.json", ALICE)
    files = mgmt.get("/auth-files").json()["files"]
    assert [f["name"] for f in files] == ["a.json", "B.json"]
    nameless = files[1]
    assert (nameless["type"], nameless["provider"], nameless["label"]) == ("unknown",) * 3
    assert "email" not in nameless and "account" not in nameless
    assert nameless["note"] == "hi"
    by_index = mgmt.get("/auth-files", params={"auth_index": files[0]["auth_index"]}).json()
    assert [f["name"] for f in by_index["files"]] == ["a.json"]
    assert mgmt.get("/auth-files", params={"name": "none.json"}).json() == {"files": []}


def test_delete_many_forms(mgmt) -> None:
    for name in ("a.json", "b.json", "c.json", "d.json"):
        _upload(mgmt, name, ALICE)
    both = mgmt.delete("/auth-files", params=[("name", "a.json"), ("name", "b.json")])
    assert both.json() == {"deleted": 2, "files": ["a.json", "b.json"], "status": "ok"}
    body = mgmt.request("DELETE", "/auth-files", json={"names": ["c.json", "zz.json"]})
    assert body.status_code == 207
    assert body.json() == {
        "deleted": 1,
        "failed": [{"error": "auth file not found", "name": "zz.json"}],
        "files": ["c.json"],
        "status": "partial",
    }
    listed = mgmt.request("DELETE", "/auth-files", json=["d.json"])
    assert listed.json() == {"status": "ok"}
    bad = mgmt.request("DELETE", "/auth-files", content=b"{not json")
    assert (bad.status_code, bad.json()) == (400, {"error": "invalid request body"})
    assert mgmt.get("/auth-files").json() == {"files": []}


def test_download_errors(mgmt) -> None:
    missing = mgmt.get("/auth-files/download", params={"name": "none.json"})
    assert (missing.status_code, missing.json()) == (404, {"error": "file not found"})
    assert mgmt.get("/auth-files/download", params={"name": "../x.json"}).status_code == 400
    assert mgmt.get("/auth-files/download", params={"name": "x.txt"}).json() == {
        "error": "name must end with .json"
    }


def test_fields_patch_rules(emulator: Emulator, mgmt) -> None:
    _upload(mgmt, "a.json", {**ALICE, "headers": {"X-A": "1", "X-B": "2"}, "request_retry": 2})
    patch = {
        "name": "a.json",
        "headers": {"X-A": "", "X-C": " 3 "},
        "weight": 40,
        "request-retry": -1,
        "excluded-models": ["m1"],
        "cloak.mode": "auto",
        "websockets": True,
    }
    assert mgmt.patch("/auth-files/fields", json=patch).json() == {"status": "ok"}
    stored = emulator.read_auth_file("a.json")
    assert stored["headers"] == {"X-B": "2", "X-C": "3"}
    assert stored["weight"] == 40 and "request_retry" not in stored
    assert stored["excluded_models"] == ["m1"] and stored["cloak"] == {"mode": "auto"}
    entry = mgmt.get("/auth-files").json()["files"][0]
    assert (entry["weight"], entry["websockets"]) == (40, True)
    assert (
        mgmt.patch("/auth-files/fields", json={"name": "a.json", "weight": None}).status_code == 200
    )
    assert "weight" not in emulator.read_auth_file("a.json")
    assert emulator.read_auth_file("a.json")["access_token"] == "a"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"priority": 1}, 400, "name is required"),
        ({"name": "a.json"}, 400, "no fields to update"),
        ({"name": "zz.json", "priority": 1}, 404, "auth file not found"),
        ({"name": "a.json", "weight": "heavy"}, 400, "weight must be an integer"),
        ({"name": "a.json", "weight.x": 1}, 400, "weight does not support nested fields"),
        ({"name": "a.json", "request_retry": "x"}, 400, "request_retry must be an integer or null"),
        ({"name": "a.json", "a..b": 1}, 400, "invalid field path: a..b"),
        (
            {"name": "a.json", "proxy_url": "x", "proxy-url": "y"},
            200,
            None,
        ),
    ],
)
def test_fields_patch_errors(mgmt, body, status: int, message: str | None) -> None:
    _upload(mgmt, "a.json", ALICE)
    answer = mgmt.patch("/auth-files/fields", json=body)
    assert answer.status_code == status
    if message:
        assert answer.json() == {"error": message}


def test_fields_patch_canonical_name_wins(emulator: Emulator, mgmt) -> None:
    _upload(mgmt, "a.json", ALICE)
    body = {"name": "a.json", "proxy-url": "legacy", "proxy_url": "canonical"}
    assert mgmt.patch("/auth-files/fields", json=body).status_code == 200
    assert emulator.read_auth_file("a.json")["proxy_url"] == "canonical"


def test_status_patch_errors_and_toggle(emulator: Emulator, mgmt) -> None:
    _upload(mgmt, "a.json", ALICE)
    assert mgmt.patch("/auth-files/status", json={"name": "a.json"}).json() == {
        "error": "disabled is required"
    }
    assert mgmt.patch("/auth-files/status", json={"disabled": True}).json() == {
        "error": "name is required"
    }
    assert mgmt.patch("/auth-files/status", json={"name": "a.json", "disabled": "y"}).json() == {
        "error": "invalid request body"
    }
    missing = mgmt.patch("/auth-files/status", json={"name": "z.json", "disabled": True})
    assert missing.status_code == 404
    for disabled in (True, False):
        answer = mgmt.patch("/auth-files/status", json={"name": "a.json", "disabled": disabled})
        assert answer.json() == {"disabled": disabled, "status": "ok"}
        assert emulator.read_auth_file("a.json")["disabled"] is disabled


def test_out_of_band_files_are_registered_without_rewrite(emulator: Emulator, mgmt) -> None:
    emulator.write_auth_file("side.json", {"type": "claude", "email": "s@x"})
    (emulator.auth_dir / "dropped.json").write_text('{"type": "xai"}')
    (emulator.auth_dir / "notes.txt").write_text("ignored")
    names = [f["name"] for f in mgmt.get("/auth-files").json()["files"]]
    assert names == ["dropped.json", "side.json"]
    assert (emulator.auth_dir / "dropped.json").read_text() == '{"type": "xai"}'
    assert "disabled" not in emulator.read_auth_file("side.json")
    (emulator.auth_dir / "side.json").unlink()
    assert [f["name"] for f in mgmt.get("/auth-files").json()["files"]] == ["dropped.json"]


def test_refresh_rotates_tokens_and_keeps_policy(emulator: Emulator, mgmt) -> None:
    _upload(mgmt, "a.json", {**ALICE, "priority": 3, "expired": "2030-01-01T00:00:00Z"})
    before = emulator.read_auth_file("a.json")
    emulator.refresh_auth_file("a.json")
    after = emulator.read_auth_file("a.json")
    assert after["access_token"] != before["access_token"]
    assert after["refresh_token"] != before["refresh_token"]
    expires = datetime.fromisoformat(after["expired"].replace("Z", "+00:00")).timestamp()
    assert abs(expires - (time.time() + 3600)) < 120
    assert after["last_refresh"].endswith("Z")
    assert after["priority"] == 3 and after["disabled"] is False
    listed = mgmt.get("/auth-files").json()["files"][0]
    assert "last_refresh" in listed
    with pytest.raises(KeyError):
        emulator.refresh_auth_file("none.json")
