"""core.changes and core.defaults: dotted paths, writes into a document, the default table."""

from __future__ import annotations

from reconciler.core.changes import Write, apply_writes, dotted
from reconciler.core.defaults import default_for, defaults_under
from reconciler.core.normalize import MISSING


def test_a_dotted_path_shows_list_indexes_in_brackets() -> None:
    assert dotted(("a", "b", 0, "c")) == "a.b[0].c"
    assert dotted((0, "a")) == "[0].a"
    assert dotted(("a",)) == "a"


def test_deleting_an_absent_key_changes_nothing() -> None:
    doc: dict[str, object] = {"a": {"b": 1}}
    apply_writes(doc, [Write(("a", "c"), MISSING), Write(("x",), MISSING)])
    assert doc == {"a": {"b": 1}}


def test_writes_create_the_mappings_above_them() -> None:
    doc: dict[str, object] = {"a": 1}
    apply_writes(doc, [Write(("a", "b"), 2), Write(("c", "d", "e"), 3)])
    assert doc == {"a": {"b": 2}, "c": {"d": {"e": 3}}}


def test_a_key_without_a_listed_default_has_the_no_default_marker_not_none() -> None:
    assert default_for(("routing", "strategy")) == "round-robin"
    assert default_for(("no-such-key",)) is not None
    assert default_for(("no-such-key",)) is default_for(("other",))


def test_the_defaults_under_a_prefix_are_those_strictly_below_it() -> None:
    under = defaults_under(("routing",))
    assert under == {
        ("routing", "strategy"): "round-robin",
        ("routing", "session-affinity-ttl"): "1h",
    }
    assert defaults_under(("ws-auth",)) == {}
