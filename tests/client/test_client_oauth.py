"""OAuth login endpoints and tool endpoints (api-call, reset-quota) against the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler import errors
from reconciler.client.management import ManagementClient


@pytest.mark.parametrize("provider", ["codex", "anthropic", "claude", "antigravity"])
def test_browser_login_start_and_status(client: ManagementClient, provider: str) -> None:
    start = client.start_oauth(provider)
    assert start.url and start.url.startswith("http")
    assert start.auth_url == start.url
    assert start.state
    assert client.get_oauth_status(start.state).status == "wait"


@pytest.mark.parametrize("provider", ["kimi", "xai"])
def test_device_login_start(client: ManagementClient, provider: str) -> None:
    start = client.start_oauth(provider)
    assert start.flow == "device"
    assert start.user_code
    assert start.expires_in and start.expires_in > 0
    assert start.state


def test_start_is_never_retried(client: ManagementClient, emulator: Any, sent: Any) -> None:
    emulator.inject_fault("GET", "/codex-auth-url", status=500, body='{"error":"boom"}')
    emulator.reset_requests()
    with pytest.raises(errors.ServerError):
        client.start_oauth("codex")
    assert len(sent(emulator, "GET", "/codex-auth-url")) == 1


@pytest.mark.parametrize("provider", ["kiro", "copilot", "gemini-cli", "no-such-provider"])
def test_provider_not_served_is_unsupported(client: ManagementClient, provider: str) -> None:
    with pytest.raises(errors.UnsupportedError) as caught:
        client.start_oauth(provider)
    assert caught.value.status == 404
    assert provider in str(caught.value)
    assert not client.halted


def test_provider_that_is_no_name_is_refused_without_sending(
    client: ManagementClient, emulator: Any
) -> None:
    emulator.reset_requests()
    with pytest.raises(errors.UnsupportedError):
        client.start_oauth("../config")
    assert emulator.requests() == []


def test_cancel_login(client: ManagementClient) -> None:
    start = client.start_oauth("codex")
    assert start.state
    result = client.cancel_oauth(start.state)
    assert result.cancelled is True
    status = client.get_oauth_status(start.state)
    assert status.status == "error" and status.error


def test_unknown_state_is_an_error_status(client: ManagementClient) -> None:
    status = client.get_oauth_status("unknown-state-123")
    assert status.status == "error"


def test_callback_with_unknown_state_is_not_found(client: ManagementClient) -> None:
    url = "http://localhost:1455/auth/callback?code=abc&state=unknown-state-123"
    with pytest.raises(errors.NotFoundError):
        client.submit_oauth_callback("codex", url)


def test_callback_completes_a_login(client: ManagementClient) -> None:
    start = client.start_oauth("codex")
    url = f"http://localhost:1455/auth/callback?code=abc&state={start.state}"
    assert client.submit_oauth_callback("codex", url).status == "ok"


def test_api_call_through_the_server(client: ManagementClient, emulator: Any) -> None:
    result = client.api_call("GET", f"{emulator.url}/healthz", header={"X-Test": "1"})
    assert result.status_code == 200
    assert result.json == {"status": "ok"}
    assert '"ok"' in result.body
    assert isinstance(result.headers, dict)
