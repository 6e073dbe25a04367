"""The OAuth answers of a real CPA v7.2.140, case by case, as recorded on 2026-12-05 on a
loopback server without internet (``observed-v7.2.140.md``, "api-call and OAuth answers",
table "OAuth": 17 rows, one test each, in the table's order).

The recording server was offline: its device flows could not start and its code exchange
failed. The emulator plays that with ``set_oauth(offline=True)`` where a row depends on it;
by default it completes logins instead (tests/emulator/test_emulator_oauth_tools.py).
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
from emulator_support import client

from reconciler.emulator import Emulator

UNKNOWN = {"error": "unknown or expired state", "status": "error"}


@pytest.fixture
def keyless(emulator: Emulator):
    with client(emulator.management_url) as http:
        yield http


def _pending(mgmt, provider: str = "codex") -> str:
    state = mgmt.get(f"/{provider}-auth-url").json()["state"]
    assert isinstance(state, str)
    return state


@pytest.mark.parametrize("provider", ["codex", "anthropic", "antigravity"])
@pytest.mark.parametrize("webui", [False, True])
def test_01_redirect_auth_url(mgmt, provider: str, webui: bool) -> None:
    answer = mgmt.get(f"/{provider}-auth-url", params={"is_webui": "true"} if webui else None)
    assert answer.status_code == 200
    body = answer.json()
    assert sorted(body) == ["state", "status", "url"]
    assert body["status"] == "ok"
    assert re.fullmatch(r"[0-9a-f]{32}", body["state"])
    assert body["url"].startswith("https://")
    query = parse_qsl(urlsplit(body["url"]).query)
    assert query[-1] == ("state", body["state"])  # the URL's last parameter
    assert answer.headers["x-cpa-version"] == "v7.2.140"


def test_02_xai_auth_url_offline(emulator: Emulator, mgmt) -> None:
    emulator.set_oauth(offline=True)
    answer = mgmt.get("/xai-auth-url")
    assert (answer.status_code, answer.json()) == (
        500,
        {"error": "failed to start device authorization flow"},
    )
    assert emulator.oauth_sessions() == []


def test_03_kimi_auth_url_offline(emulator: Emulator, mgmt) -> None:
    emulator.set_oauth(offline=True)
    answer = mgmt.get("/kimi-auth-url")
    assert (answer.status_code, answer.json()) == (
        500,
        {"error": "failed to generate authorization url"},
    )


def test_04_gemini_cli_auth_url_removed(mgmt) -> None:
    answer = mgmt.get("/gemini-cli-auth-url")
    assert (answer.status_code, answer.content) == (404, b"")
    assert answer.headers["x-cpa-version"] == "v7.2.140"  # authenticated: the plugin route


def test_05_status_without_state_is_ok(mgmt) -> None:
    _pending(mgmt)
    assert mgmt.get("/get-auth-status").json() == {"status": "ok"}


def test_06_status_pending(mgmt) -> None:
    state = _pending(mgmt)
    answer = mgmt.get("/get-auth-status", params={"state": state})
    assert (answer.status_code, answer.json()) == (200, {"status": "wait"})


def test_07_status_unknown_state(mgmt) -> None:
    answer = mgmt.get("/get-auth-status", params={"state": "abcdef0123"})
    assert (answer.status_code, answer.json()) == (200, UNKNOWN)


def test_08_status_invalid_state(mgmt) -> None:
    answer = mgmt.get("/get-auth-status", params={"state": "a/../b"})
    assert (answer.status_code, answer.json()) == (
        400,
        {"error": "invalid state", "status": "error"},
    )


def test_09_callback_unknown_state_keyless(keyless) -> None:
    url = "http://localhost:1455/auth/callback?code=x&state=0123456789abcdef0123456789abcdef"
    answer = keyless.post("/oauth-callback", json={"provider": "codex", "redirect_url": url})
    assert (answer.status_code, answer.json()) == (404, UNKNOWN)


def test_10_callback_without_state(keyless) -> None:
    answer = keyless.post("/oauth-callback", json={"provider": "codex", "code": "x"})
    assert (answer.status_code, answer.json()) == (
        400,
        {"error": "state is required", "status": "error"},
    )


def test_11_callback_without_code(mgmt, keyless) -> None:
    state = _pending(mgmt)
    answer = keyless.post("/oauth-callback", json={"provider": "codex", "state": state})
    assert (answer.status_code, answer.json()) == (
        400,
        {"error": "code or error is required", "status": "error"},
    )


def test_12_callback_provider_mismatch(mgmt, keyless) -> None:
    state = _pending(mgmt, "codex")
    url = f"http://localhost:54545/callback?code=x&state={state}"
    answer = keyless.post("/oauth-callback", json={"provider": "anthropic", "redirect_url": url})
    assert (answer.status_code, answer.json()) == (
        400,
        {"error": "provider does not match state", "status": "error"},
    )


def test_13_callback_unknown_provider_looks_up_state_first(mgmt, keyless) -> None:
    state = _pending(mgmt, "codex")
    url = f"http://localhost:1455/auth/callback?code=x&state={state}"
    answer = keyless.post("/oauth-callback", json={"provider": "nope", "redirect_url": url})
    assert (answer.status_code, answer.json()) == (
        400,
        {"error": "provider does not match state", "status": "error"},
    )
    unknown = url.replace(state, "f" * 32)
    answer = keyless.post("/oauth-callback", json={"provider": "nope", "redirect_url": unknown})
    assert answer.status_code == 404


def test_14_callback_accepted_twice_until_taken(emulator: Emulator, mgmt, keyless) -> None:
    emulator.set_oauth(take_delay=30)  # CPA's poller has not taken the first one yet
    state = _pending(mgmt)
    body = {
        "provider": "codex",
        "redirect_url": f"http://localhost:1455/auth/callback?code=x&state={state}",
    }
    first = keyless.post("/oauth-callback", json=body)
    second = keyless.post("/oauth-callback", json=body)
    assert (first.status_code, first.json()) == (200, {"status": "ok"})
    assert (second.status_code, second.json()) == (200, {"status": "ok"})
    assert "x-cpa-version" not in first.headers
    emulator.set_oauth(take_delay=0)
    assert mgmt.get("/get-auth-status", params={"state": state}).json() == {"status": "ok"}
    third = keyless.post("/oauth-callback", json=body)
    assert (third.status_code, third.json()) == (
        409,
        {"error": "oauth flow is already completed", "status": "error"},
    )


def test_15_offline_code_exchange_fails(emulator: Emulator, mgmt, keyless) -> None:
    emulator.set_oauth(offline=True)
    state = _pending(mgmt)
    url = f"http://localhost:1455/auth/callback?code=x&state={state}"
    keyless.post("/oauth-callback", json={"provider": "codex", "redirect_url": url})
    time.sleep(1)
    answer = mgmt.get("/get-auth-status", params={"state": state})
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "error"
    assert body["error"].startswith(
        "Failed to exchange authorization code for tokens: token exchange request failed: "
        'Post "https://auth.openai.com/oauth/token": dial tcp: lookup auth.openai.com'
    )
    assert body["error"].endswith("no such host")
    assert mgmt.get("/auth-files").json()["files"] == []
    again = keyless.post("/oauth-callback", json={"provider": "codex", "redirect_url": url})
    assert (again.status_code, again.json()) == (409, body)  # the failure's own text


def test_16_cancel_pending_session(mgmt) -> None:
    state = _pending(mgmt)
    first = mgmt.delete("/oauth-session", params={"state": state})
    assert (first.status_code, first.json()) == (200, {"cancelled": True, "status": "ok"})
    again = mgmt.delete("/oauth-session", params={"state": state})
    assert (again.status_code, again.json()) == (200, {"cancelled": False, "status": "ok"})
    assert mgmt.get("/get-auth-status", params={"state": state}).json() == UNKNOWN


def test_17_cancel_without_state(mgmt) -> None:
    answer = mgmt.delete("/oauth-session")
    assert (answer.status_code, answer.json()) == (
        400,
        {"error": "missing state", "status": "error"},
    )
