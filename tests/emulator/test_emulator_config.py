"""Config endpoints: PUT /config.yaml rules, scalar settings and /api-keys."""

from __future__ import annotations

import pytest
from emulator_support import client, hash_masked

from reconciler.emulator import Emulator


def _put(mgmt, text: str):
    return mgmt.put("/config.yaml", content=text.encode())


def test_put_writes_bytes_as_sent_with_comment_lines_dedented(mgmt) -> None:
    current = mgmt.get("/config.yaml").text
    body = current.replace("tls:\n", "tls:\n    # keep TLS off\n") + "unknown-typo-key: 1\n"
    assert _put(mgmt, body).status_code == 200
    stored = mgmt.get("/config.yaml").text
    assert stored == body.replace("    # keep TLS off", "# keep TLS off")
    assert "unknown-typo-key" not in mgmt.get("/config").json()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('debug: "not a boolean"\n', "line 1: cannot unmarshal !!str `not a b...` into bool"),
        ("tls: on-please\n", "line 1: cannot unmarshal !!str `on-please` into config.TLSConfig"),
        ("api-keys: {a: 1}\n", "line 1: cannot unmarshal !!map into []string"),
        ("port: 1\nrequest-retry: [1]\n", "line 2: cannot unmarshal !!seq into int"),
        (
            "openai-compatibility:\n  - name: x\n    api-key-entries: k\n",
            "line 3: cannot unmarshal !!str `k` into []config.OpenAICompatibilityAPIKey",
        ),
    ],
)
def test_put_type_errors_are_400_invalid_yaml(mgmt, text: str, message: str) -> None:
    answer = _put(mgmt, text)
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_yaml",
        "message": f"yaml: unmarshal errors:\n  {message}",
    }


@pytest.mark.parametrize(
    "text",
    [
        "gemini-api-key:\n  - api-key: k\n    weight: 1000001\n",
        "openai-compatibility:\n  - name: x\n    api-key-entries:\n      - weight: -1\n",
        "credential-in-flight: 5\n",
        "credential-in-flight:\n  stale-after: soon\n",
        "credential-in-flight:\n  stale-after: --1s\n",
        "credential-in-flight:\n  max-part-count: true\n",
    ],
)
def test_put_invalid_config_is_422_and_changes_nothing(mgmt, text: str) -> None:
    before = mgmt.get("/config.yaml").text
    answer = _put(mgmt, before + text)
    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid_config"
    assert answer.json()["message"]
    assert mgmt.get("/config.yaml").text == before


def test_get_config_reflects_the_file(mgmt) -> None:
    text = mgmt.get("/config.yaml").text
    text += (
        "routing:\n  strategy: rr\nstreaming:\n  keepalive-seconds: 15\n"
        "credential-concurrency:\n  reclaim-grace: 1m30s\n"
        "oauth-excluded-models:\n  codex: [gpt-x]\n"
    )
    assert _put(mgmt, text.replace("request-retry: 0", "request-retry: 3")).status_code == 200
    config = mgmt.get("/config").json()
    assert config["request-retry"] == 3
    assert config["routing"] == {"strategy": "round-robin"}
    assert config["streaming"] == {"keepalive-seconds": 15}
    assert config["credential-concurrency"]["reclaim-grace"] == 90_000_000_000
    assert config["oauth-excluded-models"] == {"codex": ["gpt-x"]}
    assert "auth-dir" not in config and "remote-management" not in config


@pytest.mark.parametrize(
    ("path", "key", "initial", "new"),
    [
        ("/debug", "debug", False, True),
        ("/ws-auth", "ws-auth", True, False),
        ("/error-logs-max-files", "error-logs-max-files", 10, 3),
        ("/proxy-url", "proxy-url", "", "socks5://proxy:1080"),
        ("/quota-exceeded/switch-project", "switch-project", False, True),
        ("/routing/strategy", "strategy", "round-robin", "fill-first"),
        ("/max-retry-credentials", "max-retry-credentials", 0, 2),
    ],
)
def test_scalar_settings(mgmt, path: str, key: str, initial, new) -> None:
    assert mgmt.get(path).json() == {key: initial}
    assert mgmt.put(path, json={"value": new}).json() == {"status": "ok"}
    assert mgmt.get(path).json() == {key: new}
    assert mgmt.patch(path, json={"value": initial}).status_code == 200
    assert mgmt.get(path).json() == {key: initial}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/debug", {"value": "true"}),
        ("/debug", {"value": None}),
        ("/debug", {}),
        ("/debug", [True]),
        ("/request-retry", {"value": 1.5}),
        ("/request-retry", {"value": True}),
        ("/proxy-url", {"value": 3}),
    ],
)
def test_scalar_invalid_body(mgmt, path: str, body) -> None:
    answer = mgmt.put(path, json=body)
    assert (answer.status_code, answer.json()) == (400, {"error": "invalid body"})


