"""core.config_diff: ignore and prune at every depth, and how a changed list of mappings is
described."""

from __future__ import annotations

from reconciler.core.changes import Change, Write
from reconciler.core.config_diff import describe, diff_config, parse_ignore
from reconciler.core.normalize import MISSING


def test_ignore_paths_are_dotted_and_empty_ones_are_dropped() -> None:
    assert parse_ignore(("codex.live-media-relay", "", "debug")) == (
        ("codex", "live-media-relay"),
        ("debug",),
    )


def test_an_ignored_key_does_not_hide_the_keys_after_it() -> None:
    diff = diff_config({"debug": True, "request-retry": 3}, {}, ignore=("debug",))
    assert diff.writes == [Write(("request-retry",), 3)]


def test_prune_reaches_into_declared_mappings() -> None:
    live = {"routing": {"strategy": "fill-first", "extra": 1}}
    diff = diff_config({"routing": {"strategy": "fill-first"}}, live, prune=True)
    assert diff.writes == [Write(("routing", "extra"), MISSING)]
    assert diff.changes == [Change(("routing", "extra"), before=1)]


def test_prune_leaves_everything_under_an_exempt_key() -> None:
    live = {"remote-management": {"allow-remote": False, "secret-key": "k"}, "debug": True}
    desired = {"remote-management": {"allow-remote": True}}
    diff = diff_config(desired, live, prune=True)
    assert diff.writes == [
        Write(("remote-management", "allow-remote"), True),
        Write(("debug",), MISSING),
    ]


def test_prune_keeps_an_ignored_live_key_and_prunes_the_rest() -> None:
    live = {"debug": True, "request-retry": 3}
    diff = diff_config({}, live, prune=True, ignore=("debug",))
    assert diff.writes == [Write(("request-retry",), MISSING)]


def test_prune_goes_around_an_ignored_path_inside_an_undeclared_key() -> None:
    live = {
        "codex": {"live-media-relay": "x", "other": 1},
        "quota-exceeded": {"switch-project": True},
        "request-retry": 3,
    }
    diff = diff_config({}, live, prune=True, ignore=("codex.live-media-relay",))
    assert diff.writes == [
        Write(("codex", "other"), MISSING),
        Write(("quota-exceeded",), MISSING),
        Write(("request-retry",), MISSING),
    ]


def test_a_changed_list_of_mappings_shows_added_fields_as_missing_before() -> None:
    before = [{"name": "a", "x": 1}]
    after = [{"name": "a"}, {"name": "b"}]
    changes = describe(("openai-compatibility",), before, after)
    assert sorted(changes, key=lambda c: c.path) == [
        Change(("openai-compatibility", 0, "x"), before=1, after=MISSING),
        Change(("openai-compatibility", 1), before=MISSING, after={"name": "b"}),
    ]


def test_a_list_of_mappings_with_no_element_difference_shows_the_whole_value() -> None:
    value = [{"name": "a"}]
    assert describe(("openai-compatibility",), value, value) == [
        Change(("openai-compatibility",), before=value, after=value)
    ]
