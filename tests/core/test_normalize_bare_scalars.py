"""A bare scalar in the live config.yaml that CPA reads as its text equals the string it spells.

CPA decodes config.yaml with yaml.v3, which puts the text of any bare scalar into a string
field; the live loader builds numbers and timestamps, and a ``${env:...}`` reference resolves
to a string. The rule holds for numbers only at secret paths (CPA's secret fields are strings;
``port`` is an int, and ``"8317"`` there is a different, wrong value) and for timestamps at any
path (the desired-state loader keeps them as strings).
"""

from __future__ import annotations

from typing import Any

import pytest
from ruamel.yaml import YAML

from reconciler.core.config_diff import diff_config


def _live(text: str) -> dict[str, Any]:
    data = YAML(typ="safe", pure=False).load(text)  # as config_document.parse reads it
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    ("live_yaml", "desired"),
    [
        ("api-keys: [5555512345]", {"api-keys": ["5555512345"]}),
        ("api-keys: [0x1F, 7]", {"api-keys": ["7", "0x1F"]}),  # set-like: order free
        ("claude-api-key: [{api-key: 0123}]", {"claude-api-key": [{"api-key": "0123"}]}),
        ("claude-api-key: [{api-key: 1.50}]", {"claude-api-key": [{"api-key": "1.50"}]}),
        ("claude-api-key: [{api-key: .nan}]", {"claude-api-key": [{"api-key": ".nan"}]}),
        (
            "gemini-api-key: [{headers: {X-K: 1e3}}]",
            {"gemini-api-key": [{"headers": {"X-K": "1e3"}}]},
        ),
        (
            "remote-management: {secret-key: 12345678}",
            {"remote-management": {"secret-key": "12345678"}},
        ),
        ("note: 2024-01-01", {"note": "2024-01-01"}),
        ("note: 2024-01-01T10:00:00Z", {"note": "2024-01-01T10:00:00Z"}),
        ("ratio: .nan", {"ratio": float("nan")}),
    ],
)
def test_the_same_text_is_no_change(live_yaml: str, desired: dict[str, Any]) -> None:
    assert diff_config(desired, _live(live_yaml)).changes == []
    # and either side may be the string (a desired file with the number written bare)
    assert diff_config(_live(live_yaml), desired).changes == []


@pytest.mark.parametrize(
    ("live_yaml", "desired"),
    [
        ("api-keys: [5555512345]", {"api-keys": ["5555512346"]}),
        ("api-keys: [5555512345]", {"api-keys": ["5555512345 # note"]}),
        ("api-keys: [5]", {"api-keys": [" 5"]}),
        ("api-keys: ['0123']", {"api-keys": ["123"]}),  # two strings: CPA's text differs
        ("claude-api-key: [{api-key: 1.5}]", {"claude-api-key": [{"api-key": "1.6"}]}),
        ("claude-api-key: [{api-key: 1}]", {"claude-api-key": [{"api-key": "true"}]}),
        ("port: 8317", {"port": "8317"}),  # an int field: not a secret, not text
        ("note: 2024-01-01", {"note": "2024-01-02"}),
    ],
)
def test_other_text_is_a_change(live_yaml: str, desired: dict[str, Any]) -> None:
    assert diff_config(desired, _live(live_yaml)).changes != []