def test_scalar_normalisation_and_delete(mgmt) -> None:
    assert mgmt.put("/routing/strategy", json={"value": "WRR"}).status_code == 200
    assert mgmt.get("/routing/strategy").json() == {"strategy": "weighted-round-robin"}
    bad = mgmt.put("/routing/strategy", json={"value": "random"})
    assert (bad.status_code, bad.json()) == (400, {"error": "invalid strategy"})
    assert mgmt.put("/error-logs-max-files", json={"value": -4}).status_code == 200
    assert mgmt.get("/error-logs-max-files").json() == {"error-logs-max-files": 10}
    mgmt.put("/proxy-url", json={"value": "http://p:1"})
    assert mgmt.delete("/proxy-url").json() == {"status": "ok"}
    assert mgmt.get("/proxy-url").json() == {"proxy-url": ""}
    assert "routing:\n  strategy: weighted-round-robin\n" in mgmt.get("/config.yaml").text


def test_per_field_save_keeps_comments_and_drops_legacy_keys(emulator: Emulator, mgmt) -> None:
    text = "# top comment\n" + mgmt.get("/config.yaml").text + "amp-upstream-url: http://x\n"
    assert _put(mgmt, text).status_code == 200
    assert mgmt.put("/request-log", json={"value": True}).status_code == 200
    saved = emulator.config_yaml()
    assert saved.startswith("# top comment\n")
    assert "amp-upstream-url" not in saved
    assert "request-log: true\n" in saved
    assert saved.endswith("ws-auth: true\n")
    assert hash_masked(saved).count("<bcrypt>") == 1


def test_api_keys_lifecycle(mgmt) -> None:
    assert mgmt.get("/api-keys").json() == {"api-keys": ["test-api-key"]}
    assert mgmt.put("/api-keys", json=["a", "b"]).json() == {"status": "ok"}
    assert mgmt.put("/api-keys", json={"items": ["a", "b", "c"]}).status_code == 200
    assert mgmt.put("/api-keys", json={"items": []}).status_code == 400
    assert mgmt.patch("/api-keys", json={"index": 1, "value": "B"}).status_code == 200
    assert mgmt.patch("/api-keys", json={"old": "zzz", "new": "d"}).status_code == 200
    assert mgmt.patch("/api-keys", json={"old": "a", "new": "A"}).status_code == 200
    assert mgmt.get("/api-keys").json() == {"api-keys": ["A", "B", "c", "d"]}
    assert mgmt.patch("/api-keys", json={"index": 9}).json() == {"error": "missing fields"}
    assert mgmt.delete("/api-keys", params={"index": "0"}).status_code == 200
    assert mgmt.delete("/api-keys", params={"value": "d"}).status_code == 200
    assert mgmt.get("/api-keys").json() == {"api-keys": ["B", "c"]}
    missing = mgmt.delete("/api-keys")
    assert (missing.status_code, missing.json()) == (400, {"error": "missing index or value"})
    assert mgmt.put("/api-keys", json=[]).status_code == 200
    assert "api-keys: []\n" in mgmt.get("/config.yaml").text


def test_config_yaml_missing_is_404(emulator: Emulator, mgmt) -> None:
    emulator.config_path.unlink()
    answer = mgmt.get("/config.yaml")
    assert (answer.status_code, answer.json()) == (
        404,
        {"error": "not_found", "message": "config file not found"},
    )


def test_given_config_yaml_is_loaded_with_pinned_auth_dir(emulator_factory) -> None:
    text = 'remote-management:\n  secret-key: "k2"\nauth-dir: "~/.cli-proxy-api"\ndebug: true\n'
    emu = emulator_factory(config_yaml=text)
    saved = emu.config_yaml()
    assert f'auth-dir: "{emu.auth_dir}"' in saved
    assert 'secret-key: "$2a$10$' in saved
    with client(emu.management_url, headers={"X-Management-Key": "k2"}) as http:
        assert http.get("/debug").json() == {"debug": True}
