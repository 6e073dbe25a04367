"""``reconciler login``: the authorization code, the state, the new tokens and the management
key appear in no output and no log (every logger at DEBUG, httpx's request lines included),
nor in the desired-state file it edits; the state shows only inside the address to open."""

from __future__ import annotations

import io
import os
import sys
import threading
import time

import pytest
from secrets_world import KEY, Cli, World, assert_no_leak, planted

from reconciler.emulator import Emulator


@pytest.fixture
def stdin_pipe(monkeypatch: pytest.MonkeyPatch):
    """Standard input as a pipe the test writes to; returns its write end."""
    read_end, write_end = os.pipe()
    reader = io.TextIOWrapper(os.fdopen(read_end, "rb"))
    monkeypatch.setattr(sys, "stdin", reader)
    yield write_end
    reader.close()


def _feed_callback(emu: Emulator, code: str, write_end: int) -> threading.Thread:
    """Play the person: once the login is pending, paste the address the browser ended on."""

    def paste() -> None:
        deadline = time.monotonic() + 20
        sessions: list[dict[str, str]] = []
        while not sessions and time.monotonic() < deadline:
            sessions = emu.oauth_sessions()
            time.sleep(0.05)
        state = sessions[0]["state"] if sessions else "none"
        address = f"http://localhost:1455/auth/callback?code={code}&state={state}\n"
        os.write(write_end, address.encode())
        os.close(write_end)

    thread = threading.Thread(target=paste, daemon=True)
    thread.start()
    return thread


def test_login_shows_and_logs_no_credential(world: World, cli: Cli, stdin_pipe: int) -> None:
    emu = world.emu
    emu.set_oauth(email="login@example.com", plan="plus", take_delay=0)
    code = planted("oauth-code")
    feeder = _feed_callback(emu, code, stdin_pipe)
    before = world.desired.read_text()
    run = cli("login", "codex", "--desired", world.desired, "--callback-url", "-", "--note", "ops")
    feeder.join(timeout=5)
    assert run.code == 0, run.everything
    name = "codex-login@example.com-plus.json"
    assert f"Logged in: {name}" in run.out
    everything = run.everything
    assert_no_leak("login output and logs", everything)
    assert code not in everything and KEY not in everything
    polls = [r for r in emu.requests() if r.path.endswith("/get-auth-status")]
    state = polls[0].query["state"][0]
    assert len(state) == 32
    with_state = [line for line in everything.splitlines() if state in line]
    assert len(with_state) == 1 and with_state[0].startswith("https://auth.openai.com/oauth/")
    assert "get-auth-status" in run.logged  # the request line is logged, its state masked
    data = emu.read_auth_file(name)
    for field in ("access_token", "refresh_token", "id_token"):
        assert data[field] not in everything, field
    text = world.desired.read_text()
    assert text != before and f"- name: {name}" in text
    for secret in (code, state, data["access_token"], data["refresh_token"]):
        assert secret not in text


def test_refused_callback_names_no_credential(world: World, cli: Cli) -> None:
    code, state = planted("oauth-code"), planted("state")
    address = f"http://localhost:1455/auth/callback?code={code}&state={state}"
    run = cli("login", "codex", "--callback-url", address)
    assert run.code == 1
    assert "CPA does not know this login any more" in run.err
    assert_no_leak("a refused callback", run.everything)


def test_failed_login_error_text_is_masked(world: World, cli: Cli, stdin_pipe: int) -> None:
    world.emu.set_oauth(offline=True, take_delay=0)
    code = planted("oauth-code")
    feeder = _feed_callback(world.emu, code, stdin_pipe)
    run = cli("login", "codex", "--callback-url", "-")
    feeder.join(timeout=5)
    assert run.code == 1
    assert "CPA reports the codex login failed" in run.err
    assert_no_leak("a failed login", run.everything)
