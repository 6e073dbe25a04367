"""``reconciler status --quota`` against the emulator and the fake provider (must-shows 1 and 2).

Every provider's payload gives the windows, percents and resets it should; every failure mode
gives its class while the other credentials still report; the fake provider received each
credential's own token (and codex's account id); no request went anywhere forbidden; no token,
refresh token or key appears in any output.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fake_provider import FakeProvider, expected
from quota_helpers import KEY, Status, codex_file, simple_file

from reconciler.emulator import Emulator
from reconciler.quota.recipes import FORBIDDEN

GOOD = {
    "codex-ok.json": ("codex", codex_file("tok-codex-ok", account_id="acct-777")),
    "claude-ok.json": ("claude", simple_file("claude", "tok-claude-ok")),
    "antigravity-ok.json": (
        "antigravity",
        simple_file("antigravity", "tok-anti-ok", project_id="proj-9"),
    ),
    "gemini-ok.json": (
        "gemini-cli",
        simple_file("gemini-cli", "tok-gemini-ok", project_id="gproj-1"),
    ),
    "kimi-ok.json": ("kimi", simple_file("kimi", "tok-kimi-ok")),
    "xai-ok.json": ("xai", simple_file("xai", "tok-xai-ok")),
    "kiro-ok.json": ("kiro", simple_file("kiro", "tok-kiro-ok")),
    "copilot-ok.json": ("github-copilot", simple_file("github-copilot", "tok-copilot-ok")),
}
# file name -> (fake mode, expected class, expected upstream status)
FAILING = {
    "codex-401.json": ("401", "auth_invalid", 401),
    "codex-403.json": ("403", "auth_invalid", 403),
    "kiro-suspended.json": ("kiro-suspended", "suspended", 403),
    "codex-429.json": ("429", "rate_limited", 429),
    "codex-500.json": ("500", "upstream_error", 500),
    "codex-timeout.json": ("timeout", "cpa_error", 502),
    "codex-html.json": ("html", "schema_error", None),
    "codex-shape.json": ("wrong-shape", "schema_error", None),
    "claude-echo.json": ("echo", "auth_invalid", 401),
}


def _token(name: str) -> str:
    return "tok-" + name.removesuffix(".json")


def _populate(emu: Emulator, fake: FakeProvider) -> None:
    for name, (_, data) in GOOD.items():
        emu.write_auth_file(name, data)
    for name, (mode, _, _) in FAILING.items():
        token = _token(name)
        provider = name.split("-")[0]
        data = codex_file(token) if provider == "codex" else simple_file(provider, token)
        emu.write_auth_file(name, data)
        fake.behave(token, mode)
    emu.write_auth_file("vertex-x.json", simple_file("vertex", "tok-vertex"))
    emu.write_auth_file("codex-off.json", {**codex_file("tok-codex-off"), "disabled": True})


def _rows(out: str) -> dict[str, dict[str, Any]]:
    doc = json.loads(out)
    assert doc["format_version"] == "1.0"
    return {row["name"]: row for row in doc["credentials"]}


def _planted(emu: Emulator) -> list[str]:
    values = [KEY]
    for path in emu.auth_dir.glob("*.json"):
        data = json.loads(path.read_text())
        values += [str(data[k]) for k in ("access_token", "refresh_token", "id_token") if k in data]
    return values


def test_every_provider_and_every_failure_mode(
    quota_emulator: Emulator, fake: FakeProvider, status: Status
) -> None:
    emu = quota_emulator
    _populate(emu, fake)
    result = status("--url", emu.url, "--quota", "--json", *fake.endpoints())
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    want = expected(fake.now)
    for name, (provider, _) in GOOD.items():
        row = rows[name]
        assert row["provider"] == provider
        assert row["quota"]["error"] is None, (name, row["quota"])
        got = {w["id"]: (w["used_percent"], w["resets_at"]) for w in row["quota"]["windows"]}
        assert got == {
            wid: (percent, _iso(reset)) for wid, (percent, reset) in want[provider].items()
        }, name
    assert rows["codex-ok.json"]["plan"] == "plus"
    assert rows["kiro-ok.json"]["plan"] == "KIRO PRO"
    for name, (_, cls, code) in FAILING.items():
        error = rows[name]["quota"]["error"]
        assert error is not None and error["class"] == cls, (name, error)
        assert error["status_code"] == code, (name, error)
    assert rows["kiro-suspended.json"]["quota"]["error"]["detail"].startswith(
        "TEMPORARILY_SUSPENDED"
    )
    assert rows["vertex-x.json"]["quota"]["error"]["class"] == "unsupported"
    assert rows["codex-off.json"]["quota"] == {
        "read": False,
        "note": "disabled: not read",
        "windows": [],
        "error": None,
    }
    assert not fake.requests_for("tok-codex-off")
    assert not fake.requests_for("tok-vertex")
    # one listing, one api-call per enabled supported credential (xai reads two endpoints),
    # and one more listing because some calls looked dead (a file deleted meanwhile is gone)
    doc = json.loads(result.stdout)
    enabled = len(GOOD) + len(FAILING)
    assert doc["summary"]["requests"] == {"auth_files": 2, "api_call": enabled + 1}
    assert emu.request_counts()[("POST", "/v0/management/api-call")] == enabled + 1
    assert emu.request_counts()[("GET", "/v0/management/auth-files")] == 2


def test_the_provider_got_each_credentials_own_token_and_nothing_forbidden(
    quota_emulator: Emulator, fake: FakeProvider, status: Status
) -> None:
    emu = quota_emulator
    _populate(emu, fake)
    assert status("--url", emu.url, "--quota", "--json", *fake.endpoints()).returncode == 0
    tokens = {json.loads(p.read_text())["access_token"] for p in emu.auth_dir.glob("*.json")}
    assert fake.seen
    for seen in fake.seen:
        assert seen.headers["authorization"] == f"Bearer {seen.token}"
        assert seen.token in tokens  # never the literal $TOKEN$
        assert "$TOKEN$" not in seen.path + seen.query + seen.body
    codex = fake.requests_for("tok-codex-ok")
    assert [s.headers.get("chatgpt-account-id") for s in codex] == ["acct-777"]
    assert all(
        s.headers.get("chatgpt-account-id") == "acct-1111"
        for s in fake.requests_for("tok-codex-401")
    )
    assert fake.requests_for("tok-claude-ok")[0].headers["anthropic-beta"] == "oauth-2025-04-20"
    assert fake.unexpected == []
    for seen in fake.seen:
        url = f"https://upstream{seen.path}" + (f"?{seen.query}" if seen.query else "")
        assert not any(p.search(url) for p in FORBIDDEN), url


def test_no_token_or_key_in_any_output(
    quota_emulator: Emulator, fake: FakeProvider, status: Status
) -> None:
    emu = quota_emulator
    _populate(emu, fake)
    emu.set_auth_state(
        "claude-ok.json", status="error", status_message="refresh failed: Bearer tok-claude-ok"
    )
    planted = _planted(emu)
    outputs = []
    for extra in ([], ["--json"]):
        result = status("--url", emu.url, "--quota", *extra, *fake.endpoints())
        outputs += [result.stdout, result.stderr]
    text = "\n".join(outputs)
    assert "claude-echo.json" in text and "Bearer ***" in text
    leaked = [value for value in planted if value in text]
    assert leaked == []


def test_antigravity_falls_back_over_its_hosts_then_to_fetch_available_models(
    quota_emulator: Emulator, fake: FakeProvider, status: Status
) -> None:
    emu = quota_emulator
    emu.write_auth_file(
        "antigravity-old.json", simple_file("antigravity", "tok-anti-old", project_id="p")
    )
    fake.behave("tok-anti-old", "404", only="retrieveUserQuotaSummary")
    result = status("--url", emu.url, "--quota", "--json", *fake.endpoints("antigravity"))
    row = _rows(result.stdout)["antigravity-old.json"]
    want = expected(fake.now)["antigravity-models"]
    assert {w["id"]: w["used_percent"] for w in row["quota"]["windows"]} == {
        k: v[0] for k, v in want.items()
    }
    paths = [s.path for s in fake.requests_for("tok-anti-old")]
    assert paths == ["/v1internal:retrieveUserQuotaSummary"] * 3 + [
        "/v1internal:fetchAvailableModels"
    ]


def test_detailed_exitcode_and_filters(
    quota_emulator: Emulator, fake: FakeProvider, status: Status
) -> None:
    emu = quota_emulator
    emu.write_auth_file("codex-ok.json", codex_file("tok-codex-ok"))
    emu.write_auth_file("claude-ok.json", simple_file("claude", "tok-claude-ok"))
    ok = status("--url", emu.url, "--quota", "--detailed-exitcode", *fake.endpoints())
    assert ok.returncode == 0, ok.stdout + ok.stderr
    payload = {"rate_limit": {"limit_reached": True, "primary_window": {"reset_after_seconds": 60}}}
    fake.set_payload("tok-codex-ok", "codex", payload)
    full = status("--url", emu.url, "--quota", "--detailed-exitcode", *fake.endpoints())
    assert full.returncode == 2
    assert re.search(r"five hour\s+100%", full.stdout)
    only = status("--url", emu.url, "--quota", "--json", "--provider", "claude", *fake.endpoints())
    assert list(_rows(only.stdout)) == ["claude-ok.json"]
    named = status("--url", emu.url, "--json", "--name", "codex-*")
    assert list(_rows(named.stdout)) == ["codex-ok.json"]
    emu.set_auth_state("claude-ok.json", unavailable=True, next_retry_after=600)
    cooling = status("--url", emu.url, "--detailed-exitcode", "--provider", "claude")
    assert cooling.returncode == 2 and "unavailable" in cooling.stdout
    assert "retry in 10m" in cooling.stdout or "retry in 9m" in cooling.stdout


def test_a_refused_management_key_stops_every_call(
    quota_emulator: Emulator, fake: FakeProvider, status: Status
) -> None:
    emu = quota_emulator
    for i in range(20):
        emu.write_auth_file(f"codex-{i:02}.json", codex_file(f"tok-{i:02}"))
    emu.inject_fault("POST", "/api-call", status=401, body={"error": "invalid management key"})
    result = status("--url", emu.url, "--quota", "--quota-concurrency", "4", *fake.endpoints())
    assert result.returncode == 1
    assert "401" in result.stderr
    sent = emu.request_counts()[("POST", "/v0/management/api-call")]
    assert 1 <= sent <= 4  # at most the calls already in flight; none after the 401


def test_bad_quota_flags_are_usage_errors(status: Status) -> None:
    for flag in ("nope=http://127.0.0.1:1", "codex=ftp://x", "codex"):
        result = status("--url", "http://127.0.0.1:9", "--quota-endpoint", flag)
        assert result.returncode == 1 and "--quota-endpoint" in result.stderr
    result = status("--url", "http://127.0.0.1:9", "--quota-concurrency", "0")
    assert result.returncode == 1


def _iso(seconds: float | None) -> str | None:
    import time

    return None if seconds is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
