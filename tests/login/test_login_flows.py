"""``reconciler login`` end to end against the emulator over real HTTP, driven through a
pseudo-terminal as a person drives it (issue 13, must-shows 1-5)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from login_helpers import DESIRED, KEY, REPO, Session, approve, callback_for

from reconciler.emulator import Emulator

CODEX = "codex-alice@example.com-plus.json"
CALLBACK = ("POST", "/v0/management/oauth-callback")
CANCEL = ("DELETE", "/v0/management/oauth-session")


def _plan_exit(desired: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CPA_")}
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", str(desired), "--detailed-exitcode"],
        capture_output=True,
        text=True,
        env={**env, "CPA_MANAGEMENT_KEY": KEY, "NO_COLOR": "1"},
        cwd=REPO,
        timeout=60,
    )


def _paste_login(*args: str, cols: int = 40, delay: float = 0.0) -> Session:
    """A login whose callback address is pasted when asked, ``delay`` seconds late."""
    session = Session(*args, cols=cols)
    url = session.auth_url()
    session.wait_for("Paste the address")
    time.sleep(delay)
    session.type(callback_for(url) + "\n")
    return session


def test_codex_paste_flow_records_the_entry_and_plan_is_clean(emu: Emulator, desired: Path) -> None:
    original = desired.read_text()
    session = Session("codex", "--desired", str(desired), "--note", "team-a", cols=40)
    url = session.auth_url()
    [pending] = emu.oauth_sessions()
    # the whole address on one line of its own on a 40-column terminal
    assert url.startswith("https://auth.openai.com/oauth/authorize?")
    assert url.endswith(f"&state={pending['state']}") and len(url) > 200
    session.wait_for("Paste the address")
    session.type(callback_for(url) + "\n")
    assert session.finish() == 0, session.output
    out = session.output
    assert f"Logged in: {CODEX} (provider codex, account alice@example.com)" in out
    assert f"{desired}: added an entry for it under auth-files.files" in out
    assert "Applied to " + CODEX + ": fields.note" in out
    # one entry more, every original line (comments, order, quoting) as it was
    assert desired.read_text() == original + (
        f"    - name: {CODEX}\n      fields:\n        note: team-a\n"
    )
    assert emu.read_auth_file(CODEX)["note"] == "team-a"
    plan = _plan_exit(desired)
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_relogin_is_found_and_the_entry_updated_not_duplicated(
    emu: Emulator, desired: Path
) -> None:
    first = _paste_login("codex", "--desired", str(desired), "--note", "team-a")
    assert first.finish() == 0, first.output
    before = (emu.auth_dir / CODEX).stat().st_mtime_ns
    time.sleep(0.05)
    second = _paste_login("codex", "--desired", str(desired), "--priority", "5", "--disabled")
    assert second.finish() == 0, second.output
    assert f"Logged in: {CODEX} " in second.output
    assert "a re-login: the same file, rewritten" in second.output
    assert "updated its entry under auth-files.files" in second.output
    assert (emu.auth_dir / CODEX).stat().st_mtime_ns > before
    text = desired.read_text()
    assert text.count(f"name: {CODEX}") == 1
    assert f"    - name: {CODEX}\n      fields:\n        note: team-a\n        priority: 5\n" in (
        text.replace("      disabled: true\n", "")
    )
    data = emu.read_auth_file(CODEX)
    # the rewrite dropped the note; login put back what the entry declares
    assert (data["note"], data["priority"], data["disabled"]) == ("team-a", 5, True)
    assert _plan_exit(desired).returncode == 0


def test_device_flow_shows_the_code_and_completes_through_the_control_api(
    emu: Emulator, desired: Path
) -> None:
    session = Session("grok", "--desired", str(desired), cols=40)
    code = session.wait_for(r"Code to enter if asked: ([A-Z0-9]{4}-[A-Z0-9]{4})").group(1)
    session.wait_for(r"valid for 10 minutes \(until \d\d:\d\d\)")
    session.wait_for("Waiting for the approval")
    assert approve(emu.url, code).status_code == 200
    assert session.finish() == 0, session.output
    assert "Logged in: xai-alice@example.com.json (provider xai" in session.output
    assert "name: xai-alice@example.com.json" in desired.read_text()
    assert _plan_exit(desired).returncode == 0


def test_wrong_state_is_refused_before_any_request(emu: Emulator) -> None:
    session = Session("codex", "--url", emu.url, "--no-browser")
    url = session.auth_url()
    wrong = callback_for(url).replace("state=", "state=0000")
    for _ in range(3):
        session.wait_for("Paste the address")
        session.type(wrong + "\n")
    assert session.finish() == 1, session.output
    out = session.output
    assert out.count("the pasted address belongs to another login") == 3
    assert "nothing was sent to CPA" in out
    assert "Cancelled the login session on CPA." in out
    counts = emu.request_counts()
    assert counts[CALLBACK] == 0
    assert counts[CANCEL] == 1
    assert emu.oauth_sessions() == []


@pytest.mark.parametrize(
    ("oauth", "says"),
    [
        (
            {"session_ttl": 1},
            (
                "CPA does not know this login any more",
                "the session expired (CPA keeps one 30 minutes",
            ),
        ),
        (
            {"callback_timeout": 1},
            ("this login is already finished on CPA", "Timeout waiting for OAuth callback"),
        ),
    ],
    ids=["expired-session", "callback-timeout-on-cpa"],
)
def test_a_late_paste_is_explained(
    emu: Emulator, oauth: dict[str, int], says: tuple[str, str]
) -> None:
    emu.set_oauth(**oauth)
    session = _paste_login("codex", "--url", emu.url, delay=1.2)
    assert session.finish() == 1, session.output
    for text in says:
        assert text in session.output


def test_ctrl_c_mid_poll_cancels_the_session(emu: Emulator) -> None:
    emu.set_oauth(take_delay=600)  # CPA never finishes
    session = _paste_login("codex", "--url", emu.url)
    session.wait_for("waiting for it to finish")
    time.sleep(0.5)
    session.interrupt()
    assert session.finish() == 130, session.output
    assert "Cancelled the login session on CPA." in session.output
    assert "Login interrupted." in session.output
    assert emu.request_counts()[CANCEL] == 1
    assert emu.oauth_sessions() == []
    assert not list(emu.auth_dir.glob("codex-*"))


def test_deadline_cancels_the_session(emu: Emulator) -> None:
    emu.set_oauth(take_delay=600)
    session = _paste_login("codex", "--url", emu.url, "--timeout", "3")
    assert session.finish() == 1, session.output
    assert "did not finish in time (--timeout 3); it was cancelled on CPA" in session.output
    assert emu.oauth_sessions() == []


def test_failed_login_shows_cpas_error(emu: Emulator) -> None:
    emu.set_oauth(offline=True)
    session = _paste_login("openai", "--url", emu.url)
    assert session.finish() == 1, session.output
    assert "CPA reports the codex login failed: Failed to exchange authorization code" in (
        session.output
    )


def test_unsupported_and_unknown_providers_start_nothing(emu: Emulator) -> None:
    for provider, words in (
        ("kiro", r"CPA v7\.2\.140 does not serve the 'kiro' login .*CLIProxyAPIPlus"),
        ("gemini-cli", r"CPA v7\.2\.140 does not serve the 'gemini-cli' login"),
        ("nosuch", r"unknown login provider 'nosuch' for CPA v7\.2\.140"),
    ):
        session = Session(provider, "--url", emu.url)
        assert session.finish() == 1, session.output
        assert re.search(words, session.output), session.output
        assert "No login was started" in session.output or "no login was started" in (
            session.output
        )
    assert emu.oauth_sessions() == []
    assert emu.request_counts()[CALLBACK] == 0


def test_offline_device_start_is_explained(emu: Emulator) -> None:
    emu.set_oauth(offline=True)
    for provider in ("xai", "kimi"):
        session = Session(provider, "--url", emu.url)
        assert session.finish() == 1, session.output
        out = " ".join(session.output.split())
        assert f"could not start the {provider} device login (it answered 500" in out
        assert "CPA asks the provider for a device code itself" in out
        assert "No login was started" in out


def test_callback_url_from_standard_input(emu: Emulator, tmp_path: Path) -> None:
    """The scripted way: read the address line from stdout, write the callback on stdin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CPA_", "DISPLAY"))}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "login",
            "codex",
            "--url",
            emu.url,
            "--callback-url",
            "-",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "CPA_MANAGEMENT_KEY": KEY},
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stdin is not None
    url = ""
    while not url.startswith("https://"):
        url = proc.stdout.readline().strip()
    proc.stdin.write(callback_for(url) + "\n")
    proc.stdin.flush()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert f"Logged in: {CODEX}" in out


