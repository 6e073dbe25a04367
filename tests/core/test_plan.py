"""make_plan over auth files and the safety rules (tables; no I/O)."""

from __future__ import annotations

import bcrypt
import pytest

from reconciler.core.auth_diff import SEED_FIELD, needs_download, seed_of
from reconciler.core.model import (
    AuthFilesPolicy,
    DesiredAuthFile,
    DesiredState,
    LiveAuthFile,
    LiveState,
)
from reconciler.core.plan import PlanOptions, make_plan
from reconciler.core.safety import SafetyOptions

KEY = b"seed-key"
SRC = {"type": "codex", "email": "a@example.com", "refresh_token": "r1"}
HASH = bcrypt.hashpw(b"key-in-use", bcrypt.gensalt(4)).decode()


def _plan(desired, live, **safety):
    return make_plan(desired, live, PlanOptions(seed_key=KEY, safety=SafetyOptions(**safety)))


def _state(*files, prune=False, protect=(), max_deletions=5):
    return DesiredState(
        auth_files=tuple(files),
        auth_policy=AuthFilesPolicy(prune=prune, protect=protect, max_deletions=max_deletions),
    )


def _live(*files, config=None):
    return LiveState(config=config, auth_files={f.name: f for f in files})


def test_missing_file_is_created_with_its_policy():
    plan = _plan(
        _state(DesiredAuthFile("a.json", "s", SRC, disabled=True, fields={"priority": 7})), _live()
    )
    [action] = plan.actions
    assert (action.op, action.name) == ("create", "a.json")
    assert [c.path for c in action.changes] == [("disabled",), ("fields", "priority")]


def test_refreshed_tokens_are_not_drift():
    """The live file's tokens rotated: the listing shows nothing the plan cares about."""
    desired = _state(DesiredAuthFile("a.json", "s", SRC, disabled=False, fields={"priority": 7}))
    live = _live(LiveAuthFile("a.json", disabled=False, listed={"priority": 7}))
    assert not _plan(desired, live).has_changes


@pytest.mark.parametrize(
    ("entry", "have", "paths"),
    [
        (DesiredAuthFile("a.json", disabled=True), LiveAuthFile("a.json"), [("disabled",)]),
        (
            DesiredAuthFile("a.json", fields={"note": "x"}),
            LiveAuthFile("a.json", listed={"note": "y"}),
            [("fields", "note")],
        ),
        (
            DesiredAuthFile("a.json", fields={"priority": 1}),
            LiveAuthFile("a.json"),
            [("fields", "priority")],
        ),
        (
            DesiredAuthFile("a.json", fields={"proxy_url": "socks5://h:1"}),
            LiveAuthFile("a.json", content={"proxy_url": "socks5://h:2"}),
            [("fields", "proxy_url")],
        ),
        (
            DesiredAuthFile("a.json", fields={"weight": None}),
            LiveAuthFile("a.json", listed={"weight": 3}),
            [("fields", "weight")],
        ),
        (
            DesiredAuthFile("a.json", fields={"headers": {"X": "1"}}),
            LiveAuthFile("a.json", content={"headers": {"X": "1", "Y": "2"}}),
            [],
        ),
        (
            DesiredAuthFile("a.json", fields={"websockets": True}),
            LiveAuthFile("a.json", listed={"websockets": 1}),
            [("fields", "websockets")],
        ),
    ],
)
def test_policy_updates(entry, have, paths):
    plan = _plan(_state(entry), _live(have))
    assert [c.path for a in plan.actions for c in a.changes] == paths
    assert all(a.op == "update" for a in plan.actions)


def test_fields_outside_the_listing_need_a_download():
    assert needs_download(DesiredAuthFile("a.json", fields={"proxy_url": "x"}))
    assert not needs_download(DesiredAuthFile("a.json", fields={"priority": 1, "note": "n"}))
    assert needs_download(DesiredAuthFile("a.json", replace=True))


def test_replace_only_when_the_source_changed_since_the_seed():
    entry = DesiredAuthFile("a.json", "s", SRC, replace=True)
    seeded = LiveAuthFile(
        "a.json", content={**SRC, "refresh_token": "rotated", SEED_FIELD: seed_of(KEY, SRC)}
    )
    assert not _plan(_state(entry), _live(seeded)).has_changes
    stale = LiveAuthFile("a.json", content={**SRC, SEED_FIELD: "hmac-sha256:0000"})
    plan = _plan(_state(entry), _live(stale))
    assert [a.op for a in plan.actions] == ["replace"]
    assert [b.rule for b in plan.blockers] == ["replace"]
    assert not _plan(_state(entry), _live(stale), allow_replace=True).blockers


