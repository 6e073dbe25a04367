"""Contract: the emulator answers the recorded exchanges of a real CPA v7.2.140 the same way.

Each test replays an exchange from observed-v7.2.140.md or a fixture file over real HTTP with
bare httpx and compares status, body bytes (or shape where values are times or random),
content types and version headers.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re

import httpx
from emulator_support import AUTH, KEY, as_emulated, client, hash_masked, recorded

from reconciler.emulator import Emulator

JSON = "application/json; charset=utf-8"
VERSION_HEADERS = {
    "x-cpa-version": "v7.2.140",
    "x-cpa-commit": "a7e3596b7",
    "x-cpa-build-date": "2026-11-24T06:51:07Z",
    "x-cpa-support-plugin": "1",
}
CODEX_ALICE = (
    b'{"type":"codex","email":"alice@example.com","access_token":"dummy-access",'
    b'"refresh_token":"dummy-refresh","expired":"2030-01-01T00:00:00Z"}'
)
CLAUDE_BOB = b'{"type":"claude","email":"bob@example.com","access_token":"dummy"}'
RFC3339NANO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")


def _recorded_401_headers() -> list[tuple[str, str]]:
    lines = recorded("headers-401.txt").decode().split("\r\n")[1:]
    pairs = [tuple(line.split(": ", 1)) for line in lines if line]
    return [(name, value) for name, value in pairs if name != "Date"]


def _headers(response: httpx.Response) -> list[tuple[str, str]]:
    raw = [(n.decode(), v.decode()) for n, v in response.headers.raw]
    return [(name, value) for name, value in raw if name != "Date"]


def _has_version_headers(response: httpx.Response) -> bool:
    return all(response.headers.get(k) == v for k, v in VERSION_HEADERS.items())


def test_missing_key_401_matches_recorded_headers_exactly(anon: httpx.Client) -> None:
    response = anon.get("/config")
    assert response.status_code == 401
    assert response.reason_phrase == "Unauthorized"
    assert response.content == b'{"error":"missing management key"}'
    assert _headers(response) == _recorded_401_headers()


def test_invalid_key_401(anon: httpx.Client) -> None:
    response = anon.get("/config", headers={"Authorization": "Bearer wrong-key"})
    assert response.status_code == 401
    assert response.content == b'{"error":"invalid management key"}'
    assert response.headers["content-type"] == JSON
    assert response.headers["content-length"] == "34"
    assert _has_version_headers(response)


def test_get_config_equals_recorded_runtime_json(anon: httpx.Client) -> None:
    expected = json.dumps(json.loads(recorded("GET-config.json")), separators=(",", ":"))
    for headers in (AUTH, {"X-Management-Key": KEY}):
        response = anon.get("/config", headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == JSON
        assert response.text == expected
        assert _has_version_headers(response)


def test_startup_config_yaml_is_recorded_file_with_hashed_secret(
    emulator: Emulator, mgmt: httpx.Client
) -> None:
    response = mgmt.get("/config.yaml")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/yaml; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert _has_version_headers(response)
    assert 'secret-key: "$2a$10$' in response.text
    expected = as_emulated(recorded("GET-config.yaml").decode(), emulator)
    assert hash_masked(response.text) == hash_masked(expected)


def test_put_config_yaml_then_read_back(mgmt: httpx.Client) -> None:
    new = mgmt.get("/config.yaml").text.replace("debug: false", "debug: true")
    response = mgmt.put("/config.yaml", content=new, headers={"Content-Type": "application/yaml"})
    assert response.status_code == 200
    assert response.content == b'{"changed":["config"],"ok":true}'
    assert response.headers["content-length"] == "32"
    assert mgmt.get("/config").json()["debug"] is True
    assert mgmt.get("/config.yaml").text == new


def test_put_config_yaml_syntax_error(mgmt: httpx.Client) -> None:
    response = mgmt.put("/config.yaml", content="port: [unclosed\n")
    assert response.status_code == 400
    expected = (
        b'{"error":"invalid_yaml","message":"yaml: line 1: did not find expected \',\' or \']\'"}'
    )
    assert response.content == expected
    assert response.headers["content-length"] == "83"


def test_put_config_yaml_type_error(mgmt: httpx.Client) -> None:
    response = mgmt.put("/config.yaml", content='port: "notanumber"\n')
    assert response.status_code == 400
    expected = (
        b'{"error":"invalid_yaml","message":"yaml: unmarshal errors:\\n  line 1: '
        b'cannot unmarshal !!str `notanumber` into int"}'
    )
    assert response.content == expected
    assert response.headers["content-length"] == "116"


def test_put_debug_appends_server_defaults_like_recorded(
    emulator: Emulator, mgmt: httpx.Client
) -> None:
    response = mgmt.put("/debug", json={"value": True})
    assert (response.status_code, response.content) == (200, b'{"status":"ok"}')
    after = mgmt.get("/config.yaml").text
    expected = as_emulated(recorded("GET-config.yaml-after-PUT-debug.yaml").decode(), emulator)
    assert hash_masked(after) == hash_masked(expected)


def test_auth_files_recorded_session(emulator: Emulator, mgmt: httpx.Client) -> None:
    assert mgmt.get("/auth-files").content == b'{"files":[]}'
    up = mgmt.post("/auth-files", files={"file": ("codex-alice.json", CODEX_ALICE)})
    assert (up.status_code, up.content) == (200, b'{"status":"ok"}')
    raw = mgmt.post("/auth-files", params={"name": "claude-bob.json"}, content=CLAUDE_BOB)
    assert (raw.status_code, raw.content) == (200, b'{"status":"ok"}')
    bad = mgmt.post("/auth-files", params={"name": "bad.txt"}, content=b"{}")
    assert (bad.status_code, bad.content) == (400, b'{"error":"name must end with .json"}')
    notjson = mgmt.post("/auth-files", files={"file": ("notjson.txt", CODEX_ALICE)})
    assert (notjson.status_code, notjson.content) == (400, b'{"error":"file must be .json"}')

    files = mgmt.get("/auth-files").json()["files"]
    assert [f["name"] for f in files] == ["claude-bob.json", "codex-alice.json"]
    assert [f["size"] for f in files] == [83, 156]
    for name in ("claude-bob.json", "codex-alice.json"):
        assert os.stat(emulator.auth_dir / name).st_mode & 0o777 == 0o600

    down = mgmt.get("/auth-files/download", params={"name": "claude-bob.json"})
    assert down.status_code == 200
    assert down.content == (
        b'{"access_token":"dummy","disabled":false,"email":"bob@example.com","type":"claude"}'
    )
    assert down.headers["content-disposition"] == 'attachment; filename="claude-bob.json"'
    assert down.headers["content-type"] == "application/json"


def test_auth_files_recorded_deletes(mgmt: httpx.Client) -> None:
    mgmt.post("/auth-files", files={"file": ("codex-alice.json", CODEX_ALICE)})
    mgmt.post("/auth-files", params={"name": "claude-bob.json"}, content=CLAUDE_BOB)
    one = mgmt.delete("/auth-files", params={"name": "claude-bob.json"})
    assert (one.status_code, one.content) == (200, b'{"status":"ok"}')
    missing = mgmt.delete("/auth-files", params={"name": "does-not-exist.json"})
    assert (missing.status_code, missing.content) == (404, b'{"error":"auth file not found"}')
    none = mgmt.delete("/auth-files")
    assert (none.status_code, none.content) == (400, b'{"error":"invalid name"}')
    every = mgmt.delete("/auth-files", params={"all": "true"})
    assert (every.status_code, every.content) == (200, b'{"deleted":1,"status":"ok"}')
    assert mgmt.get("/auth-files").content == b'{"files":[]}'


def test_listing_entries_have_recorded_key_sets(mgmt: httpx.Client) -> None:
    mgmt.post("/auth-files", files={"file": ("codex-alice.json", CODEX_ALICE)})
    mgmt.post("/auth-files", params={"name": "claude-bob.json"}, content=CLAUDE_BOB)
    bob, alice = mgmt.get("/auth-files").json()["files"]
    recorded_keys = {
        "account", "account_type", "auth_index", "created_at", "disabled", "email", "failed",
        "id", "label", "modtime", "name", "path", "provider", "recent_requests", "runtime_only",
        "size", "source", "status", "status_message", "success", "type", "unavailable",
        "updated_at",
    }  # fmt: skip
    assert set(alice) == recorded_keys
    assert set(bob) == recorded_keys | {"last_refresh"}
    assert alice["account_type"] == "oauth" and alice["source"] == "file"
    assert (alice["status"], alice["status_message"], alice["disabled"]) == ("active", "", False)
    assert alice["id"] == alice["name"] == "codex-alice.json"
    assert alice["label"] == alice["email"] == alice["account"] == "alice@example.com"
    for key in ("created_at", "modtime", "updated_at"):
        assert RFC3339NANO.fullmatch(alice[key])


def test_fields_and_status_patch_download_equals_recorded(mgmt: httpx.Client) -> None:
    name = "codex-alice@example.com.json"
    up = mgmt.post("/auth-files", files={"file": (name, recorded("uploaded-codex-alice.json"))})
    assert up.status_code == 200
    fields = {"name": name, "priority": 7, "note": "team-a", "proxy_url": "socks5://u:p@proxy:1080"}
    patched = mgmt.patch("/auth-files/fields", json=fields)
    assert (patched.status_code, patched.content) == (200, b'{"status":"ok"}')
    status = mgmt.patch("/auth-files/status", json={"name": name, "disabled": True})
    assert (status.status_code, status.content) == (200, b'{"disabled":true,"status":"ok"}')
    down = mgmt.get("/auth-files/download", params={"name": name})
    assert down.content == recorded("download-after-fields-and-status.json")

    entry = mgmt.get("/auth-files").json()["files"][0]
    expected = json.loads(recorded("GET-auth-files.json"))["files"][0]
    assert set(entry) == set(expected)
    for key in ("account", "account_type", "disabled", "email", "id", "label", "name", "note"):
        assert entry[key] == expected[key]
    for key in ("priority", "provider", "size", "source", "status", "status_message", "type"):
        assert entry[key] == expected[key]
    assert "proxy_url" not in entry


def test_listing_identity_and_buckets(emulator: Emulator, mgmt: httpx.Client) -> None:
    mgmt.post("/auth-files", files={"file": ("codex-alice.json", CODEX_ALICE)})
    entry = mgmt.get("/auth-files").json()["files"][0]
    path = str(emulator.auth_dir / "codex-alice.json")
    assert entry["path"] == path
    assert entry["auth_index"] == hashlib.sha256(f"codex:{path}".encode()).hexdigest()[:16]
    buckets = entry["recent_requests"]
    assert len(buckets) == 20
    assert all(list(b) == ["time", "success", "failed"] for b in buckets)
    starts = [b["time"].split("-") for b in buckets]
    assert all(end == nxt[0] for (_, end), nxt in itertools.pairwise(starts))
    assert all(b["success"] == b["failed"] == 0 for b in buckets)


def test_version_headers_on_success_and_not_on_public_routes(emulator: Emulator) -> None:
    with client(emulator.url) as http:
        health = http.get("/healthz")
        assert (health.status_code, health.content) == (200, b'{"status":"ok"}')
        assert "x-cpa-version" not in health.headers
        assert health.headers["access-control-allow-origin"] == "*"
        authed = http.get("/v0/management/auth-files", headers=AUTH)
        assert _has_version_headers(authed)
        assert authed.headers["access-control-allow-origin"] == "*"
