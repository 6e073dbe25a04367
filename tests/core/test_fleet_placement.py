"""The fleet core: rendezvous placement (stable, weighted, deterministic), credential identity,
and the fleet plan (per-target plans, moves, duplicates, max-deletions per source)."""

from __future__ import annotations

import hashlib
import math
from collections import Counter

from fleet_builders import fleet, held
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.fleet import (
    CredentialInfo,
    FleetPlanOptions,
    FleetTarget,
    identity,
    make_fleet_plan,
    place,
    placement,
    score,
)

FILES = [f"file-{i}.json" for i in range(600)]
names_st = st.lists(
    st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True), min_size=1, max_size=8, unique=True
)


def targets(*names: str, **weights: float) -> list[FleetTarget]:
    return [FleetTarget(n, weights.get(n.replace("-", "_"), 1.0)) for n in names]


@settings(max_examples=40, deadline=None)
@given(names=names_st, new=st.from_regex(r"[A-Z][a-z0-9]{0,6}", fullmatch=True))
def test_adding_a_target_moves_only_files_that_land_on_it(names: list[str], new: str) -> None:
    before = placement(FILES, {}, targets(*names))
    after = placement(FILES, {}, targets(*names, new))
    moved = [f for f in FILES if before[f] != after[f]]
    assert all(after[f] == new for f in moved)
    # about 1/(N+1) of them, never most of them
    share = len(moved) / len(FILES)
    assert abs(share - 1 / (len(names) + 1)) < 0.12


@settings(max_examples=40, deadline=None)
@given(names=names_st.filter(lambda n: len(n) >= 2), data=st.data())
def test_removing_a_target_moves_only_the_files_it_held(
    names: list[str], data: st.DataObject
) -> None:
    gone = data.draw(st.sampled_from(names))
    before = placement(FILES, {}, targets(*names))
    after = placement(FILES, {}, targets(*(n for n in names if n != gone)))
    moved = {f for f in FILES if before[f] != after[f]}
    assert moved == {f for f in FILES if before[f] == gone}


@settings(max_examples=30, deadline=None)
@given(names=names_st)
def test_same_inputs_same_placement_whatever_the_order(names: list[str]) -> None:
    a = placement(FILES, {}, targets(*names))
    b = placement(FILES, {}, targets(*reversed(names)))
    assert a == b == placement(FILES, {}, targets(*names))


def test_draining_a_target_moves_only_its_files_and_back() -> None:
    pool = targets("eu-1", "eu-2", "us-1")
    before = placement(FILES, {}, pool)
    drained = [FleetTarget("eu-1"), FleetTarget("eu-2", drain=True), FleetTarget("us-1")]
    during = placement(FILES, {}, drained)
    assert "eu-2" not in during.values()
    assert {f for f in FILES if before[f] != during[f]} == {f for f in FILES if before[f] == "eu-2"}
    assert placement(FILES, {}, pool) == before


def test_weight_scales_the_share() -> None:
    counts = Counter(placement(FILES * 1, {}, targets("a", "b", "c", c=2.0)).values())
    assert 0.4 < counts["c"] / len(FILES) < 0.6
    assert 0.18 < counts["a"] / len(FILES) < 0.32


def test_pins_win_and_no_eligible_target_places_nothing() -> None:
    assert placement(["x.json"], {"x.json": "b"}, targets("a", "b"))["x.json"] == "b"
    assert place("x.json", [FleetTarget("a", drain=True)]) is None


def test_identity() -> None:
    assert identity(CredentialInfo("a.json", "codex", "A@x.com", "acct-1")) == "codex:acct-1"
    assert identity(CredentialInfo("a.json", "claude", "A@X.com ")) == "claude:a@x.com"
    assert identity(CredentialInfo("a.json", "gemini")) == "file:a.json"


# -- the fleet plan --------------------------------------------------------------------------


def test_fresh_fleet_creates_each_file_on_its_target_only() -> None:
    d = fleet(["a", "b", "c"], FILES[:30])
    plan = make_fleet_plan(d, {n: held() for n in "abc"}, FleetPlanOptions())
    created = {t: {x.name for x in p.auth_actions("create")} for t, p in plan.plans.items()}
    assert sum(len(v) for v in created.values()) == 30
    for f in FILES[:30]:
        assert [t for t, names in created.items() if f in names] == [plan.placement[f]]
    assert not plan.moves and not plan.duplicates


def test_drain_moves_the_files_and_never_creates_or_prunes_them() -> None:
    files = FILES[:30]
    before = fleet(["a", "b", "c"], files).placed()
    lives = {t: held(*((f, f"{f}@x.com", None) for f in files if before[f] == t)) for t in "abc"}
    d = fleet(["a", "b", "c"], files, drain="b", max_deletions=100)
    plan = make_fleet_plan(d, lives, FleetPlanOptions())
    assert {m.name for m in plan.moves} == {f for f in files if before[f] == "b"}
    assert all(m.source == "b" and m.dest != "b" for m in plan.moves)
    assert all(not p.actions for p in plan.plans.values())
    assert plan.has_changes and not plan.is_blocked


