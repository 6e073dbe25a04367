"""OAuth login endpoints, /api-call and /latest-version."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from emulator_support import client

from reconciler.emulator import Emulator


def test_browser_login_completes_through_keyless_callback(emulator: Emulator, mgmt) -> None:
    start = mgmt.get("/anthropic-auth-url").json()
    assert start["status"] == "ok" and start["url"].startswith("https://")
    state = start["state"]
    assert parse_qs(urlsplit(start["url"]).query)["state"] == [state]
    assert mgmt.get("/get-auth-status", params={"state": state}).json() == {"status": "wait"}
    with client(emulator.management_url) as keyless:
        done = keyless.get(
            "/oauth-callback",
            params={"provider": "anthropic", "state": state, "code": "c0de", "email": "z@x.io"},
        )
        assert (done.status_code, done.json()) == (200, {"status": "ok"})
        assert "x-cpa-version" not in done.headers
        again = keyless.post("/oauth-callback", json={"state": state, "code": "c0de"})
        assert again.status_code == 409
        unknown = keyless.post("/oauth-callback", json={"state": "nope", "code": "x"})
        assert (unknown.status_code, unknown.json()) == (404, {"error": "unknown or expired state"})
    assert mgmt.get("/get-auth-status", params={"state": state}).json() == {"status": "ok"}
    entry = mgmt.get("/auth-files").json()["files"][0]
    assert (entry["name"], entry["provider"], entry["email"]) == (
        "claude-z@x.io.json",
        "claude",
        "z@x.io",
    )


def test_callback_by_redirect_url_and_error(emulator: Emulator, mgmt) -> None:
    state = mgmt.get("/codex-auth-url").json()["state"]
    redirect = f"http://localhost:1455/auth/callback?code=abc&state={state}"
    assert mgmt.post("/oauth-callback", json={"redirect_url": redirect}).status_code == 200
    assert any(f["provider"] == "codex" for f in mgmt.get("/auth-files").json()["files"])
    failing = mgmt.get("/antigravity-auth-url").json()["state"]
    assert (
        mgmt.get("/oauth-callback", params={"state": failing, "error": "denied"}).status_code == 200
    )
    assert mgmt.get("/get-auth-status", params={"state": failing}).json() == {
        "error": "denied",
        "status": "error",
    }


def test_device_flows_status_and_cancel(mgmt) -> None:
    for provider in ("kimi", "xai"):
        body = mgmt.get(f"/{provider}-auth-url").json()
        assert body["flow"] == "device" and body["user_code"] and body["expires_in"] > 0
        assert body["url"].startswith("https://")
    state = mgmt.get("/kimi-auth-url").json()["state"]
    assert mgmt.delete("/oauth-session", params={"state": state}).json() == {
        "cancelled": True,
        "status": "ok",
    }
    assert mgmt.get("/get-auth-status", params={"state": state}).json() == {
        "error": "unknown or expired state",
        "status": "error",
    }
    assert mgmt.get("/get-auth-status").json() == {"status": "ok"}
    assert mgmt.get("/get-auth-status", params={"state": "bad state!"}).status_code == 400


def test_api_call_reaches_only_loopback(emulator: Emulator, mgmt) -> None:
    mgmt.post(
        "/auth-files", params={"name": "a.json"}, content=b'{"type":"codex","access_token":"t0k"}'
    )
    index = mgmt.get("/auth-files").json()["files"][0]["auth_index"]
    local = mgmt.post(
        "/api-call",
        json={
            "auth_index": index,
            "method": "GET",
            "url": f"{emulator.url}/healthz",
            "header": {"Authorization": "Bearer $TOKEN$"},
        },
    ).json()
    assert (local["status_code"], local["body"]) == (200, '{"status":"ok"}')
    assert local["header"]["Content-Type"] == ["application/json; charset=utf-8"]
    remote = mgmt.post("/api-call", json={"method": "GET", "url": "https://example.com/"})
    assert (remote.status_code, remote.json()) == (502, {"error": "request failed"})
    assert mgmt.post("/api-call", json={"method": "GET"}).json() == {"error": "missing url"}


def test_latest_version(mgmt) -> None:
    assert mgmt.get("/latest-version").json() == {"latest-version": "v7.2.140"}
