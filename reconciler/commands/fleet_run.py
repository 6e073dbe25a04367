"""``plan`` and ``apply`` on a fleet file (``targets:``): called by those commands when the
desired-state file names several servers. Not a command of its own. ``plan --out`` saves the
fleet plan (per target the fingerprints a single-target plan file has, plus the moves and
duplicates); ``apply --plan`` refuses it (exit 3) when anything it planned changed since.

Every target is read in parallel; one that cannot be read is named (exit 1) and the others are
planned and applied all the same. Moves need ``apply --allow-moves`` (exit 4 without, nothing
changed); unfinished moves in the journal are completed first by every apply.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler import errors
from reconciler.commands import fleet_saved_plan as saved_plan
from reconciler.commands import options
from reconciler.commands.options import (  # defined there, re-exported for the fleet commands
    add_fleet_arguments as add_fleet_arguments,
)
from reconciler.commands.options import (
    refuse_single_target_flags as refuse_single_target_flags,
)
from reconciler.core.fleet import FleetPlan
from reconciler.core.plan import MISSING_CREDENTIAL_REMEDY
from reconciler.desired.fleet import LoadedFleet
from reconciler.output import fleet as fleet_output
from reconciler.output import render
from reconciler.pipeline import apply as executor
from reconciler.pipeline import fleet as pfleet
from reconciler.pipeline import moves as pmoves
from reconciler.pipeline import planfile, planning
from reconciler.statedir.backup import Backup
from reconciler.statedir.journal import Journal
from reconciler.statedir.lock import state_lock

if TYPE_CHECKING:
    from reconciler.client.management import ManagementClient


def _views(planned: pfleet.FleetPlanned) -> dict[str, fleet_output.TargetView]:
    loaded = planned.loaded
    return {
        name: fleet_output.TargetView(
            url=planned.targets[name].url,
            fingerprint_key=planned.targets[name].fingerprint_key,
            secret_paths=loaded.fleet.states[name].secret_paths,
            server_version=planned.server_version(name),
            error=planned.failures.get(name),
            selected=name in planned.selected,
        )
        for name in loaded.fleet.names
    }


def _report_failures(planned: pfleet.FleetPlanned) -> bool:
    """Name every target that could not be read (stderr); True when one of the chosen ones."""
    failed = False
    for name, why in planned.failures.items():
        chosen = name in planned.selected
        failed = failed or chosen
        word = "error" if chosen else "warning"
        print(f"{word}: target {name} was not read: {why}", file=sys.stderr)
    return failed


def _plan(
    args: argparse.Namespace,
    loaded: LoadedFleet,
    clients: Mapping[str, ManagementClient],
    targets: Mapping[str, planning.Target],
    chosen: tuple[str, ...],
    pending: Mapping[str, str],
) -> pfleet.FleetPlanned:
    return pfleet.make_plan(
        loaded,
        targets,
        clients,
        chosen=chosen,
        allow_mass_delete=args.allow_mass_delete,
        allow_replace=args.allow_replace,
        pending=pending,
    )


def run_plan(args: argparse.Namespace, loaded: LoadedFleet) -> int:
    targets = pfleet.targets_for(loaded, options.target_options(args))
    chosen = pfleet.selected(loaded, args.target)
    state_dir = options.state_dir(args, Path(args.desired))
    pending = {e.name: e.dest for e in Journal(state_dir).entries()}
    with pfleet.clients_for(loaded, targets, state_dir) as clients:
        planned = _plan(args, loaded, clients, targets, chosen, pending)
    views = _views(planned)
    doc: dict[str, Any] = {}
    if args.out or args.json:  # the fingerprints hash every file of every target
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        doc = fleet_output.to_json(
            planned.plan,
            views,
            desired_path=str(loaded.path),
            created_at=created,
            fingerprints=planned.fingerprints(),
        )
    if args.out:
        planfile.write_fleet_plan_file(args.out, doc)
    if args.json:
        print(json.dumps(doc, indent=2))
    elif args.markdown:
        print(fleet_output.render_markdown(planned.plan, views), end="")
    else:
        color = render.use_color(sys.stdout, os.environ)
        print(fleet_output.render_text(planned.plan, views, color=color), end="")
        if args.out:
            print(
                f"Saved the plan to {args.out}; apply it with: reconciler apply {args.desired} "
                f"--plan {args.out}" + (" --allow-moves" if planned.plan.moves else "")
            )
    if _report_failures(planned):
        return 1
    if planned.plan.is_blocked:
        return 4
    return 2 if args.detailed_exitcode and planned.plan.has_changes else 0


def run_apply(args: argparse.Namespace, loaded: LoadedFleet) -> int:
    targets = pfleet.targets_for(loaded, options.target_options(args))
    chosen = pfleet.selected(loaded, args.target)
    saved = planfile.read_fleet_plan_file(args.plan) if getattr(args, "plan", None) else None
    if saved is not None:
        saved_plan.check_targets(saved, loaded, targets, chosen, args.plan)
    state_dir = options.state_dir(args, Path(args.desired))
    with state_lock(state_dir), pfleet.clients_for(loaded, targets, state_dir) as clients:
        return _apply(args, loaded, targets, chosen, state_dir, clients, saved)


def _apply(
    args: argparse.Namespace,
    loaded: LoadedFleet,
    targets: Mapping[str, planning.Target],
    chosen: tuple[str, ...],
    state_dir: Path,
    clients: Mapping[str, ManagementClient],
    saved: dict[str, Any] | None = None,
) -> int:
    progress = _progress if sys.stderr.isatty() else (lambda _m: None)
    journal = Journal(state_dir)
    failures: list[str] = []
    mine = {n: c for n, c in clients.items() if n in chosen}
    recovered = pmoves.recover(journal, mine, progress)
    for line in recovered.notes + recovered.done:
        print(line)
    failures += recovered.failures
    pending = {e.name: e.dest for e in journal.entries()}
    planned = _plan(args, loaded, clients, targets, chosen, pending)
    if saved is not None:
        saved_plan.check_saved(saved, planned, args.plan)
    views = _views(planned)
    plan = planned.plan
    print(fleet_output.render_text(plan, views, color=render.use_color(sys.stdout, os.environ)))
    if _report_failures(planned):
        failures += [f"target {n} was not read" for n in planned.failures if n in chosen]
    blockers = list(plan.blockers) + [
        b for n, p in plan.plans.items() if n in chosen for b in p.blockers
    ]
    if blockers:
        raise errors.SafetyError(
            "the plan is blocked by a safety rule; nothing was changed:\n"
            + "\n".join(
                f"  - {b.message}" + (f" (override: {b.override})" if b.override else "")
                for b in blockers
            )
        )
    todo_moves = [
        m
        for m in plan.moves
        if not m.from_journal and fleet_output.move_done_here(m, chosen) and m.dest in clients
    ]
    if todo_moves and not args.allow_moves:
        raise errors.SafetyError(
            f"the plan moves {len(todo_moves)} credential(s) between servers; nothing was "
            "changed. Review the moves, then run apply --allow-moves"
        )
    todo = [n for n in chosen if n in plan.plans and plan.plans[n].actions]
    if not todo and not todo_moves:
        return _finish(plan, chosen, failures, done=len(recovered.done))
    if saved is None and not args.auto_approve and not _confirm():
        print("Apply cancelled; nothing was changed.")
        return 1
    done = len(recovered.done)
    backups = {n: Backup.new(state_dir, targets[n].url) for n in targets}
    try:
        done += _apply_targets(planned, todo, clients, backups, failures, progress)
        if todo_moves:
            urls = {n: t.url for n, t in targets.items()}
            try:
                result = pmoves.execute(
                    todo_moves, loaded.fleet, clients, urls, journal, backups, progress
                )
            except errors.ApplyError as exc:
                failures.append(str(exc))
            else:
                done += len(result.done)
                failures += result.failures
                for line in result.done:
                    print(f"  {line}")
    finally:
        for backup in backups.values():
            if backup.exists:
                print(f"Backup of what was replaced, moved or deleted: {backup.root}")
        if any(b.exists for b in backups.values()):
            options.prune_backups(state_dir, args.keep_backups)
    return _finish(plan, chosen, failures, done=done)


def _apply_targets(
    planned: pfleet.FleetPlanned,
    todo: list[str],
    clients: Mapping[str, ManagementClient],
    backups: Mapping[str, Backup],
    failures: list[str],
    progress: pmoves.Progress,
) -> int:
    """Each target's own plan, in parallel (bounded); a failure of one is reported and the
    others go on."""
    if not todo:
        return 0
    loaded = planned.loaded

    def one(name: str) -> int:
        result = executor.apply_plan(
            planned.plan.plans[name],
            pfleet.state_for(loaded, name),
            planned.lives[name].live,
            clients[name],
            backups[name],
            seed_key=planning.SEED_KEY,
            progress=lambda m: progress(f"{name}: {m}"),
        )
        return len(result.done)

    done = 0
    with ThreadPoolExecutor(max_workers=min(pfleet.MAX_WORKERS, len(todo))) as pool:
        futures = {name: pool.submit(one, name) for name in todo}
        for name, future in futures.items():
            try:
                count = future.result()
            except errors.ReconcilerError as exc:
                failures.append(f"target {name}: {exc}")
                print(f"target {name}: apply failed", file=sys.stderr)
            else:
                done += count
                print(f"target {name}: {count} action(s) done.")
    return done


def _finish(plan: FleetPlan, chosen: tuple[str, ...], failures: list[str], *, done: int) -> int:
    unresolved = [u for n in chosen if n in plan.plans for u in plan.plans[n].unresolved]
    for item in unresolved:
        print(f"error: {item}", file=sys.stderr)
    if unresolved:
        print(f"  to fix: {MISSING_CREDENTIAL_REMEDY}", file=sys.stderr)
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    if failures or unresolved:
        n = len(failures) + len(unresolved)
        print(f"Fleet apply finished with {n} problem(s) ({done} action(s) done).", file=sys.stderr)
        return 1
    print(f"Fleet apply complete: {done} action(s) done.")
    return 0


def _confirm() -> bool:
    if not sys.stdin.isatty():
        raise errors.UsageError(
            "apply needs confirmation but standard input is not a terminal: pass --auto-approve"
        )
    return input("Apply these changes? Only 'yes' is accepted: ").strip() == "yes"


def _progress(message: str) -> None:
    print(f"  ... {message}", file=sys.stderr, flush=True)
