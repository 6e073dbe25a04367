"""core.auth_diff: the actions, their reasons and changes, and declared-field equality."""

from __future__ import annotations

import pytest

from reconciler.core.auth_diff import (
    SEED_FIELD,
    AuthAction,
    diff_auth_files,
    field_equal,
    live_field,
    seed_of,
)
from reconciler.core.changes import Change
from reconciler.core.model import AuthFilesPolicy, DesiredAuthFile, DesiredState, LiveAuthFile
from reconciler.core.normalize import MISSING

KEY = b"seed-key"
SRC = {"type": "codex", "refresh_token": "r1"}


def _diff(*entries: DesiredAuthFile, live: tuple[LiveAuthFile, ...] = (), prune: bool = False):
    desired = DesiredState(auth_files=entries, auth_policy=AuthFilesPolicy(prune=prune))
    return diff_auth_files(desired, {f.name: f for f in live}, seed_key=KEY)


def test_a_create_carries_the_declared_state_and_marks_referenced_fields_secret() -> None:
    entry = DesiredAuthFile(
        "a.json",
        content=SRC,
        disabled=True,
        fields={"priority": 3, "proxy_url": "http://p"},
        secret_fields=frozenset({"proxy_url"}),
    )
    assert _diff(entry).actions == [
        AuthAction(
            "create",
            "a.json",
            "missing on the server",
            (
                Change(("disabled",), after=True),
                Change(("fields", "priority"), after=3),
                Change(("fields", "proxy_url"), after="http://p", secret=True),
            ),
        )
    ]


def test_an_update_shows_before_and_after_of_each_difference() -> None:
    entry = DesiredAuthFile("a.json", disabled=False, fields={"note": "new", "priority": 1})
    live = LiveAuthFile("a.json", disabled=True, listed={"note": "old", "priority": 1})
    assert _diff(entry, live=(live,)).actions == [
        AuthAction(
            "update",
            "a.json",
            "policy differs",
            (
                Change(("disabled",), before=True, after=False),
                Change(("fields", "note"), before="old", after="new"),
            ),
        )
    ]


def test_a_field_the_listing_lacks_shows_as_missing_before() -> None:
    entry = DesiredAuthFile("a.json", fields={"note": "n"})
    [action] = _diff(entry, live=(LiveAuthFile("a.json"),)).actions
    assert action.changes == (Change(("fields", "note"), before=MISSING, after="n"),)


def test_a_replace_and_a_prune_say_why() -> None:
    entry = DesiredAuthFile("a.json", content=SRC, replace=True)
    live = (LiveAuthFile("a.json", content={**SRC, SEED_FIELD: "old"}), LiveAuthFile("b.json"))
    assert _diff(entry, live=live, prune=True).actions == [
        AuthAction("replace", "a.json", "source changed since the file was last seeded"),
        AuthAction("delete", "b.json", "not in the desired state (prune)"),
    ]


def test_the_seed_ignores_the_seed_field_and_depends_on_the_rest() -> None:
    assert seed_of(KEY, {**SRC, SEED_FIELD: "anything"}) == seed_of(KEY, SRC)
    assert seed_of(KEY, SRC) != seed_of(KEY, {**SRC, "refresh_token": "r2"})
    assert seed_of(KEY, SRC) != seed_of(KEY, {})


def test_a_dotted_field_is_a_path_into_the_downloaded_file() -> None:
    have = LiveAuthFile("a.json", content={"headers": {"X-A": "1"}, "note": "n", "flat.key": 2})
    assert live_field(have, "headers.X-A") == "1"
    assert live_field(have, "note") == "n"
    assert live_field(have, "headers.X-B") is MISSING
    assert live_field(have, "note.deeper") is MISSING
    assert live_field(have, "flat.key") is MISSING


def test_a_listed_field_absent_from_the_listing_is_missing() -> None:
    assert live_field(LiveAuthFile("a.json", listed={"note": "n"}), "priority") is MISSING


def test_an_unlisted_field_without_the_download_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"field 'proxy_url' of a\.json needs the file's content"):
        live_field(LiveAuthFile("a.json"), "proxy_url")


@pytest.mark.parametrize(
    ("want", "have", "equal"),
    [
        (None, MISSING, True),
        (None, None, True),
        (None, "x", False),
        (True, True, True),
        (False, False, True),
        (True, False, False),
        (True, 1, False),
        (1, True, False),
        ({"a": 1}, {"a": 1, "b": 2}, True),
        ({"a": 1}, {"a": 2}, False),
        ({"a": 1}, {}, False),
        ({"a": None}, {}, True),
        ({"a": None}, MISSING, True),
        ({"h": {"x": None}}, {}, True),
        ({"h": {}}, {"h": "text"}, False),
        ({}, MISSING, True),
        ({"a": 1}, MISSING, False),
        ({"a": 1}, "text", False),
        ([1, 2], [1, 2], True),
        ([1, 2], [1, 3], False),
        ([1, 2], [1], False),
        ([True], [1], False),
        ([1], 1, False),
        (1, [1], False),
        ("x", "x", True),
        ("x", MISSING, False),
    ],
)
def test_declared_field_equality(want: object, have: object, equal: bool) -> None:
    assert field_equal(want, have) is equal
