"""``apply FLEET --plan PLANFILE``: is the saved fleet plan still the plan?

A fleet plan file (``plan FLEET --out``) holds, per target, the single-target plan document
with its two fingerprints (keyed by that target's own fingerprint key), and the fleet's moves
and duplicates. Before anything is changed, ``apply`` plans again and compares:

* a target whose URL is not the one in the file, or a ``--target`` choice other than the
  plan's: the wrong input, exit 1 with no request;
* the targets, or a target's desired fingerprint (its config, policy and the files placed on
  it), changed: stale, exit 3;
* a target's live fingerprint, whether it was read, the moves or the duplicates changed:
  stale, exit 3, naming what moved; unless nothing is left to do anywhere, which means the
  plan was applied already (said, and exit 0, as for a single target).

Unfinished moves from the journal are left out of the comparison: every apply completes them
first, whatever the plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler import errors
from reconciler.desired.fleet import LoadedFleet
from reconciler.output import plan_json
from reconciler.output.fleet import move_done_here
from reconciler.pipeline import fleet as pfleet
from reconciler.pipeline import planning

MOST = 5


def check_targets(
    saved: dict[str, Any],
    loaded: LoadedFleet,
    targets: Mapping[str, planning.Target],
    chosen: tuple[str, ...],
    path: str,
) -> None:
    """Before any request: the plan was made for these servers and this ``--target`` choice."""
    sections: dict[str, Any] = saved["targets"]
    for name, section in sections.items():
        target = targets.get(name)
        if target is None:
            continue  # a target added or removed: the desired state changed (stale, below)
        url = section.get("url")
        if not isinstance(url, str) or planning.canonical_url(url) != plan_json.safe_url(
            target.url
        ):
            raise errors.PlanFileError(
                f"plan file {path}: target {name} was planned at {url}, not at "
                f"{plan_json.safe_url(target.url)}; nothing was applied. Make the plan from "
                f"{loaded.path}"
            )
    planned_for = tuple(n for n, s in sections.items() if s.get("selected", True))
    if set(sections) == set(loaded.fleet.names) and set(planned_for) != set(chosen):
        raise errors.PlanFileError(
            f"plan file {path} was made for target(s) {', '.join(planned_for)}, and this apply "
            f"is for {', '.join(chosen)}; nothing was applied. Give the same --target as the plan"
        )


def check_saved(saved: dict[str, Any], planned: pfleet.FleetPlanned, path: str) -> None:
    """Refuse a stale fleet plan (exit 3), naming what changed; a plan applied already is not
    stale."""
    sections: dict[str, Any] = saved["targets"]
    names = tuple(planned.loaded.fleet.names)
    if tuple(sections) != names:
        raise errors.StalePlanError(
            f"{path} is stale: the targets changed since the plan was made (planned: "
            f"{', '.join(sections) or 'none'}; now: {', '.join(names)}); nothing was applied. "
            "Run plan again."
        )
    prints = planned.fingerprints()
    chosen = planned.selected
    changed_desired = [
        n
        for n in chosen
        if n in prints and _plan_of(sections[n]).get("desired_fingerprint") != prints[n][0]
    ]
    if changed_desired:
        raise errors.StalePlanError(
            f"{path} is stale: the desired state changed since the plan was made (target "
            f"{', '.join(changed_desired)}); nothing was applied. Run plan again."
        )
    moved: list[str] = []
    for name in chosen:
        was_read = sections[name].get("error") is None and sections[name].get("plan") is not None
        if was_read != (name in prints):
            state = "read" if name in prints else "not read"
            moved.append(f"target {name} is {state} now")
        elif name in prints and _plan_of(sections[name]).get("live_fingerprint") != prints[name][1]:
            moved.append(f"target {name}")
    plan = planned.plan
    if _moves(saved.get("moves")) != _moves(_fresh_moves(planned)):
        moved.append("the moves")
    if _duplicates(saved.get("duplicates")) != _duplicates(_fresh_duplicates(planned)):
        moved.append("the duplicates")
    if not moved:
        return
    left = [m for m in plan.moves if not m.from_journal and move_done_here(m, chosen)]
    if not left and not any(plan.plans[n].actions for n in chosen if n in plan.plans):
        print(f"{path} was already applied: the live state matches it; nothing to do.")
        return
    shown = ", ".join(moved[:MOST]) + (
        f" and {len(moved) - MOST} more" if len(moved) > MOST else ""
    )
    raise errors.StalePlanError(
        f"{path} is stale: the live state changed since the plan was made ({shown}); nothing "
        "was applied. Run plan again."
    )


def _plan_of(section: Any) -> dict[str, Any]:
    plan = section.get("plan") if isinstance(section, dict) else None
    return plan if isinstance(plan, dict) else {}


def _fresh_moves(planned: pfleet.FleetPlanned) -> list[dict[str, Any]]:
    return [
        {
            "name": m.name,
            "from": {"target": m.source, "name": m.source_name},
            "to": {"target": m.dest, "name": m.name},
            "transfer": m.transfer,
            "drop": [{"target": c.target, "name": c.name} for c in m.drop],
            "from_journal": m.from_journal,
        }
        for m in planned.plan.moves
    ]


def _fresh_duplicates(planned: pfleet.FleetPlanned) -> list[dict[str, Any]]:
    return [
        {
            "identity": d.identity,
            "copies": [{"target": c.target, "name": c.name} for c in d.copies],
            "keep": {"target": d.keep.target, "name": d.keep.name} if d.keep else None,
        }
        for d in planned.plan.duplicates
    ]


def _where(item: Any) -> tuple[str, str]:
    if not isinstance(item, dict):
        return ("", "")
    return (str(item.get("target")), str(item.get("name")))


def _moves(moves: Any) -> set[tuple[Any, ...]]:
    """What the moves do, without the journal's (completed first by every apply) and
    without times (a refresh between plan and apply is carried, not a change)."""
    out: set[tuple[Any, ...]] = set()
    for m in moves if isinstance(moves, list) else []:
        if not isinstance(m, dict) or m.get("from_journal"):
            continue
        drop = m.get("drop")
        out.add(
            (
                m.get("name"),
                _where(m.get("from")),
                _where(m.get("to")),
                bool(m.get("transfer")),
                tuple(sorted(_where(c) for c in (drop if isinstance(drop, list) else []))),
            )
        )
    return out


def _duplicates(dups: Any) -> set[tuple[Any, ...]]:
    out: set[tuple[Any, ...]] = set()
    for d in dups if isinstance(dups, list) else []:
        if not isinstance(d, dict):
            continue
        copies = d.get("copies")
        keep = d.get("keep")
        out.add(
            (
                d.get("identity"),
                tuple(sorted(_where(c) for c in (copies if isinstance(copies, list) else []))),
                _where(keep) if keep is not None else None,
            )
        )
    return out
