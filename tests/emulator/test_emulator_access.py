"""Access control: key headers, the failed-attempt ban, remote access, management off."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from emulator_support import AUTH, KEY, client

from reconciler.emulator import Emulator

BANNED = re.compile(r"IP banned due to too many failed attempts\. Try again in (\d+m)?\d+s")


def test_key_header_forms(emulator: Emulator) -> None:
    forms = [
        {"Authorization": f"Bearer {KEY}"},
        {"Authorization": f"bearer {KEY}"},
        {"Authorization": KEY},
        {"X-Management-Key": KEY},
        {"Authorization": "", "X-Management-Key": KEY},
    ]
    with client(emulator.management_url) as http:
        for headers in forms:
            assert http.get("/debug", headers=headers).status_code == 200, headers
        assert http.get("/debug", headers={"Authorization": f"Token {KEY}"}).status_code == 401


def test_five_failures_ban_even_the_right_key(emulator_factory: Callable[..., Emulator]) -> None:
    emu = emulator_factory(ban_window=1.5)
    with client(emu.management_url) as http:
        assert http.get("/debug").status_code == 401
        for _ in range(4):
            assert http.get("/debug", headers={"X-Management-Key": "nope"}).status_code == 401
        banned = http.get("/debug", headers=AUTH)
        assert banned.status_code == 403
        assert BANNED.fullmatch(banned.json()["error"])
        assert banned.headers["x-cpa-version"] == "v7.2.140"
        time.sleep(1.6)
        assert http.get("/debug", headers=AUTH).status_code == 200


def test_missing_key_alone_counts_and_ban_message_uses_go_duration(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emu = emulator_factory()
    with client(emu.management_url) as http:
        for _ in range(5):
            assert http.get("/config").json() == {"error": "missing management key"}
        message = http.get("/config", headers=AUTH).json()["error"]
    assert message in (
        "IP banned due to too many failed attempts. Try again in 30m0s",
        "IP banned due to too many failed attempts. Try again in 29m59s",
    )
    emu.unban()
    with client(emu.management_url, headers=AUTH) as http:
        assert http.get("/config").status_code == 200


def test_success_resets_the_failure_counter(emulator: Emulator) -> None:
    with client(emulator.management_url) as http:
        for _ in range(2):
            for _ in range(4):
                assert http.get("/debug").status_code == 401
            assert http.get("/debug", headers=AUTH).status_code == 200
        assert http.get("/debug", headers=AUTH).status_code == 200


def test_ban_is_per_client_ip_from_forwarded_headers(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emu = emulator_factory(allow_remote=True)
    spoofed = {"X-Forwarded-For": "198.51.100.7, 10.0.0.1"}
    with client(emu.management_url) as http:
        for _ in range(5):
            assert http.get("/debug", headers=spoofed).status_code == 401
        assert http.get("/debug", headers={**spoofed, **AUTH}).status_code == 403
        assert http.get("/debug", headers={"X-Real-IP": "198.51.100.7", **AUTH}).status_code == 403
        assert http.get("/debug", headers=AUTH).status_code == 200
    assert {r.client_ip for r in emu.requests()} == {"198.51.100.7", "127.0.0.1"}


def test_remote_client_refused_unless_allowed(emulator: Emulator) -> None:
    remote = {"X-Forwarded-For": "203.0.113.9", **AUTH}
    with client(emulator.management_url) as http:
        for _ in range(6):
            answer = http.get("/config", headers=remote)
            assert (answer.status_code, answer.json()) == (
                403,
                {"error": "remote management disabled"},
            )
            assert answer.headers["x-cpa-version"] == "v7.2.140"
        assert http.get("/config", headers=AUTH).status_code == 200
        text = http.get("/config.yaml", headers=AUTH).text
        emulator.set_config_yaml(text.replace("allow-remote: false", "allow-remote: true"))
        assert http.get("/config", headers=remote).status_code == 200


def test_management_disabled_without_key(emulator_factory: Callable[..., Emulator]) -> None:
    emu = emulator_factory(management_key=None)
    with client(emu.url) as http:
        for path in ("/v0/management/config", "/v0/management/unknown", "/v0/management"):
            answer = http.get(path, headers=AUTH)
            assert (answer.status_code, answer.content) == (404, b"")
            assert "x-cpa-version" not in answer.headers
            assert "content-type" not in answer.headers
        assert http.get("/healthz").status_code == 200


def test_clearing_the_secret_turns_management_off(emulator: Emulator, mgmt) -> None:
    text = mgmt.get("/config.yaml").text
    cleared = re.sub(r'secret-key: "[^"]*"', 'secret-key: ""', text)
    assert mgmt.put("/config.yaml", content=cleared).status_code == 200
    answer = mgmt.get("/config")
    assert (answer.status_code, answer.content) == (404, b"")


def test_plaintext_secret_rehashed_on_put_and_old_key_refused(mgmt) -> None:
    text = mgmt.get("/config.yaml").text
    old_hash = re.search(r'secret-key: "([^"]+)"', text)
    assert old_hash is not None
    new_text = text.replace(old_hash.group(1), "rotated-key")
    new_text = "# managed by tests\n" + new_text.replace("tls:", "tls:   # transport")
    assert mgmt.put("/config.yaml", content=new_text).status_code == 200
    stored = mgmt.get("/config.yaml", headers={"Authorization": "Bearer rotated-key"})
    assert stored.status_code == 200
    assert "rotated-key" not in stored.text
    new_hash = re.search(r'secret-key: "(\$2a\$10\$[^"]+)"', stored.text)
    assert new_hash is not None and new_hash.group(1) != old_hash.group(1)
    assert stored.text.startswith("# managed by tests\n# Minimal loopback-only config")
    assert "tls: # transport" in stored.text or "tls:   # transport" in stored.text
    assert mgmt.get("/config").status_code == 401


def test_out_of_band_plaintext_edit_is_rehashed(emulator: Emulator) -> None:
    text = emulator.config_yaml()
    edited = re.sub(r'secret-key: "[^"]*"', 'secret-key: "hand-edited"', text)
    emulator.set_config_yaml(edited)
    assert 'secret-key: "$2a$10$' in emulator.config_yaml()
    with client(emulator.management_url) as http:
        answer = http.get("/debug", headers={"Authorization": "Bearer hand-edited"})
        assert answer.status_code == 200


def test_file_edit_on_disk_is_picked_up_like_the_watcher(emulator: Emulator, mgmt) -> None:
    text = emulator.config_path.read_text()
    emulator.config_path.write_text(text.replace("debug: false", "debug: true"))
    assert mgmt.get("/debug").json() == {"debug": True}
