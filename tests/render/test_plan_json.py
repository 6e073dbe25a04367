"""The plan JSON document: shape, keys, masking with fingerprints, meta handling."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from reconciler import __version__
from reconciler.core import secrets
from reconciler.core.changes import Change
from reconciler.core.plan import Action, Plan
from reconciler.output import plan_json

KEY = b"per-target-fingerprint-key"
META = {
    "target": {"url": "http://127.0.0.1:8317", "server_version": "7.2.140"},
    "desired_path": "cpa.yaml",
    "desired_fingerprint": "hmac-sha256:aaaaaaaaaaaaaaaa",
    "live_fingerprint": "hmac-sha256:bbbbbbbbbbbbbbbb",
    "created_at": "2025-01-02T03:04:05Z",
    "tool_version": "9.9.9",
}
TOP_KEYS = [
    "format_version",
    "tool",
    "target",
    "desired_path",
    "created_at",
    "desired_fingerprint",
    "live_fingerprint",
    "summary",
    "resource_changes",
    "blockers",
    "unresolved",
    "kept",
    "unmanaged",
]


def _doc(plan, key=KEY, meta=None, secret_paths=()):
    return plan_json.plan_to_json(
        plan,
        secret_paths=secret_paths,
        fingerprint_key=key,
        meta=dict(META if meta is None else meta),
    )


def _changes(doc, address):
    [resource] = [r for r in doc["resource_changes"] if r["address"] == address]
    return resource["changes"]


def test_top_level_shape(full_plan):
    """The documented keys, in order, with the meta values and the summary."""
    doc = _doc(full_plan)
    assert list(doc) == TOP_KEYS
    assert doc["format_version"] == "1.1"
    assert doc["tool"] == {"name": "cpa-reconciler", "version": "9.9.9"}
    assert doc["target"] == {"url": "http://127.0.0.1:8317", "server_version": "7.2.140"}
    assert doc["summary"] == {
        "create": 1,
        "update": 2,
        "replace": 1,
        "delete": 1,
        "unresolved": 1,
        "blocked": True,
        "has_changes": True,
        "kept": 0,
        "unmanaged": 0,
    }
    assert doc["blockers"][0] == {
        "rule": "replace",
        "message": "re-seeding gemini-x.json from source overwrites the server's current tokens",
        "override": "--allow-replace",
    }
    assert doc["blockers"][1]["override"] is None
    assert doc["unresolved"] == list(full_plan.unresolved)
    json.dumps(doc, allow_nan=False)  # plain JSON data


def test_resource_changes_follow_the_plan(full_plan):
    """One entry per action, in plan order, with Terraform-style actions and reasons."""
    resources = _doc(full_plan)["resource_changes"]
    assert [(r["address"], r["actions"]) for r in resources] == [
        ("config/config.yaml", ["update"]),
        ("auth-file/codex-alice.json", ["create"]),
        ("auth-file/claude-bob.json", ["update"]),
        ("auth-file/gemini-x.json", ["replace"]),
        ("auth-file/old.json", ["delete"]),
    ]
    config = resources[0]
    assert list(config) == [
        "address",
        "kind",
        "name",
        "actions",
        "action_reason",
        "restart_required",
        "changes",
    ]
    assert (config["kind"], config["name"]) == ("config", "config.yaml")
    assert config["action_reason"] == "config differs from the desired state"
    assert config["restart_required"] == ["port"]
    assert resources[4]["changes"] == []


def test_plain_change_keeps_values(full_plan):
    """A non-secret change carries its values and presence flags, no fingerprints."""
    debug, retry, payload = _changes(_doc(full_plan), "config/config.yaml")[:3]
    assert debug == {
        "path": "debug",
        "path_list": ["debug"],
        "element": False,
        "before": False,
        "after": True,
        "before_present": True,
        "after_present": True,
        "before_sensitive": False,
        "after_sensitive": False,
    }
    assert "before" not in retry
    assert (retry["after"], retry["before_present"], retry["after_present"]) == (3, False, True)
    assert "after" not in payload
    assert payload["before"] == {"default": [{"models": ["gpt-5"], "params": {"t": 0.2}}]}


def test_changed_secret_is_masked_with_keyed_fingerprints(full_plan, live_hash):
    """Masks in place of values; fingerprints keyed with the given key, of the clear values."""
    changes = _changes(_doc(full_plan), "config/config.yaml")
    [secret] = [c for c in changes if c["path"] == "remote-management.secret-key"]
    assert secret["path_list"] == ["remote-management", "secret-key"]
    assert (secret["before"], secret["after"]) == ("***", "***")
    assert secret["before_sensitive"] and secret["after_sensitive"]
    assert secret["before_fingerprint"] == secrets.fingerprint(KEY, live_hash)
    assert secret["after_fingerprint"] == secrets.fingerprint(KEY, "mgmt-PLANTED")


def test_set_element_change(full_plan):
    """An element of api-keys: element flag, path of the list, masked with a fingerprint."""
    added = _changes(_doc(full_plan), "config/config.yaml")[3]
    assert added["path"] == "api-keys"
    assert added["element"] is True
    assert added["after"] == "***"
    assert added["after_sensitive"] is True
    assert "after_fingerprint" in added
    assert "before_fingerprint" not in added
    assert added["before_sensitive"] is False


def test_only_the_secret_side_is_sensitive(full_plan):
    """A proxy URL losing its credentials: the before side is masked, the after side is not."""
    [_, proxy] = _changes(_doc(full_plan), "auth-file/claude-bob.json")
    assert proxy["path"] == "fields.proxy_url"
    assert proxy["before"] == "***"
    assert proxy["after"] == "socks5://h:1080"
    assert (proxy["before_sensitive"], proxy["after_sensitive"]) == (True, False)
    assert "after_fingerprint" not in proxy


def test_partly_secret_value_keeps_its_shape():
    """Only the secret parts of a mapping are masked; the rest stays readable."""
    entry = {"api-key": "k-PLANTED", "base-url": "https://codex.example", "models": ["m"]}
    plan = Plan(
        actions=(
            Action(
                "config", "config.yaml", "update", "r", (Change(("codex-api-key", 0), after=entry),)
            ),
        )
    )
    [change] = _changes(_doc(plan), "config/config.yaml")
    assert change["after"] == {
        "api-key": "***",
        "base-url": "https://codex.example",
        "models": ["m"],
    }
    assert change["after_sensitive"] is True
    assert change["after_fingerprint"] == secrets.fingerprint(KEY, entry)


def test_fingerprints_are_stable_and_keyed(full_plan):
    """Same key: same fingerprints across runs. Another key: different fingerprints."""
    one = _changes(_doc(full_plan), "config/config.yaml")[5]
    again = _changes(_doc(full_plan), "config/config.yaml")[5]
    other = _changes(_doc(full_plan, key=b"another-target-key"), "config/config.yaml")[5]
    assert one["after_fingerprint"] == again["after_fingerprint"]
    assert one["after_fingerprint"] != other["after_fingerprint"]
    assert one["after_fingerprint"].startswith("hmac-sha256:")


def test_secret_paths_apply_to_config_only():
    """A value from a reference is masked in the config; auth-file fields are not config paths."""
    plan = Plan(
        actions=(
            Action("config", "config.yaml", "update", "r", (Change(("note",), after="n1"),)),
            Action("auth-file", "a.json", "update", "r", (Change(("note",), after="n2"),)),
        )
    )
    doc = _doc(plan, secret_paths=[("note",)])
    assert _changes(doc, "config/config.yaml")[0]["after"] == "***"
    assert _changes(doc, "auth-file/a.json")[0]["after"] == "n2"


def test_meta_forms_and_defaults(empty_plan):
    """Flat target keys work too; created_at defaults to now (UTC); tool version defaults."""
    doc = _doc(empty_plan, meta={"target_url": "http://u:pw@h:1", "server_version": "7"})
    assert doc["target"] == {"url": "http://***@h:1", "server_version": "7"}
    assert doc["tool"]["version"] == __version__
    assert doc["desired_fingerprint"] is None
    created = datetime.strptime(doc["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
    when = datetime(2025, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert _doc(empty_plan, meta={"created_at": when})["created_at"] == "2025-01-01T10:00:00Z"
    assert _doc(empty_plan, meta={"target": "http://h:2"})["target"]["url"] == "http://h:2"


@pytest.mark.parametrize(
    ("meta", "key", "message"),
    [
        ({"targt": "x"}, KEY, "unknown plan meta keys: targt"),
        ({"target": {"url": "x", "token": "y"}}, KEY, "unknown plan meta target keys: token"),
        ({}, b"", "fingerprint_key must not be empty"),
        ({"created_at": datetime(2025, 1, 1)}, KEY, "timezone-aware"),
    ],
)
def test_bad_meta_is_refused(empty_plan, meta, key, message):
    """Typos, an empty key and a naive timestamp are programming errors, refused loudly."""
    with pytest.raises(ValueError, match=message):
        _doc(empty_plan, key=key, meta=meta)


def test_values_become_plain_json():
    """Tuples, sets, non-finite floats and other objects become JSON-safe values."""
    assert plan_json.plain({"a": (1, 2), 3: float("inf"), "d": datetime(2025, 1, 1)}) == {
        "a": [1, 2],
        "3": "inf",
        "d": "2025-01-01 00:00:00",
    }


def test_safe_url():
    """User-info is masked (user and password); other URLs are unchanged."""
    assert plan_json.safe_url("http://127.0.0.1:8317") == "http://127.0.0.1:8317"
    assert (
        plan_json.safe_url("https://admin:s3@cpa.example/x?y=1") == "https://***@cpa.example/x?y=1"
    )
    assert plan_json.safe_url(None) is None