def test_desired_file_without_auth_files_section(emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(f"# mine\ntarget:\n  url: {emu.url}\n")
    session = _paste_login("codex", "--desired", str(path))
    assert session.finish() == 0, session.output
    assert path.read_text() == (
        f"# mine\ntarget:\n  url: {emu.url}\nauth-files:\n  files:\n  - name: {CODEX}\n"
    )
    assert DESIRED  # the richer file is the fixture's


def test_webui_lets_cpa_take_the_redirect(emu: Emulator) -> None:
    session = Session("claude", "--url", emu.url, "--webui")
    url = session.auth_url()
    session.wait_for("Press Enter once the browser says the login is done")
    # CPA's forwarder on the provider's port hands the redirect to CPA itself
    with httpx.Client(base_url=emu.management_url, timeout=10) as forwarder:
        query = parse_qs(urlsplit(url).query)
        assert (
            forwarder.get(
                "/oauth-callback", params={"state": query["state"][0], "code": "fwd"}
            ).status_code
            == 200
        )
    session.type("\n")
    assert session.finish() == 0, session.output
    assert "Logged in: claude-alice@example.com.json (provider claude" in session.output
    starts = [r for r in emu.requests() if r.path.endswith("/anthropic-auth-url")]
    assert [r.query for r in starts] == [{"is_webui": ["true"]}]
    counts = emu.request_counts()
    assert counts[CALLBACK] == 0  # login sent none
    assert counts[("GET", "/v0/management/oauth-callback")] == 1  # the forwarder's


def test_callback_url_finishes_a_login_started_elsewhere(emu: Emulator) -> None:
    with httpx.Client(
        base_url=emu.management_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    ) as web_ui:
        url = web_ui.get("/codex-auth-url").json()["url"]
    session = Session("codex", "--url", emu.url, "--callback-url", callback_for(url))
    assert session.finish() == 0, session.output
    assert "Finishing the codex login started earlier" in session.output
    assert f"Logged in: {CODEX}" in session.output
    assert emu.request_counts()[("GET", "/v0/management/codex-auth-url")] == 1  # the web UI's
