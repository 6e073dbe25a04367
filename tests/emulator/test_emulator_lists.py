"""Provider credential lists and OAuth-channel maps (sections 2.4 and 2.5)."""

from __future__ import annotations

import hashlib

import pytest

from reconciler.emulator import Emulator


def test_lists_start_null_and_put_replaces(emulator: Emulator, mgmt) -> None:
    assert mgmt.get("/codex-api-key").json() == {"codex-api-key": None}
    items = [
        {"api-key": "k1", "base-url": "https://a.example"},
        {"api-key": "k2"},
    ]
    assert mgmt.put("/codex-api-key", json=items).json() == {"status": "ok"}
    listed = mgmt.get("/codex-api-key").json()["codex-api-key"]
    seed = "codex-api-key:https://a.example+k1"
    assert listed == [{**items[0], "auth-index": hashlib.sha256(seed.encode()).hexdigest()[:16]}]
    assert "codex-api-key:\n  - api-key: k1\n    base-url: https://a.example\n" in (
        emulator.config_yaml()
    )
    assert mgmt.put("/codex-api-key", json=[]).status_code == 200
    assert mgmt.get("/codex-api-key").json() == {"codex-api-key": []}


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("gemini-api-key", [{"api-key": "k", "weight": 1_000_001}]),
        ("claude-api-key", [{"api-key": "k", "weight": "x"}]),
        ("vertex-api-key", [{"base-url": "https://v"}]),
        ("gemini-api-key", {"items": []}),
        ("gemini-api-key", ["not an object"]),
    ],
)
def test_list_put_rejects(mgmt, key: str, body) -> None:
    assert mgmt.put(f"/{key}", json=body).status_code == 400
    assert mgmt.get(f"/{key}").json() == {key: None}


def test_gemini_patch_and_delete(mgmt) -> None:
    items = [
        {"api-key": "k", "base-url": "https://one"},
        {"api-key": "k", "base-url": "https://two"},
        {"api-key": "k", "base-url": "https://two"},
    ]
    mgmt.put("/gemini-api-key", json=items)
    assert len(mgmt.get("/gemini-api-key").json()["gemini-api-key"]) == 2
    ambiguous = mgmt.patch("/gemini-api-key", json={"match": "k", "value": {"prefix": "p"}})
    assert ambiguous.json() == {"error": "multiple items match; index is required"}
    narrowed = mgmt.patch(
        "/gemini-api-key",
        params={"base-url": "https://two"},
        json={"match": "k", "value": {"prefix": "p"}},
    )
    assert narrowed.status_code == 200
    assert mgmt.patch("/gemini-api-key", json={"match": "zz", "value": {}}).status_code == 404
    assert mgmt.delete("/gemini-api-key", params={"api-key": "zz"}).status_code == 404
    assert mgmt.delete("/gemini-api-key", params={"api-key": "k"}).status_code == 400
    assert mgmt.delete("/gemini-api-key", params={"index": "0"}).status_code == 200
    listed = mgmt.get("/gemini-api-key").json()["gemini-api-key"]
    assert [(e["base-url"], e.get("prefix")) for e in listed] == [("https://two", "p")]
    assert mgmt.delete("/gemini-api-key").json() == {"error": "missing api-key or index"}


def test_claude_delete_missing_is_still_ok(mgmt) -> None:
    assert mgmt.delete("/claude-api-key", params={"api-key": "none"}).json() == {"status": "ok"}


def test_openai_compatibility_entries(mgmt) -> None:
    entry = {"name": "x", "base-url": "https://x", "api-key-entries": [{"api-key": "s"}]}
    mgmt.put("/openai-compatibility", json={"items": [entry, {"name": "no-base"}]})
    listed = mgmt.get("/openai-compatibility").json()["openai-compatibility"]
    assert [e["name"] for e in listed] == ["x"]
    assert len(listed[0]["api-key-entries"][0]["auth-index"]) == 16
    assert (
        mgmt.patch(
            "/openai-compatibility", json={"name": "x", "value": {"prefix": "q"}}
        ).status_code
        == 200
    )
    assert mgmt.delete("/openai-compatibility", params={"name": "x"}).status_code == 200
    assert mgmt.get("/openai-compatibility").json() == {"openai-compatibility": []}


def test_oauth_maps(emulator: Emulator, mgmt) -> None:
    assert mgmt.get("/oauth-excluded-models").json() == {"oauth-excluded-models": None}
    body = {"Codex": [" GPT-X ", "gpt-x", ""]}
    assert mgmt.put("/oauth-excluded-models", json=body).status_code == 200
    assert mgmt.get("/oauth-excluded-models").json() == {
        "oauth-excluded-models": {"codex": ["gpt-x"]}
    }
    patch = {"provider": "claude", "models": ["opus"]}
    assert mgmt.patch("/oauth-excluded-models", json=patch).status_code == 200
    assert mgmt.delete("/oauth-excluded-models", params={"provider": "codex"}).status_code == 200
    missing = mgmt.delete("/oauth-excluded-models", params={"provider": "codex"})
    assert missing.status_code == 404
    emptied = mgmt.patch("/oauth-excluded-models", json={"provider": "claude", "models": []})
    assert emptied.status_code == 200
    assert "oauth-excluded-models: {}\n" in emulator.config_yaml()
    alias = {"channel": "gemini", "aliases": [{"name": "m", "alias": "a"}]}
    assert mgmt.patch("/oauth-model-alias", json=alias).status_code == 200
    assert mgmt.get("/oauth-model-alias").json() == {
        "oauth-model-alias": {"gemini": [{"alias": "a", "name": "m"}]}
    }
    assert mgmt.delete("/oauth-model-alias", params={"channel": "gemini"}).status_code == 200
