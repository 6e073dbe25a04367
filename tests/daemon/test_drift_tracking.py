"""Drift items from plans, and what the tracker announces over a sequence of cycles (tables)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core.changes import Change
from reconciler.core.normalize import MISSING
from reconciler.core.plan import Action, Plan
from reconciler.daemon.drift import DriftItem, DriftTracker, items_from_plan

CFG = "config differs from the desired state"


def config(*changes: Change) -> Action:
    return Action("config", "config.yaml", "update", CFG, changes)


def auth(name: str, op: str, *changes: Change, reason: str = "why") -> Action:
    return Action("auth-file", name, op, reason, changes)


ITEM_CASES: list[tuple[str, Plan, list[dict[str, Any]]]] = [
    ("no changes", Plan(), []),
    (
        "a scalar",
        Plan((config(Change(("debug",), before=True, after=False)),)),
        [
            {
                "kind": "config",
                "name": "config.yaml",
                "op": "update",
                "path": "debug",
                "reason": CFG,
                "before": True,
                "after": False,
            }
        ],
    ),
    (
        "a nested key that appears",
        Plan((config(Change(("routing", "strategy"), after="fill-first")),)),
        [
            {
                "kind": "config",
                "name": "config.yaml",
                "op": "update",
                "path": "routing.strategy",
                "reason": CFG,
                "after": "fill-first",
            }
        ],
    ),
    (
        "a secret is masked on both sides",
        Plan(
            (
                config(
                    Change(
                        ("remote-management", "secret-key"),
                        before="old-PLANTED",
                        after="new-PLANTED",
                    )
                ),
            )
        ),
        [
            {
                "kind": "config",
                "name": "config.yaml",
                "op": "update",
                "path": "remote-management.secret-key",
                "reason": CFG,
                "before": "***",
                "after": "***",
            }
        ],
    ),
    (
        "two elements of a secret list are two items, masked",
        Plan(
            (
                config(
                    Change(("api-keys",), after="k1-PLANTED", element=True),
                    Change(("api-keys",), before="k2-PLANTED", element=True),
                ),
            )
        ),
        [
            {
                "kind": "config",
                "name": "config.yaml",
                "op": "update",
                "path": "api-keys[]",
                "reason": "element missing on the server",
                "after": "***",
            },
            {
                "kind": "config",
                "name": "config.yaml",
                "op": "update",
                "path": "api-keys[]",
                "reason": "element not in the desired state",
                "before": "***",
            },
        ],
    ),
    (
        "a missing auth file",
        Plan(
            (
                auth(
                    "a.json",
                    "create",
                    Change(("disabled",), after=False),
                    reason="missing on the server",
                ),
            )
        ),
        [
            {
                "kind": "auth-file",
                "name": "a.json",
                "op": "create",
                "reason": "missing on the server",
            }
        ],
    ),
    (
        "an extra auth file under prune",
        Plan((auth("x.json", "delete", reason="not in the desired state (prune)"),)),
        [
            {
                "kind": "auth-file",
                "name": "x.json",
                "op": "delete",
                "reason": "not in the desired state (prune)",
            }
        ],
    ),
    (
        "policy changes are one item each; a referenced field is masked",
        Plan(
            (
                auth(
                    "a.json",
                    "update",
                    Change(("disabled",), before=True, after=False),
                    Change(("fields", "note"), before="n", after="s-PLANTED", secret=True),
                    reason="policy differs",
                ),
            )
        ),
        [
            {
                "kind": "auth-file",
                "name": "a.json",
                "op": "update",
                "path": "disabled",
                "reason": "policy differs",
                "before": True,
                "after": False,
            },
            {
                "kind": "auth-file",
                "name": "a.json",
                "op": "update",
                "path": "fields.note",
                "reason": "policy differs",
                "before": "***",
                "after": "***",
            },
        ],
    ),
    (
        "an unresolved item names its file",
        Plan(
            unresolved=(
                "auth file b.json is missing on the server and has no source to create it from",
            )
        ),
        [
            {
                "kind": "auth-file",
                "name": "b.json",
                "op": "unresolved",
                "reason": "auth file b.json is missing on the server and has no source to create it from",
            }
        ],
    ),
]


@pytest.mark.parametrize(
    ("plan", "expected"), [c[1:] for c in ITEM_CASES], ids=[c[0] for c in ITEM_CASES]
)
def test_items_from_plan(plan: Plan, expected: list[dict[str, Any]]) -> None:
    items = items_from_plan(plan)
    assert [i.fields() for i in items] == expected
    assert len({i.key for i in items}) == len(items)
    assert "PLANTED" not in repr([i.fields() for i in items])


def test_secret_paths_from_references_are_masked() -> None:
    plan = Plan((config(Change(("proxy-url",), before="http://a", after="http://b-PLANTED")),))
    [item] = items_from_plan(plan, secret_paths=[("proxy-url",)])
    assert (item.before, item.after) == ("***", "***")


def test_keys_are_stable_across_plans() -> None:
    def make() -> Plan:
        return Plan(
            (config(Change(("debug",), before=True, after=False)), auth("a.json", "create"))
        )

    assert [i.key for i in items_from_plan(make())] == [i.key for i in items_from_plan(make())]


def item(key: str, after: Any = 1, kind: str = "config") -> DriftItem:
    return DriftItem(key, kind, "config.yaml", "update", "r", key, 0, after)


# Each step: the items a cycle sees -> (detected, changed, resolved) keys.
TRACK_CASES: list[
    tuple[str, list[tuple[list[DriftItem], tuple[list[str], list[str], list[str]]]]]
] = [
    ("nothing ever", [([], ([], [], [])), ([], ([], [], []))]),
    (
        "detected once, persists silently, then resolves",
        [
            ([item("a")], (["a"], [], [])),
            ([item("a")], ([], [], [])),
            ([item("a")], ([], [], [])),
            ([], ([], [], ["a"])),
            ([], ([], [], [])),
        ],
    ),
    (
        "a new item beside a persisting one",
        [
            ([item("a")], (["a"], [], [])),
            ([item("a"), item("b")], (["b"], [], [])),
            ([item("b")], ([], [], ["a"])),
        ],
    ),
    (
        "content changes while it persists: announced again",
        [
            ([item("a", 1)], (["a"], [], [])),
            ([item("a", 2)], ([], ["a"], [])),
            ([item("a", 2)], ([], [], [])),
        ],
    ),
    (
        "comes back after resolving: detected anew",
        [([item("a")], (["a"], [], [])), ([], ([], [], ["a"])), ([item("a")], (["a"], [], []))],
    ),
    ("a duplicate key in one cycle counts once", [([item("a"), item("a")], (["a"], [], []))]),
]


@pytest.mark.parametrize("steps", [c[1] for c in TRACK_CASES], ids=[c[0] for c in TRACK_CASES])
def test_tracker(
    steps: list[tuple[list[DriftItem], tuple[list[str], list[str], list[str]]]],
) -> None:
    tracker = DriftTracker()
    for cycle, (items, (detected, changed, resolved)) in enumerate(steps, 1):
        update = tracker.observe(items, now=f"t{cycle}", cycle=cycle)
        got = (
            [t.item.key for t in update.detected],
            [t.item.key for t in update.changed],
            [t.item.key for t in update.resolved],
        )
        assert got == (detected, changed, resolved), f"cycle {cycle}"


def test_first_seen_is_kept_while_the_item_persists_and_changes() -> None:
    tracker = DriftTracker()
    tracker.observe([item("a", 1)], now="t1", cycle=1)
    update = tracker.observe([item("a", 2)], now="t2", cycle=2)
    assert update.changed[0].first_seen == "t1"
    resolved = tracker.observe([], now="t3", cycle=3).resolved[0]
    assert (resolved.first_seen, resolved.first_cycle) == ("t1", 1)


def test_counts_by_kind() -> None:
    tracker = DriftTracker()
    update = tracker.observe(
        [item("a"), item("b", kind="auth-file"), item("c", kind="auth-file")], now="t", cycle=1
    )
    assert update.count_by_kind() == {"config": 1, "auth-file": 2}
    assert tracker.observe([], now="t", cycle=2).count_by_kind() == {"config": 0, "auth-file": 0}


def test_absent_sides_are_left_out_of_the_fields() -> None:
    fields = DriftItem("k", "config", "config.yaml", "update", "r", "p", MISSING, None).fields()
    assert "before" not in fields
    assert fields["after"] is None
