"""``reconciler apply DESIRED``: make the live CPA match the desired state, safely."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.commands import fleet_run, options
from reconciler.core.plan import MISSING_CREDENTIAL_REMEDY
from reconciler.desired import fleet
from reconciler.desired.loader import LoadedDesired
from reconciler.output import plan_json, render
from reconciler.pipeline import apply as executor
from reconciler.pipeline import planfile, planning
from reconciler.statedir.backup import Backup
from reconciler.statedir.lock import state_lock


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("desired", metavar="DESIRED", help="the desired-state YAML file")
    parser.add_argument(
        "--plan",
        metavar="PLANFILE",
        help="apply exactly this saved plan; refused (exit 3) if anything changed since",
    )
    parser.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    parser.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="allow deleting more auth files than auth-files.max-deletions",
    )
    parser.add_argument(
        "--allow-replace",
        action="store_true",
        help="allow re-seeding auth files marked replace: true (overwrites live tokens)",
    )
    options.add_state_dir_argument(parser)
    options.add_keep_backups_argument(parser)
    options.add_target_arguments(parser)
    fleet_run.add_fleet_arguments(parser, apply=True)


def run(args: argparse.Namespace) -> int:
    loaded = fleet.load_any(args.desired, environ=os.environ, single=planning.load)
    if isinstance(loaded, fleet.LoadedFleet):
        return fleet_run.run_apply(args, loaded)
    fleet_run.refuse_single_target_flags(args)
    target = planning.target_for(loaded, options.target_options(args), os.environ)
    saved = planfile.read_plan_file(args.plan) if args.plan else None
    if saved is not None:
        _check_plan_target(saved, target, args.plan)
    with (
        state_lock(options.state_dir(args, Path(args.desired))),
        options.client_for(
            target, options.state_dir(args, Path(args.desired)), loaded.state
        ) as client,
    ):
        return _apply(args, loaded, target, client, saved)


def _apply(
    args: argparse.Namespace,
    loaded: LoadedDesired,
    target: planning.Target,
    client: ManagementClient,
    saved: dict[str, Any] | None,
) -> int:
    planned = planning.plan_once(
        loaded,
        target,
        client,
        allow_mass_delete=args.allow_mass_delete,
        allow_replace=args.allow_replace,
    )
    if saved is not None:
        _check_saved_plan(saved, planned, args.plan)
    plan = planned.plan
    print(
        render.render_text(
            plan,
            secret_paths=loaded.state.secret_paths,
            color=render.use_color(sys.stdout, os.environ),
            target=target.url,
            server_version=planned.live.server_version,
            fingerprint_key=target.fingerprint_key,
        )
    )
    if plan.blockers:
        raise errors.SafetyError(
            "the plan is blocked by a safety rule; nothing was changed:\n"
            + "\n".join(
                f"  - {b.message}" + (f" (override: {b.override})" if b.override else "")
                for b in plan.blockers
            )
        )
    if not plan.actions:
        return _finish_unresolved(plan.unresolved, done=0)
    if saved is None and not args.auto_approve and not _confirm():
        print("Apply cancelled; nothing was changed.")
        return 1
    backup = Backup.new(options.state_dir(args, Path(args.desired)), target.url)
    progress = _progress if sys.stderr.isatty() else (lambda _m: None)
    try:
        result = executor.apply_plan(
            plan,
            loaded.state,
            planned.live,
            client,
            backup,
            seed_key=planning.SEED_KEY,
            progress=progress,
        )
    finally:
        if backup.exists:
            options.prune_backups(backup.state_dir, args.keep_backups)
    if not plan.unresolved:
        print(f"Apply complete: {len(result.done)} action(s) done.")
    if backup.exists:
        print(f"Backup of what was replaced or deleted: {backup.root}")
    if result.restart_required:
        keys = ", ".join(result.restart_required)
        print(f"Applied, takes effect after a CPA restart: {keys}")
    return _finish_unresolved(plan.unresolved, done=len(result.done))


def _finish_unresolved(unresolved: tuple[str, ...], *, done: int) -> int:
    """Exit 1 while a difference is left that apply cannot fix (a declared credential gone
    from the server with no ``source``): each one, the remedy, and a last line that says so
    instead of "Apply complete"."""
    if not unresolved:
        return 0
    for item in unresolved:
        print(f"error: {item}", file=sys.stderr)
    print(f"  to fix: {MISSING_CREDENTIAL_REMEDY}", file=sys.stderr)
    n = len(unresolved)
    print(
        f"Apply finished with {n} unresolved item{'s' if n != 1 else ''} ({done} action(s) done).",
        file=sys.stderr,
    )
    return 1


def _check_plan_target(saved: dict[str, Any], target: planning.Target, path: str) -> None:
    """A plan for another server is the wrong input, not a stale plan: exit 1, no request."""
    planned_for = saved.get("target", {}).get("url")
    if not isinstance(planned_for, str) or planning.canonical_url(
        planned_for
    ) != plan_json.safe_url(target.url):
        raise errors.PlanFileError(
            f"plan file {path} was made for {planned_for}, not for {plan_json.safe_url(target.url)}; "
            "nothing was applied. Make the plan against this target"
        )


def _check_saved_plan(saved: dict[str, Any], planned: planning.Planned, path: str) -> None:
    """Refuse a stale plan file (exit 3), naming what moved; a plan already applied is not stale.

    The fingerprints say whether anything moved; the plan made now, compared entry by entry with
    the saved one, says what. When the live state moved but nothing is left to do, the plan was
    applied already (by an earlier run, or someone made the same change): say so and go on, so
    that a retried CI job does not fail.
    """
    meta = planned.meta(created_at="")
    if saved.get("desired_fingerprint") != meta["desired_fingerprint"]:
        raise errors.StalePlanError(
            f"{path} is stale: the desired state changed since the plan was made; nothing was "
            "applied. Run plan again."
        )
    if saved.get("live_fingerprint") == meta["live_fingerprint"]:
        return
    if not planned.plan.actions:
        print(f"{path} was already applied: the live state matches it; nothing to do.")
        return
    fresh = plan_json.plan_to_json(
        planned.plan,
        secret_paths=planned.loaded.state.secret_paths,
        fingerprint_key=planned.target.fingerprint_key,
        meta=meta,
    )
    moved = _what_moved(saved.get("resource_changes"), fresh["resource_changes"])
    raise errors.StalePlanError(
        f"{path} is stale: the live state changed since the plan was made"
        + (f" ({moved})" if moved else "")
        + "; nothing was applied. Run plan again."
    )


def _what_moved(saved: Any, fresh: list[dict[str, Any]], most: int = 5) -> str:
    """The first few addresses and config paths whose planned change differs (no values)."""
    before = (
        {c.get("address"): c for c in saved if isinstance(c, dict)}
        if isinstance(saved, list)
        else {}
    )
    after = {c["address"]: c for c in fresh}
    moved: list[str] = []
    for address in [*after, *(a for a in before if a not in after)]:
        old, new = before.get(address), after.get(address)
        if old == new:
            continue
        if old is None or new is None or old.get("kind") != "config":
            moved.append(str(address))
            continue
        old_paths = {c.get("path"): c for c in old.get("changes", []) if isinstance(c, dict)}
        new_paths = {c["path"]: c for c in new.get("changes", [])}
        paths = [p for p in {**new_paths, **old_paths} if old_paths.get(p) != new_paths.get(p)]
        moved += [f"config {p}" for p in paths] or [str(address)]
    if len(moved) > most:
        return ", ".join(moved[:most]) + f" and {len(moved) - most} more"
    return ", ".join(moved)


def _confirm() -> bool:
    if not sys.stdin.isatty():
        raise errors.UsageError(
            "apply needs confirmation but standard input is not a terminal: pass --auto-approve "
            "or --plan PLANFILE"
        )
    answer = input("Apply these changes? Only 'yes' is accepted: ")
    return answer.strip() == "yes"


def _progress(message: str) -> None:
    print(f"  ... {message}", file=sys.stderr, flush=True)
