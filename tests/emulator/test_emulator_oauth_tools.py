"""OAuth login endpoints, /api-call and /latest-version."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from emulator_support import client

from reconciler.emulator import Emulator


def _callback(http, provider: str, state: str, **extra: str):
    url = f"http://localhost:1455/auth/callback?code=c0de&state={state}"
    return http.post("/oauth-callback", json={"provider": provider, "redirect_url": url, **extra})


def test_browser_login_completes_through_keyless_callback(emulator: Emulator, mgmt) -> None:
    emulator.set_oauth(email="z@x.io", take_delay=0)
    start = mgmt.get("/anthropic-auth-url").json()
    assert start["status"] == "ok" and start["url"].startswith("https://")
    state = start["state"]
    assert parse_qs(urlsplit(start["url"]).query)["state"] == [state]
    assert mgmt.get("/get-auth-status", params={"state": state}).json() == {"status": "wait"}
    with client(emulator.management_url) as keyless:
        done = keyless.get(
            "/oauth-callback", params={"provider": "claude", "state": state, "code": "c0de"}
        )
        assert (done.status_code, done.json()) == (200, {"status": "ok"})
        assert "x-cpa-version" not in done.headers
    assert mgmt.get("/get-auth-status", params={"state": state}).json() == {"status": "ok"}
    entry = mgmt.get("/auth-files").json()["files"][0]
    assert (entry["name"], entry["provider"], entry["email"]) == (
        "claude-z@x.io.json",
        "claude",
        "z@x.io",
    )


@pytest.mark.parametrize(
    ("plan", "name"),
    [
        ("plus", "codex-a@x.io-plus.json"),
        ("Pro Lite", "codex-a@x.io-pro-lite.json"),
        ("", "codex-a@x.io.json"),
        ("team", "codex-23d1c36f-a@x.io-team.json"),  # sha256("acct-team-1")[:8]
    ],
)
def test_codex_file_named_as_cpa_names_it(emulator: Emulator, mgmt, plan, name) -> None:
    emulator.set_oauth(email="a@x.io", plan=plan, account_id="acct-team-1", take_delay=0)
    state = mgmt.get("/codex-auth-url").json()["state"]
    assert _callback(mgmt, "codex", state).status_code == 200
    assert mgmt.get("/get-auth-status", params={"state": state}).json() == {"status": "ok"}
    [entry] = mgmt.get("/auth-files").json()["files"]
    assert entry["name"] == name
    assert entry["id_token"]["chatgpt_account_id"] == "acct-team-1"


def test_relogin_rewrites_the_same_file(emulator: Emulator, mgmt) -> None:
    emulator.set_oauth(take_delay=0)
    seen = []
    for _ in range(2):
        state = mgmt.get("/codex-auth-url").json()["state"]
        _callback(mgmt, "openai", state)
        assert mgmt.get("/get-auth-status", params={"state": state}).json() == {"status": "ok"}
        [entry] = mgmt.get("/auth-files").json()["files"]
        seen.append((entry["name"], entry["modtime"], emulator.read_auth_file(entry["name"])))
    assert seen[0][0] == seen[1][0] == "codex-user@example.com-plus.json"
    assert seen[1][1] > seen[0][1]
    assert seen[0][2]["access_token"] != seen[1][2]["access_token"]


def test_callback_is_taken_by_the_poller_after_a_delay(emulator: Emulator, mgmt) -> None:
    emulator.set_oauth(take_delay=0.3)
    state = mgmt.get("/codex-auth-url").json()["state"]
    assert _callback(mgmt, "codex", state).status_code == 200
    assert mgmt.get("/get-auth-status", params={"state": state}).json() == {"status": "wait"}
    time.sleep(0.35)
    assert mgmt.get("/auth-files").json()["files"][0]["provider"] == "codex"
    assert mgmt.get("/get-auth-status", params={"state": state}).json() == {"status": "ok"}


def test_callback_error_fails_the_login(emulator: Emulator, mgmt) -> None:
    emulator.set_oauth(take_delay=0)
    failing = mgmt.get("/antigravity-auth-url").json()["state"]
    answer = mgmt.get("/oauth-callback", params={"state": failing, "error": "access_denied"})
    assert answer.status_code == 200
    assert mgmt.get("/get-auth-status", params={"state": failing}).json() == {
        "error": "Authentication failed: access_denied",
        "status": "error",
    }
    assert mgmt.get("/auth-files").json()["files"] == []


def test_callback_timeout_and_session_life(emulator: Emulator, mgmt) -> None:
    emulator.set_oauth(callback_timeout=0.2, finished_ttl=0.4)
    codex = mgmt.get("/codex-auth-url").json()["state"]
    anti = mgmt.get("/antigravity-auth-url").json()["state"]
    time.sleep(0.25)
    assert mgmt.get("/get-auth-status", params={"state": codex}).json() == {
        "error": "Timeout waiting for OAuth callback",
        "status": "error",
    }
    assert mgmt.get("/get-auth-status", params={"state": anti}).json()["error"] == (
        "OAuth flow timed out"
    )
    late = _callback(mgmt, "codex", codex)
    assert (late.status_code, late.json()["error"]) == (409, "Timeout waiting for OAuth callback")
    time.sleep(0.45)  # a finished session is forgotten after finished_ttl
    assert mgmt.get("/get-auth-status", params={"state": codex}).json()["error"] == (
        "unknown or expired state"
    )
    emulator.set_oauth(session_ttl=0.2, callback_timeout=300)
    state = mgmt.get("/codex-auth-url").json()["state"]
    time.sleep(0.25)
    assert _callback(mgmt, "codex", state).status_code == 404  # the session's 30 minutes


def test_device_flows_complete_through_the_control_api(emulator: Emulator, mgmt) -> None:
    for provider, prefix in (("kimi", "kmi-"), ("xai", "xai-")):
        body = mgmt.get(f"/{provider}-auth-url").json()
        assert body["flow"] == "device" and body["user_code"] and body["expires_in"] == 600
        assert body["url"].startswith("https://") and body["state"].startswith(prefix)
        assert mgmt.get("/get-auth-status", params={"state": body["state"]}).json() == {
            "status": "wait"
        }
        with client(emulator.url) as control:
            approved = control.post(
                "/_emulator/oauth/approve",
                json={"user_code": body["user_code"], "email": "d@x.io"},
            )
        assert approved.status_code == 200
        assert mgmt.get("/get-auth-status", params={"state": body["state"]}).json() == {
            "status": "ok"
        }
        name = approved.json()["file"]
        assert name == "xai-d@x.io.json" if provider == "xai" else name.startswith("kimi-")
        assert name in {f["name"] for f in mgmt.get("/auth-files").json()["files"]}


def test_device_flow_denied_expired_and_cancelled(emulator: Emulator, mgmt) -> None:
    denied = mgmt.get("/xai-auth-url").json()
    emulator.approve_device_login(state=denied["state"], deny=True)
    assert mgmt.get("/get-auth-status", params={"state": denied["state"]}).json() == {
        "error": "access denied",
        "status": "error",
    }
    emulator.set_oauth(device_expires_in=0)
    expired = mgmt.get("/kimi-auth-url").json()
    assert mgmt.get("/get-auth-status", params={"state": expired["state"]}).json()["status"] == (
        "error"
    )
    emulator.set_oauth(device_expires_in=600)
    state = mgmt.get("/kimi-auth-url").json()["state"]
    assert mgmt.delete("/oauth-session", params={"state": state}).json() == {
        "cancelled": True,
        "status": "ok",
    }
    with pytest.raises(KeyError):
        emulator.approve_device_login(state=state)


def test_control_api_refuses_bad_oauth_settings(emulator: Emulator) -> None:
    with client(emulator.url) as control:
        assert control.post("/_emulator/oauth", json={"nope": 1}).status_code == 400
        assert control.post("/_emulator/oauth", json={"offline": "yes"}).status_code == 400
        assert control.post("/_emulator/oauth", json={"session_ttl": -1}).status_code == 400
        assert control.post("/_emulator/oauth", json={"offline": True}).status_code == 200
        assert emulator.oauth_sessions() == []


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