def test_no_source_and_missing_is_unresolved_not_an_action():
    plan = _plan(_state(DesiredAuthFile("a.json")), _live())
    assert plan.actions == () and plan.has_changes and "no source" in plan.unresolved[0]


def test_prune_deletes_last_and_only_with_prune():
    live = _live(LiveAuthFile("old.json"), LiveAuthFile("keep.json"))
    desired = _state(DesiredAuthFile("keep.json"), DesiredAuthFile("new.json", "s", SRC))
    assert [a.op for a in _plan(desired, live).actions] == ["create"]
    pruned = _state(DesiredAuthFile("keep.json"), DesiredAuthFile("new.json", "s", SRC), prune=True)
    assert [(a.op, a.name) for a in _plan(pruned, live).actions] == [
        ("create", "new.json"),
        ("delete", "old.json"),
    ]


def test_mass_delete_is_blocked_unless_allowed():
    live = _live(*(LiveAuthFile(f"f{i}.json") for i in range(4)))
    plan = _plan(_state(prune=True, max_deletions=3), live)
    assert [(b.rule, b.override) for b in plan.blockers] == [("mass-delete", "--allow-mass-delete")]
    assert not _plan(_state(prune=True, max_deletions=3), live, allow_mass_delete=True).blockers
    assert not _plan(_state(prune=True, max_deletions=4), live).blockers


@pytest.mark.parametrize(
    ("desired_secret", "blocked"),
    [("key-in-use", False), ("another-key", True), ("", True), (HASH, False)],
)
def test_lockout_guard_on_secret_key(desired_secret, blocked):
    desired = DesiredState(config={"remote-management": {"secret-key": desired_secret}})
    live = _live(
        config={
            "remote-management": {
                "secret-key": bcrypt.hashpw(b"key-in-use", bcrypt.gensalt(4)).decode()
            }
        }
    )
    plan = _plan(desired, live, key_in_use="key-in-use")
    assert [b.rule for b in plan.blockers] == (["lockout"] if blocked else [])


def test_lockout_guard_on_allow_remote_only_for_a_remote_target():
    desired = DesiredState(config={"remote-management": {"allow-remote": False}})
    live = _live(config={"remote-management": {"allow-remote": True, "secret-key": HASH}})
    assert [
        b.rule
        for b in _plan(desired, live, key_in_use="key-in-use", target_is_loopback=False).blockers
    ] == ["lockout"]
    assert not _plan(desired, live, key_in_use="key-in-use", target_is_loopback=True).blockers


def test_no_lockout_when_the_key_in_use_is_not_the_config_secret():
    """CPA's MANAGEMENT_PASSWORD env opens the API whatever secret-key says."""
    desired = DesiredState(config={"remote-management": {"secret-key": "", "allow-remote": False}})
    live = _live(config={"remote-management": {"secret-key": HASH}})
    assert not _plan(desired, live, key_in_use="env-password", target_is_loopback=False).blockers


def test_plan_of_identical_states_is_empty():
    desired = DesiredState(
        config={"debug": True}, auth_files=(DesiredAuthFile("a.json", disabled=True),)
    )
    live = _live(LiveAuthFile("a.json", disabled=True), config={"debug": True})
    assert not _plan(desired, live).has_changes


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("debug",), True, True),
        (("api-keys",), ["sk-1", "sk-2"], ["***", "***"]),
        (
            ("codex-api-key",),
            [{"api-key": "sk", "base-url": "u"}],
            [{"api-key": "***", "base-url": "u"}],
        ),
        (("proxy-url",), "socks5://user:pw@h:1", "***"),
        (("proxy-url",), "socks5://h:1", "socks5://h:1"),
        (("fields", "headers"), {"Authorization": "Bearer x"}, {"Authorization": "***"}),
        (
            ("remote-management",),
            {"secret-key": "s", "allow-remote": True},
            {"secret-key": "***", "allow-remote": True},
        ),
        (("from-ref",), "value", "***"),
    ],
)
def test_masked_masks_every_secret_inside_a_value(path, value, expected):
    from reconciler.core.secrets import masked

    result, hit = masked(path, value, secret_paths=[("from-ref",)])
    assert result == expected
    assert hit == (result != value)


def test_fields_from_references_are_marked_secret_and_masked():
    from reconciler.output.plan_json import mask_change

    entry = DesiredAuthFile(
        "a.json", fields={"note": "s3cr3t-note"}, secret_fields=frozenset({"note"})
    )
    plan = _plan(_state(entry), _live(LiveAuthFile("a.json", listed={"note": "old-note"})))
    [change] = plan.actions[0].changes
    assert change.secret
    masked = mask_change(change)
    assert "s3cr3t-note" not in repr(masked) and "old-note" not in repr(masked)
