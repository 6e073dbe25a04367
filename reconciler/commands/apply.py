"""``reconciler apply DESIRED``: make the live CPA match the desired state, safely."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.commands import options
from reconciler.core.plan import MISSING_CREDENTIAL_REMEDY
from reconciler.desired import file_kind
from reconciler.desired.loader import LoadedDesired, read_key_file
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
    parser.add_argument(
        "--next-management-key-file",
        metavar="FILE",
        help="rotate the management key: set remote-management.secret-key (written as "
        "${management-key}) to the key in FILE, apply, switch to it and check it with one request",
    )
    options.add_state_dir_argument(parser)
    options.add_keep_backups_argument(parser)
    options.add_target_arguments(parser)
    options.add_fleet_arguments(parser, apply=True)


def run(args: argparse.Namespace) -> int:
    if file_kind.is_fleet_file(args.desired):
        from reconciler.commands import fleet_run  # only for a fleet file
        from reconciler.desired import fleet

        # Sources are read once the listings say which files are missing (plan_read).
        many = fleet.load_fleet(args.desired, environ=os.environ, defer_sources=True)
        return fleet_run.run_apply(args, many)
    options.refuse_single_target_flags(args)
    # Sources are read once the listing says which files are missing (plan_once).
    loaded = planning.load(args.desired, os.environ, defer_sources=True)
    target = planning.target_for(loaded, options.target_options(args), os.environ)
    next_key = _next_key(args, loaded, target)
    saved = planfile.read_plan_file(args.plan) if args.plan else None
    if saved is not None:
        _check_plan_target(saved, target, args.plan)
    # When rotating, the next key is a secret of this run too: masked in any server text.
    state = loaded.with_management_key(next_key).state if next_key else loaded.state
    with (
        state_lock(options.state_dir(args, Path(args.desired))),
        options.client_for(target, options.state_dir(args, Path(args.desired)), state) as client,
    ):
        if next_key is not None:
            return _rotate(args, loaded, target, client, next_key)
        return _apply(args, loaded, target, client, saved)


def _apply(
    args: argparse.Namespace,
    loaded: LoadedDesired,
    target: planning.Target,
    client: ManagementClient,
    saved: dict[str, Any] | None,
    rotation: _Rotation | None = None,
) -> int:
    planned = planning.plan_once(
        loaded,
        target,
        client,
        allow_mass_delete=args.allow_mass_delete,
        allow_replace=args.allow_replace,
        next_key=rotation.key if rotation else None,
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
            planned.loaded.state,  # with the sources the plan read
            planned.live,
            client,
            backup,
            seed_key=planning.SEED_KEY,
            progress=progress,
            after_config=rotation.switch if rotation else None,
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


NEXT_KEY_FLAG = "--next-management-key-file"


def _next_key(
    args: argparse.Namespace, loaded: LoadedDesired, target: planning.Target
) -> str | None:
    """The key of ``--next-management-key-file``, checked before any request: a rotation plans
    and applies in one run (no ``--plan``), to a key that is not the one in use, and the desired
    state must set the secret-key to it (``${management-key}``, or that key itself)."""
    path = getattr(args, "next_management_key_file", None)
    if path is None:
        return None
    if args.plan:
        raise errors.UsageError(
            f"{NEXT_KEY_FLAG} cannot be used with --plan: a rotation plans and applies in one "
            "run (the saved plan was made for the key in use)"
        )
    key = read_key_file(path, origin=NEXT_KEY_FLAG)
    if key == target.key:
        raise errors.UsageError(
            f"{NEXT_KEY_FLAG} {path}: this is the key in use already; nothing to rotate"
        )
    bound = loaded.with_management_key(key).state.config or {}
    secret = bound.get("remote-management", {}).get("secret-key")
    if secret != key:
        raise errors.UsageError(
            f"{NEXT_KEY_FLAG}: {loaded.path} must set remote-management.secret-key to "
            "${management-key} (the key in use, bound to the next key for this run) for a "
            "rotation; nothing was sent"
        )
    return key


class _Rotation:
    """The key being rotated to, and whether the client switched to it (after CPA accepted the
    config write that set it)."""

    def __init__(self, client: ManagementClient, key: str) -> None:
        self.client = client
        self.key = key
        self.switched = False

    def switch(self) -> None:
        self.client.set_management_key(self.key)
        self.switched = True


def _rotate(
    args: argparse.Namespace,
    loaded: LoadedDesired,
    target: planning.Target,
    client: ManagementClient,
    next_key: str,
) -> int:
    """Apply with the secret-key set to the next key, switch to it right after CPA accepted
    the config write, check it with one request, and say exactly where CPA is if anything
    fails."""
    flag = f"{NEXT_KEY_FLAG} {args.next_management_key_file}"
    rotation = _Rotation(client, next_key)
    try:
        code = _apply(args, loaded, target, client, None, rotation)
    except errors.ReconcilerError as exc:
        if rotation.switched:
            exc.message = (
                f"{exc.message}\nThe management key WAS rotated: CPA accepted config.yaml with "
                f"the new secret-key, so from now on it accepts only the key in {flag}. Put that "
                "key where your runs read it, then run apply again to finish."
            )
        elif isinstance(exc, errors.ApplyError):
            exc.message = (
                f"{exc.message}\nThe management key was not rotated as far as this run knows: "
                "CPA did not confirm the config write. If a plan with the old key is now "
                f"refused (401), the write did reach CPA: use the key in {flag}."
            )
        else:
            exc.message = (
                f"{exc.message}\nThe management key was not rotated: nothing was written "
                "to config.yaml, and CPA still accepts the key in use."
            )
        raise
    if not rotation.switched:
        print("The management key was not rotated: the plan wrote no config (nothing was applied).")
        return 1 if code == 0 else code
    try:
        client.get_config_yaml()  # one request with the new key
    except errors.ReconcilerError as exc:
        raise errors.ApplyError(
            f"the key rotation could not be checked: {exc}\n"
            "CPA accepted config.yaml with the new secret-key (it answered 200), but the check "
            f"request with the key in {flag} failed. CPA's management handler takes a new "
            "config at once, so it should now accept only the new key. Check with one run: "
            f"`reconciler plan {args.desired} --management-key-file "
            f"{args.next_management_key_file}`. If CPA refuses both keys, set "
            "remote-management.secret-key in config.yaml on the CPA host by hand (plaintext; "
            "CPA hashes it on load) or start CPA with MANAGEMENT_PASSWORD; the previous "
            "config.yaml is in the backup printed above",
            done=["update config/config.yaml"],
            not_done=["check the new management key"],
        ) from exc
    print(
        f"Management key rotated: CPA accepts the key in {flag} (checked with one request); the "
        "old key is refused from now on. Now put the new key where every run reads it: the "
        "cron key file (--management-key-file / CPA_MANAGEMENT_KEY_FILE), the CI secret "
        "CPA_MANAGEMENT_KEY, the daemon's key file (re-read every cycle) or its variable "
        "(restart it)."
    )
    return code


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
