"""The config diff: owned keys, server rewrites that are not drift, prune, ignore."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.core.changes import apply_writes
from reconciler.core.config_diff import diff_config
from reconciler.core.normalize import MISSING

# Answers recorded from a real CPA v7.2.140, kept in the repository with the emulator's tests.
FIXTURES = Path(__file__).parents[1] / "emulator" / "fixtures" / "real-cpa-v7.2.140"
HASH = bcrypt.hashpw(b"plain-key", bcrypt.gensalt(4)).decode().replace("$2b$", "$2a$", 1)


def _yaml(name: str) -> dict[str, Any]:
    return YAML(typ="safe").load((FIXTURES / name).read_text())


@pytest.mark.parametrize(
    ("desired", "live"),
    [
        ({"debug": False}, {}),  # Go zero value
        ({"ws-auth": True}, {}),  # server default
        ({"request-retry": 3}, {"request-retry": 3, "debug": True}),  # undeclared keys left alone
        (
            {"remote-management": {"secret-key": "plain-key"}},
            {"remote-management": {"secret-key": HASH}},
        ),
        ({"remote-management": {"secret-key": HASH}}, {"remote-management": {"secret-key": HASH}}),
        ({"auth-dir": "~/.cli-proxy-api"}, {"auth-dir": "/root/.cli-proxy-api"}),
        ({"api-keys": ["a", "b"]}, {"api-keys": ["b", "a"]}),  # set-like list
        ({"api-keys": ["a", "a"]}, {"api-keys": ["a"]}),
        ({"routing": {"strategy": "rr"}}, {"routing": {"strategy": "round-robin"}}),
        (
            {"credential-in-flight": {"stale-after": "10s"}},
            {"credential-in-flight": {"stale-after": "10000ms"}},
        ),
        ({"credential-concurrency": {"busy-retry-max": "1s"}}, {}),
        (
            {
                "codex-api-key": [
                    {"api-key": "k", "base-url": "u", "excluded-models": ["GPT-5", "gpt-5"]}
                ]
            },
            {
                "codex-api-key": [
                    {
                        "api-key": "k",
                        "base-url": "u",
                        "auth-index": "abc",
                        "excluded-models": ["gpt-5"],
                    }
                ]
            },
        ),
        ({"tls": {"enable": False}}, {"tls": {"enable": False, "cert": "", "key": ""}}),
        ({"port": 8317}, {"port": 8317.0}),
    ],
)
def test_no_drift_for_what_the_server_rewrites(desired, live):
    assert diff_config(desired, live).writes == []


@pytest.mark.parametrize(
    ("desired", "live", "paths"),
    [
        ({"debug": True}, {}, [("debug",)]),
        ({"ws-auth": False}, {}, [("ws-auth",)]),
        (
            {"remote-management": {"secret-key": "other"}},
            {"remote-management": {"secret-key": HASH}},
            [("remote-management", "secret-key")],
        ),
        ({"api-keys": ["a", "c"]}, {"api-keys": ["a", "b"]}, [("api-keys",)]),
        (
            {"routing": {"strategy": "fill-first"}},
            {"routing": {"strategy": "round-robin"}},
            [("routing", "strategy")],
        ),
        ({"debug": 1}, {"debug": True}, [("debug",)]),  # a bool is not an int
        ({"tls": {"enable": True}}, {}, [("tls", "enable")]),
    ],
)
def test_real_differences_are_writes(desired, live, paths):
    assert [w.path for w in diff_config(desired, live).writes] == paths


def test_fixture_after_web_ui_write_shows_only_debug():
    """After PUT /debug the server appends defaults: only `debug` may differ."""
    before = _yaml("GET-config.yaml")
    after = _yaml("GET-config.yaml-after-PUT-debug.yaml")
    desired = copy.deepcopy(before)
    desired["remote-management"]["secret-key"] = "test-mgmt-key"
    assert diff_config(desired, before, prune=True).writes == []
    d = diff_config(desired, after, prune=True)
    assert [w.path for w in d.writes] == [("debug",)]


def test_prune_removes_undeclared_but_not_defaults_or_exempt():
    live = {"debug": True, "ws-auth": True, "port": 8317, "request-retry": 3, "x": {"y": 1}}
    d = diff_config({"debug": True}, live, prune=True)
    assert sorted(w.path for w in d.writes) == [("request-retry",), ("x",)]
    assert all(w.value is MISSING for w in d.writes)


def test_ignore_is_never_compared_nor_written():
    d = diff_config(
        {"debug": True, "payload": {"a": 1}}, {"payload": {"b": 2}}, prune=True, ignore=("payload",)
    )
    assert [w.path for w in d.writes] == [("debug",)]


def test_set_changes_are_elements():
    d = diff_config({"api-keys": ["a", "c"]}, {"api-keys": ["a", "b"]})
    assert {(c.before, c.after, c.element) for c in d.changes} == {
        ("b", MISSING, True),
        (MISSING, "c", True),
    }


def test_list_of_mappings_changes_name_the_element_field():
    d = diff_config(
        {"codex-api-key": [{"api-key": "k", "base-url": "new"}]},
        {"codex-api-key": [{"api-key": "k", "base-url": "old"}]},
    )
    assert [c.path for c in d.changes] == [("codex-api-key", 0, "base-url")]


def test_restart_keys_are_reported():
    d = diff_config({"port": 9000, "debug": True}, {"port": 8317})
    assert d.restart_keys == ("port",)


def test_ten_thousand_key_list_is_a_set_compare():
    keys = [f"sk-{i:05d}" for i in range(10_000)]
    assert diff_config({"api-keys": keys}, {"api-keys": list(reversed(keys))}).writes == []


# -- the invariant: after the writes are performed, the diff is empty ------------------------

_keys = st.sampled_from(
    ["debug", "request-retry", "proxy-url", "api-keys", "routing", "ws-auth", "x", "tls"]
)
_leaf = st.one_of(st.booleans(), st.integers(-3, 3), st.text("abc", max_size=3))
_value = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "strategy", "enable"]), inner, max_size=3),
    ),
    max_leaves=6,
)
_config = st.dictionaries(_keys, _value, max_size=5)


@settings(max_examples=300, deadline=None)
@given(desired=_config, live=_config, prune=st.booleans())
def test_after_apply_the_diff_is_empty(desired, live, prune):
    doc = copy.deepcopy(live)
    apply_writes(doc, diff_config(desired, live, prune=prune).writes)
    assert diff_config(desired, doc, prune=prune).writes == []
