"""core.fleet: the exact moves, duplicates, deferrals and blockers of a fleet plan, scenario by
scenario, and the placement's own rules (scores, ties, identity)."""

from __future__ import annotations

import hashlib
import math

from fleet_builders import fleet, held

from reconciler.core.fleet import (
    Copy,
    CredentialInfo,
    Duplicate,
    FleetDesired,
    FleetPlan,
    FleetPlanOptions,
    FleetTarget,
    Move,
    TargetLive,
    identity,
    make_fleet_plan,
    place,
    score,
)
from reconciler.core.model import (
    AuthFilesPolicy,
    DesiredState,
    LiveAuthFile,
    LiveState,
)
from reconciler.core.plan import PlanOptions
from reconciler.core.safety import Blocker, SafetyOptions

OLD, NEW = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"
BOB = "claude:bob@x.com"


def plan_of(desired: FleetDesired, lives: dict[str, TargetLive], **kwargs: object) -> FleetPlan:
    options = kwargs.pop("options", FleetPlanOptions())
    return make_fleet_plan(desired, lives, options, **kwargs)  # type: ignore[arg-type]


# -- placement and identity ------------------------------------------------------------------


def test_a_score_is_minus_the_weight_over_the_log_of_the_pairs_uniform() -> None:
    digest = hashlib.sha256(b"eu-1\0alice.json").digest()
    u = (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 2)
    assert score("eu-1", "alice.json") == -1.0 / math.log(u)
    assert score("eu-1", "alice.json", 3.0) == -3.0 / math.log(u)


def test_a_tie_goes_to_the_name_that_sorts_first() -> None:
    inf = math.inf  # every score infinite: the only tie there can be
    assert place("x.json", [FleetTarget("b", inf), FleetTarget("a", inf)]) == "a"
    assert place("x.json", [FleetTarget("a", inf), FleetTarget("b", inf)]) == "a"


def test_identity_without_a_provider_and_of_an_account_id_not_of_codex() -> None:
    assert identity(CredentialInfo("a.json", None, "Bob@x.com")) == "unknown:bob@x.com"
    assert identity(CredentialInfo("a.json", "claude", "bob@x.com", "acct-1")) == BOB


def test_a_move_deletes_its_source_once_and_each_dropped_copy() -> None:
    move = Move("x.json", "a", "x.json", "b", "why", (Copy("c", "x.json"), Copy("c", "y.json")))
    assert [move.deletes_on(t) for t in "abc"] == [1, 0, 2]
    assert Move("x.json", "b", "x.json", "b", "why", from_journal=True).deletes_on("b") == 0


# -- moves ------------------------------------------------------------------------------------


def test_a_file_placed_elsewhere_moves_with_the_reason() -> None:
    plan = plan_of(
        fleet("ab", ["bob.json"], pins={"bob.json": "b"}),
        {
            "a": held(("bob.json", "bob@x.com", OLD)),
            "b": held(),
        },
    )
    assert plan.moves == (Move("bob.json", "a", "bob.json", "b", "placed on b"),)
    assert plan.moves_touching("a") == plan.moves_touching("b") == list(plan.moves)


def test_a_draining_target_says_so_in_the_reason() -> None:
    plan = plan_of(
        fleet("ab", ["bob.json"], drain="a"),
        {
            "a": held(("bob.json", "bob@x.com", OLD)),
            "b": held(),
        },
    )
    assert plan.moves == (Move("bob.json", "a", "bob.json", "b", "placed on b (a drains)"),)


def test_only_the_declared_names_of_one_server_move_and_the_rest_stay_unmanaged() -> None:
    plan = plan_of(
        fleet("ab", ["bob.json"], pins={"bob.json": "b"}),
        {
            "a": held(("a-old.json", "bob@x.com", OLD), ("bob.json", "bob@x.com", OLD)),
            "b": held(),
        },
    )
    assert plan.moves == (Move("bob.json", "a", "bob.json", "b", "placed on b"),)
    assert plan.plans["a"].unmanaged == ("a-old.json",)


def test_moves_to_a_target_not_read_are_deferred_one_by_one() -> None:
    plan = plan_of(
        fleet("ab", ["bob.json", "bob2.json"], pins=dict.fromkeys(["bob.json", "bob2.json"], "b")),
        {
            "a": held(("bob.json", "bob@x.com", OLD), ("bob2.json", "bob@x.com", OLD)),
        },
    )
    assert plan.moves == ()
    assert plan.deferred == (
        ("bob.json", "not moved from a: target b was not read"),
        ("bob2.json", "not moved from a: target b was not read"),
    )


def test_nothing_moves_when_every_target_drains() -> None:
    plan = plan_of(fleet("a", ["bob.json"], drain="a"), {"a": held(("bob.json", "b@x.com", OLD))})
    assert (plan.moves, plan.deferred) == ((), ())