def test_moves_count_against_max_deletions_of_the_source() -> None:
    files = FILES[:30]
    before = fleet(["a", "b", "c"], files).placed()
    lives = {t: held(*((f, f"{f}@x.com", None) for f in files if before[f] == t)) for t in "abc"}
    d = fleet(["a", "b", "c"], files, drain="b", max_deletions=2)
    plan = make_fleet_plan(d, lives, FleetPlanOptions())
    assert [b.rule for b in plan.blockers] == ["mass-delete"]
    assert "target b" in plan.blockers[0].message
    assert not make_fleet_plan(d, lives, FleetPlanOptions(allow_mass_delete=True)).blockers


def test_same_account_under_two_names_is_a_duplicate_resolved_to_the_newest() -> None:
    d = fleet(["a", "b"], ["bob.json"], pins={"bob.json": "a"})
    lives = {
        "a": held(("bob.json", "bob@x.com", "2026-01-01T00:00:00Z")),
        "b": held(("bob-copy.json", "BOB@x.com", "2026-02-01T00:00:00Z")),
    }
    plan = make_fleet_plan(d, lives, FleetPlanOptions())
    (dup,) = plan.duplicates
    assert dup.identity == "claude:bob@x.com"
    assert dup.keep is not None and dup.keep.address == "b/bob-copy.json"
    (move,) = plan.moves
    assert (move.source, move.source_name, move.dest, move.name) == (
        "b",
        "bob-copy.json",
        "a",
        "bob.json",
    )
    assert [c.address for c in move.drop] == ["a/bob.json"]
    assert all(not p.actions for p in plan.plans.values())  # nothing pruned or created besides


def test_duplicate_already_newest_in_place_only_drops_the_other() -> None:
    d = fleet(["a", "b"], ["bob.json"], pins={"bob.json": "a"})
    lives = {
        "a": held(("bob.json", "bob@x.com", "2026-03-01T00:00:00Z")),
        "b": held(("bob.json", "bob@x.com", "2026-02-01T00:00:00Z")),
    }
    (move,) = make_fleet_plan(d, lives, FleetPlanOptions()).moves
    assert not move.transfer and [c.address for c in move.drop] == ["b/bob.json"]
    assert move.deletes_on("b") == 1 and move.deletes_on("a") == 0


def test_undeclared_duplicate_is_reported_not_resolved() -> None:
    d = fleet(["a", "b"], [])
    lives = {"a": held(("x.json", "x@x.com", None)), "b": held(("y.json", "x@x.com", None))}
    plan = make_fleet_plan(d, lives, FleetPlanOptions())
    (dup,) = plan.duplicates
    assert dup.keep is None and "not resolved" in dup.note and not plan.moves
    assert plan.has_changes


def test_an_unread_target_defers_creates_elsewhere() -> None:
    d = fleet(["a", "b"], FILES[:10])
    plan = make_fleet_plan(d, {"a": held()}, FleetPlanOptions())
    assert plan.unread == ("b",)
    assert not plan.plans["a"].auth_actions("create")
    assert {f for f, _ in plan.deferred} == {f for f in FILES[:10] if plan.placement[f] == "a"}


def test_pending_journal_entries_are_moves_not_creates() -> None:
    d = fleet(["a", "b"], ["x.json"], pins={"x.json": "b"})
    plan = make_fleet_plan(
        d, {"a": held(), "b": held()}, FleetPlanOptions(), pending={"x.json": "b"}
    )
    (move,) = plan.moves
    assert move.from_journal and move.dest == "b"
    assert not plan.plans["b"].actions


def test_score_is_the_sha256_of_the_pair_whatever_the_order_of_calls() -> None:
    """The score hashes ``target NUL file`` (each target's prefix is hashed once and copied):
    the same double as hashing the pair afresh, for any name, weight and call order."""

    def fresh(target: str, file: str, weight: float) -> float:
        digest = hashlib.sha256(f"{target}\0{file}".encode()).digest()
        return -weight / math.log((int.from_bytes(digest[:8], "big") + 1) / (2**64 + 2))

    pairs = [("eu-1", "a.json", 1.0), ("eu-1", "b.json", 2.0), ("us-1", "josé.json", 0.5)]
    for target, file, weight in pairs + pairs[::-1]:
        assert score(target, file, weight) == fresh(target, file, weight)
    assert score("a", "b\0c") == fresh("a", "b\0c", 1.0)


def test_each_target_share_is_what_placement_gives_it_in_declared_order() -> None:
    files = FILES[:60]
    d = fleet(["a", "b", "c"], files, drain="c", pins={files[5]: "b", files[6]: "a"})
    placed = d.placed()
    assert placed == placement(files, {files[5]: "b", files[6]: "a"}, d.targets)
    assert all(placed[f] == place(f, d.targets) for f in files if f not in d.pins)
    for t in "abc":
        assert [f.name for f in d.share(t)] == [f for f in files if placed.get(f) == t]
    assert d.share("c") == () and d.share("nowhere") == ()
    placed.clear()  # a copy: the next call is whole again
    assert d.placed() == placement(files, {files[5]: "b", files[6]: "a"}, d.targets)
