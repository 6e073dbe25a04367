"""core.cpa_config_keys: the exact words of every refusal check_config gives (the loader shows
them after file:line), how a value is shown, and the table's own paths."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core.cpa_config_keys import (
    INT,
    ConfigProblem,
    ListOf,
    MapOf,
    Struct,
    check_config,
    is_go_duration,
    known_paths,
)

NEWER = "CPA v7.2.140 does not know it and would ignore it; for a key of a newer CPA, add"
DURATION = "expected a Go duration such as 250ms, 5s or 1m30s, got"


def _messages(config: dict[str, Any], **kwargs: Any) -> list[str]:
    return [p.message for p in check_config(config, **kwargs)]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"debug": "yes"},
            "expected true or false, got the string 'yes' (YAML 1.2 reads yes, "
            "no, on and off as strings); write true",
        ),
        (
            {"debug": "Y"},
            "expected true or false, got the string 'Y' (YAML 1.2 reads yes, no, "
            "on and off as strings); write true",
        ),
        (
            {"debug": "off"},
            "expected true or false, got the string 'off' (YAML 1.2 reads yes, "
            "no, on and off as strings); write false",
        ),
        (
            {"debug": "n"},
            "expected true or false, got the string 'n' (YAML 1.2 reads yes, no, "
            "on and off as strings); write false",
        ),
        ({"debug": 1}, "expected true or false, got 1"),
        ({"debug": "maybe"}, "expected true or false, got the string 'maybe'"),
        ({"request-retry": "abc"}, "expected an integer, got the string 'abc'"),
        ({"request-retry": 2.5}, "expected an integer, got 2.5: write a whole number"),
        ({"request-retry": False}, "expected an integer, got false"),
        ({"request-retry": True}, "expected an integer, got true"),
        ({"request-retry": [1]}, "expected an integer, got a list"),
        (
            {"gemini-api-key": [{"weight": 1_000_001}]},
            "must be at most 1,000,000, got 1000001 (CPA refuses it)",
        ),
        ({"credential-concurrency": {"reclaim-grace": "soon"}}, f"{DURATION} the string 'soon'"),
        (
            {"credential-concurrency": {"reclaim-grace": {}}},
            "expected a Go duration, got a mapping",
        ),
        (
            {"credential-in-flight": {"stale-after": "-5s"}},
            f"{DURATION} the string '-5s' (CPA refuses the config: invalid duration)",
        ),
        ({"credential-in-flight": {"stale-after": []}}, "expected a Go duration, got a list"),
        ({"api-keys": "k"}, "expected a list, got the string 'k'"),
        ({"codex-api-key": [{"headers": {"X-A": [1]}}]}, "expected a string, got a list"),
        ({"routing": 5}, "expected a mapping, got 5"),
        (
            {"disable-image-generation": "never"},
            'expected true, false or one of "chat", "passthrough", got the string \'never\'',
        ),
        ({"hostname": "x"}, f"unknown key: {NEWER} 'hostname' to config-policy.allow-unknown-keys"),
    ],
)
def test_a_value_cpa_cannot_read_is_refused_in_these_words(
    config: dict[str, Any], message: str
) -> None:
    assert _messages(config) == [message]


def test_the_largest_weight_is_accepted() -> None:
    assert check_config({"gemini-api-key": [{"weight": 1_000_000}]}) == []


def test_a_string_is_shown_up_to_40_characters() -> None:
    assert _messages({"debug": "x" * 40}) == [
        f"expected true or false, got the string '{'x' * 40}'"
    ]
    assert _messages({"debug": "x" * 41}) == ["expected true or false, got a string"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("api-keys",), "expected a list, got the value of ${env:X}"),
        (("routing",), "expected a mapping, got the value of ${env:X}"),
        (
            ("disable-image-generation",),
            'expected true, false or one of "chat", "passthrough", got the value of ${env:X}',
        ),
        (("credential-concurrency", "reclaim-grace"), f"{DURATION} the value of ${{env:X}}"),
        (
            ("request-retry",),
            "expected an integer, got the value of ${env:X}: a reference always gives a string, "
            "which CPA refuses here; write the value itself",
        ),
    ],
)
def test_a_referenced_value_is_shown_as_its_reference(path: tuple[str, ...], message: str) -> None:
    # the config holds what ${env:X} resolved to; a message shows only how it is written
    config: dict[str, Any] = {}
    parent = config
    for key in path[:-1]:
        parent = parent.setdefault(key, {})
    parent[path[-1]] = "secret-value"
    problems = check_config(config, referenced={path}, written=lambda p: "${env:X}")
    assert problems == [ConfigProblem(path, message)]


def test_a_referenced_value_without_its_spelling_is_a_reference() -> None:
    problems = check_config({"request-retry": "x"}, referenced={("request-retry",)})
    assert problems[0].message.startswith("expected an integer, got the value of a reference:")


def test_plus_and_minus_zero_are_go_durations() -> None:
    assert is_go_duration("0")
    assert is_go_duration("+0")
    assert is_go_duration("-0")
    assert not is_go_duration("00")


def test_known_paths_name_every_level_once_outermost_first() -> None:
    paths = list(known_paths())
    names = [name for name, _ in paths]
    kinds = dict(paths)
    assert len(names) == len(set(names))
    assert names.index("tls") < names.index("tls.enable")
    assert kinds["port"] == INT
    assert isinstance(kinds["tls"], Struct)
    assert isinstance(kinds["gemini-api-key"], ListOf)
    assert isinstance(kinds["gemini-api-key.headers"], MapOf)
    assert "gemini-api-key.models.name" in kinds
    assert "plugins.configs.enabled" in kinds
    assert not any(name.startswith(".") or ".." in name for name in names)