def test_an_unfinished_move_is_completed_unless_the_file_is_live_again() -> None:
    plan = plan_of(
        fleet("ab", []),
        {"a": held(("a-live.json", "x@x.com", OLD)), "b": held()},
        pending={"a-live.json": "b", "z-gone.json": "b"},
    )
    journal = "unfinished move: completed from the journal"
    assert plan.moves == (Move("z-gone.json", "b", "z-gone.json", "b", journal, (), True, True),)


# -- targets not read -------------------------------------------------------------------------


def test_creates_wait_for_every_target_not_read_and_name_them() -> None:
    plan = plan_of(fleet("abc", ["x.json"], pins={"x.json": "c"}), {"c": held()})
    assert list(plan.plans) == ["c"]
    assert plan.unread == ("a", "b")
    assert plan.deferred == (
        ("x.json", "not created on c: target a, b was not read and may hold it"),
    )


# -- duplicates -------------------------------------------------------------------------------


def test_a_duplicate_keeps_the_newest_copy_moves_it_and_drops_the_others() -> None:
    plan = plan_of(
        fleet("abc", ["bob.json"], pins={"bob.json": "a"}),
        {
            "a": held(("bob-alt.json", "bob@x.com", OLD), ("bob.json", "bob@x.com", OLD)),
            "b": held(("bob-copy.json", "BOB@x.com", NEW)),
            "c": held(("bob.json", "bob@x.com", OLD)),
        },
    )
    how = (
        "keep b/bob-copy.json (newest last_refresh), moved to a/bob.json; delete a/bob.json, "
        "c/bob.json after a backup"
    )
    keep = Copy("b", "bob-copy.json", NEW)
    drop = (Copy("a", "bob.json", OLD), Copy("c", "bob.json", OLD))
    assert plan.duplicates == (
        Duplicate(BOB, (Copy("a", "bob-alt.json", OLD), drop[0], keep, drop[1]), keep, how),
    )
    assert plan.moves == (
        Move("bob.json", "b", "bob-copy.json", "a", f"duplicate credential {BOB}: {how}", drop),
    )
    # a copy on the placed target under another name is that server's own business
    assert plan.plans["a"].unmanaged == ("bob-alt.json",)
    assert plan.plans["b"].unmanaged == () and plan.plans["c"].unmanaged == ()
    assert [m.name for m in plan.moves_touching("c")] == ["bob.json"]
    assert plan.moves_touching("elsewhere") == []


def test_a_duplicate_with_nothing_to_drop_only_moves() -> None:
    plan = plan_of(
        fleet("ab", ["bob.json"], pins={"bob.json": "a"}),
        {
            "a": held(("bob-alt.json", "bob@x.com", OLD)),
            "b": held(("bob.json", "bob@x.com", NEW)),
        },
    )
    (dup,) = plan.duplicates
    assert dup.note == "keep b/bob.json (newest last_refresh), moved to a/bob.json"


def test_a_duplicate_newest_in_place_stays_and_the_rest_is_dropped() -> None:
    plan = plan_of(
        fleet("ab", ["bob.json"], pins={"bob.json": "a"}),
        {
            "a": held(("bob.json", "bob@x.com", NEW)),
            "b": held(("bob.json", "bob@x.com", OLD)),
        },
    )
    how = "keep a/bob.json (newest last_refresh); delete b/bob.json after a backup"
    assert [d.note for d in plan.duplicates] == [how]
    assert plan.moves == (
        Move(
            "bob.json",
            "a",
            "bob.json",
            "a",
            f"duplicate credential {BOB}: {how}",
            (Copy("b", "bob.json", OLD),),
            False,
        ),
    )


def test_on_a_tie_the_copy_in_place_is_kept() -> None:
    plan = plan_of(
        fleet("ab", ["bob.json"], pins={"bob.json": "b"}),
        {
            "a": held(("bob.json", "bob@x.com", OLD)),
            "b": held(("bob.json", "bob@x.com", OLD)),
        },
    )
    (dup,) = plan.duplicates
    assert dup.keep == Copy("b", "bob.json", OLD)
    assert not plan.moves[0].transfer


def test_on_a_tie_with_no_copy_in_place_the_first_listed_target_wins() -> None:
    plan = plan_of(
        fleet("abc", ["bob.json"], pins={"bob.json": "c"}),
        {
            "a": held(("bob.json", "bob@x.com", OLD)),
            "b": held(("bob2.json", "bob@x.com", OLD)),
            "c": held(),
        },
    )
    (dup,) = plan.duplicates
    assert dup.keep == Copy("a", "bob.json", OLD)


def test_a_copy_without_last_refresh_is_the_oldest() -> None:
    plan = plan_of(
        fleet("ab", ["bob.json"], pins={"bob.json": "a"}),
        {
            "a": held(("bob.json", "bob@x.com", None)),
            "b": held(("bob.json", "bob@x.com", OLD)),
        },
    )
    assert plan.duplicates[0].keep == Copy("b", "bob.json", OLD)


def test_duplicates_that_cannot_be_resolved_say_why() -> None:
    copies = {"a": held(("bob.json", "bob@x.com", OLD)), "b": held(("bob2.json", "bob@x.com", OLD))}
    both = (Copy("a", "bob.json", OLD), Copy("b", "bob2.json", OLD))
    none = plan_of(fleet("ab", []), copies)
    assert none.duplicates == (
        Duplicate(
            BOB,
            both,
            None,
            "not resolved: none of its names is in the desired state "
            "(declare one, or delete the others)",
        ),
    )
    several = plan_of(fleet("ab", ["bob.json", "bob2.json"]), copies)
    assert several.duplicates == (
        Duplicate(
            BOB,
            both,
            None,
            "not resolved: it is declared under several names (bob.json, bob2.json)",
        ),
    )


def test_a_duplicate_placed_on_a_target_not_read_waits_and_hides_its_copies() -> None:
    plan = plan_of(
        fleet("abc", ["bob.json"], pins={"bob.json": "c"}),
        {
            "a": held(("bob-copy.json", "bob@x.com", OLD)),
            "b": held(("bob.json", "bob@x.com", OLD)),
        },
    )
    copies = (Copy("a", "bob-copy.json", OLD), Copy("b", "bob.json", OLD))
    assert plan.duplicates == (
        Duplicate(BOB, copies, None, "not resolved: its target c was not read"),
    )
    assert plan.plans["a"].unmanaged == ()


def test_without_the_listings_details_a_copy_is_known_by_its_file() -> None:
    bare = {
        "a": TargetLive(LiveState(auth_files={"x.json": LiveAuthFile("x.json")})),
        "b": TargetLive(LiveState(auth_files={"x.json": LiveAuthFile("x.json")})),
    }
    (dup,) = plan_of(fleet("ab", []), bare).duplicates
    assert (dup.identity, dup.copies) == ("file:x.json", (Copy("a", "x.json"), Copy("b", "x.json")))


def test_without_the_listings_details_the_provider_and_email_make_the_identity() -> None:
    lives = {
        t: TargetLive(
            LiveState(auth_files={n: LiveAuthFile(n, provider="claude", email="bob@x.com")})
        )
        for t, n in (("a", "x.json"), ("b", "y.json"))
    }
    (dup,) = plan_of(fleet("ab", []), lives).duplicates
    assert dup.identity == BOB


def test_codex_copies_with_one_account_id_are_one_credential() -> None:
    def codex(name: str, email: str) -> TargetLive:
        live = LiveState(auth_files={name: LiveAuthFile(name, provider="codex", email=email)})
        return TargetLive(live, {name: CredentialInfo(name, "codex", email, "acct-1", OLD)})

    plan = plan_of(
        fleet("ab", []), {"a": codex("x.json", "one@x.com"), "b": codex("y.json", "two@x.com")}
    )
    assert [d.identity for d in plan.duplicates] == ["codex:acct-1"]


def test_copies_are_listed_in_the_fleet_files_target_order() -> None:
    plan = plan_of(
        fleet("zb", []),
        {"b": held(("x.json", "x@x.com", OLD)), "z": held(("y.json", "x@x.com", OLD))},
    )
    assert plan.duplicates[0].copies == (Copy("z", "y.json", OLD), Copy("b", "x.json", OLD))


# -- blockers and per-target options ----------------------------------------------------------


def _moving_with_a_prune(max_deletions: int) -> FleetPlan:
    pruning = DesiredState(auth_policy=AuthFilesPolicy(prune=True, max_deletions=max_deletions))
    desired = fleet("ab", ["bob.json"], pins={"bob.json": "a"}, states={"b": pruning})
    return plan_of(
        desired,
        {
            "a": held(),
            "b": held(("bob.json", "bob@x.com", OLD), ("stale.json", "s@x.com", OLD)),
        },
    )


def test_moves_and_deletes_off_one_target_count_together_against_its_max_deletions() -> None:
    assert _moving_with_a_prune(1).blockers == (
        Blocker(
            "mass-delete",
            "target b: the plan takes 2 auth files off it (1 by moves), more than its "
            "max-deletions (1)",
            "--allow-mass-delete",
        ),
    )
    assert _moving_with_a_prune(2).blockers == ()


def test_each_target_is_planned_with_its_own_options() -> None:
    pruning = DesiredState(auth_policy=AuthFilesPolicy(prune=True, max_deletions=0))
    desired = fleet("ab", [], states={"b": pruning})
    lives = {"a": held(), "b": held(("stale.json", "s@x.com", OLD))}
    assert plan_of(desired, lives).plans["b"].is_blocked
    lifted = FleetPlanOptions(
        per_target={"b": PlanOptions(safety=SafetyOptions(allow_mass_delete=True))}
    )
    assert not plan_of(desired, lives, options=lifted).plans["b"].is_blocked
