"""``reconciler restore BACKUP``: put back what an apply replaced or deleted.

A backup is data, not instructions. Decisions:

* **Where to.** The target is the one of the command line (``--url``, ``CPA_URL``) or of the
  desired state (``--desired DESIRED``: its ``target``), never the ``target`` written in the
  backup's manifest. A backup made from another target is refused (exit 1, no request) unless
  ``--to-backup-target`` is given: then the manifest's target is used, shown before anything is
  sent, under the same URL rules as every target (https, or http to loopback).
* **What from.** Only ``config.yaml`` and ``auth-files/<plain name>`` inside the backup folder,
  no link followed, regular files of the user's that only the user can read
  (``statedir.backup.read_backup``). A backup folder committed to the repository and checked out
  (mode 0755/0644 under a usual umask) or copied is refused with the ``chmod`` that would accept
  it; a state directory that is a link, or is not the user's, is refused. ``.reconciler/``
  ignores itself (``.gitignore``), so backups do not get committed in the first place.
* **Asking.** What will be done is shown first; on a terminal the answer must be ``yes``;
  without a terminal ``--yes`` is needed, else exit 1 before any request. ``--dry-run`` shows
  and stops (read requests only).
* **Like apply.** Under the state directory's lock. The config is refused by the same lockout
  guard (exit 4), and the live config is read again right before the PUT: changed since it was
  shown, nothing is written (exit 3). What a restore replaces (the live config, files it
  overwrites) is saved in a new backup first, so a restore can be undone.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.commands import options
from reconciler.core.changes import Write
from reconciler.core.model import DesiredState
from reconciler.core.normalize import MISSING
from reconciler.core.safety import SafetyOptions, lockout_blockers
from reconciler.output.plan_json import safe_url
from reconciler.pipeline import config_document, planning
from reconciler.statedir import private
from reconciler.statedir.backup import Backup, BackupContents, list_backups, read_backup
from reconciler.statedir.lock import state_lock


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "backup",
        metavar="BACKUP",
        nargs="?",
        help="a backup directory, or 'latest' for the newest backup in the state directory",
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="list the backups in the state directory (id, time, target, what each holds); "
        "sends no request",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would be restored and stop (read requests only)",
    )
    parser.add_argument(
        "--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)"
    )
    parser.add_argument("--only", choices=("config", "auth-files"), help="restore only this part")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="also overwrite auth files that exist on the server (puts back their old tokens)",
    )
    parser.add_argument(
        "--to-backup-target",
        action="store_true",
        help="restore to the target named in the backup (shown first) instead of the one of "
        "--url, CPA_URL or --desired",
    )
    where = parser.add_argument_group("where 'latest' looks (as apply does)")
    where.add_argument(
        "--desired",
        metavar="DESIRED",
        help="the desired-state file apply was run with: its backups are in .reconciler/ "
        "beside it, and its target is the one restored to (unless --url or CPA_URL)",
    )
    where.add_argument(
        "--state-dir",
        metavar="DIR",
        help="the --state-dir apply was run with (default: .reconciler/ beside --desired, "
        "else ./.reconciler)",
    )
    options.add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.list:
        return _list(_state_dir(args))
    if not args.backup:
        raise errors.UsageError(
            "restore needs BACKUP (a backup directory, or 'latest'), or --list to see them"
        )
    url = None if args.to_backup_target else _url_given(args)
    if url is not None:
        planning.check_url(url, allow_insecure_http=args.allow_insecure_http)
    root = _resolve(args)
    backup = read_backup(root)
    target, desired = _target(args, backup, url)
    if not (args.yes or args.dry_run) and not sys.stdin.isatty():
        raise errors.UsageError(
            "restore needs confirmation but standard input is not a terminal: pass --yes "
            "(see first what it would do with --dry-run); nothing was sent"
        )
    state_dir = _lock_dir(args, root)
    if args.dry_run:
        with options.client_for(target, state_dir, desired) as client:
            _preview(args, backup, target, client)
        print("Dry run: nothing was written.")
        return 0
    with state_lock(state_dir), options.client_for(target, state_dir, desired) as client:
        todo = _preview(args, backup, target, client)
        if todo.empty:
            print("Nothing to restore.")
            return 0
        if not args.yes and not _confirm():
            print("Restore cancelled; nothing was changed.")
            return 1
        return _restore(todo, backup, target, client, state_dir)


# -- where from, where to -------------------------------------------------------------------


def _url_given(args: argparse.Namespace) -> str | None:
    return args.url or os.environ.get("CPA_URL") or None


def _key_given(args: argparse.Namespace) -> bool:
    return bool(
        args.management_key is not None
        or args.management_key_file
        or os.environ.get("CPA_MANAGEMENT_KEY")
    )


def _target(
    args: argparse.Namespace, backup: BackupContents, url: str | None
) -> tuple[planning.Target, DesiredState | None]:
    """The target (and the desired state, when its file was read for it); UsageError when
    the backup was made from another one."""
    opts = options.target_options(args)
    desired: DesiredState | None = None
    if args.to_backup_target:
        given = _url_given(args)
        if not backup.target:
            raise errors.UsageError(
                f"{backup.root}: the backup names no target; --to-backup-target has none to use"
            )
        if given is not None and not same_target(given, backup.target):
            raise errors.UsageError(
                f"--to-backup-target restores to the backup's target {_shown_url(backup.target)}, "
                f"but --url or CPA_URL names {_shown_url(given)}; give only one. Nothing was sent"
            )
        url = backup.target
        planning.check_url(url, allow_insecure_http=args.allow_insecure_http)
        print(f"--to-backup-target: restoring to {_shown_url(url)}, the target named in the backup")
    if args.desired and (url is None or not _key_given(args)):
        loaded = planning.load(args.desired, os.environ)
        target = planning.target_for(loaded, _with_url(opts, url), os.environ)
        desired = loaded.state
    else:
        if url is None:
            raise errors.UsageError(
                "restore needs the target to restore to: --url, CPA_URL, or --desired DESIRED "
                "(its target.url). The target written in a backup is used only with "
                "--to-backup-target"
            )
        target = planning.Target(
            url, options.key_without_desired_file(args), args.ca_cert, args.timeout
        )
    if backup.target and not same_target(target.url, backup.target):
        raise errors.UsageError(
            f"backup {backup.id} was made from {_shown_url(backup.target)}, not from "
            f"{_shown_url(target.url)} (the target of this restore); nothing was sent. To "
            "restore to the backup's own target pass --to-backup-target (it is shown first)"
        )
    return target, desired


def _with_url(opts: planning.TargetOptions, url: str | None) -> planning.TargetOptions:
    return planning.TargetOptions(
        url, opts.key_file, opts.key_arg, opts.ca_cert, opts.allow_insecure_http, opts.timeout
    )


def same_target(a: str, b: str) -> bool:
    """Whether two target URLs name the same server (scheme and host case, a default port,
    a trailing slash aside)."""
    return _canonical(a) == _canonical(b)


def _canonical(url: str) -> tuple[str, str, int | None, str] | str:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if port == {"http": 80, "https": 443}.get(scheme):
        port = None
    return scheme, (parts.hostname or "").lower(), port, parts.path.rstrip("/")


def _shown_url(url: str) -> str:
    shown = safe_url(url) or ""
    return shown if shown.isprintable() and shown.isascii() else private.shown(shown)


def _resolve(args: argparse.Namespace) -> Path:
    if args.backup != "latest":
        return Path(args.backup)
    state_dir = _state_dir(args)
    found = list_backups(state_dir)
    if not found:
        hint = "; pass --desired DESIRED (the file apply was run with) or --state-dir DIR"
        if args.state_dir or args.desired:
            hint = ""
        raise errors.BackupError(f"no backups in {state_dir / 'backups'}{hint}")
    return found[-1]


def _state_dir(args: argparse.Namespace) -> Path:
    """Where apply keeps its backups: ``--state-dir``, else ``.reconciler/`` beside the
    desired-state file (``--desired``, or one in the current directory)."""
    if args.desired or args.state_dir:
        return options.state_dir(args, Path(args.desired or "."))
    return Path(".reconciler")


def _lock_dir(args: argparse.Namespace, root: Path) -> Path:
    """The state directory the backup is in (apply's, whose lock this takes), else the one
    the flags name."""
    if root.parent.name == "backups":
        return root.parent.parent
    return _state_dir(args)


# -- list -----------------------------------------------------------------------------------


def _list(state_dir: Path) -> int:
    found = list_backups(state_dir)
    if not found:
        print(f"No backups in {state_dir / 'backups'}.")
        return 0
    rows = [("BACKUP", "TIME", "TARGET", "HOLDS")]
    for root in reversed(found):
        stamp = root.name
        when = (
            f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}Z"
        )
        try:
            contents = read_backup(root)
        except errors.BackupError:
            rows.append((root.name, when, "?", f"unusable: see restore {root} --dry-run"))
            continue
        target = _shown_url(contents.target) if contents.target else "-"
        rows.append((root.name, when, target, contents.summary()))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3])
    print(f"({len(found)} in {state_dir / 'backups'}, newest first)")
    return 0


# -- preview and restore ------------------------------------------------------------------


@dataclass
class _Todo:
    config_live: str | None = None  # the live text the preview compared with
    config_new: str | None = None  # what the PUT sends
    create: list[str] = field(default_factory=list)
    overwrite: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.config_new is None and not self.create and not self.overwrite


def _preview(
    args: argparse.Namespace,
    backup: BackupContents,
    target: planning.Target,
    client: ManagementClient,
) -> _Todo:
    """Read what the server holds, print what restore would do, refuse a lockout (exit 4)."""
    todo = _Todo()
    made = f"made {backup.created_at} " if backup.created_at else ""
    print(
        f"Restore backup {backup.id} ({made}holding {backup.summary()}) to {_shown_url(target.url)}:"
    )
    if args.only != "auth-files" and backup.config_text is not None:
        live_text = client.get_config_yaml()
        live = config_document.parse(live_text)
        try:
            wanted = config_document.parse(backup.config_text)
        except errors.ApiError as exc:
            raise errors.BackupError(
                f"{backup.root / 'config.yaml'}: not a valid CPA config (YAML mapping)"
            ) from exc
        if live_text == backup.config_text:
            print("  = config.yaml: the live config is already the backup's")
        else:
            keys = sorted(
                k for k in {*live, *wanted} if live.get(k, MISSING) != wanted.get(k, MISSING)
            )
            where = (
                f" (differs at: {', '.join(map(str, keys))})"
                if keys
                else " (same values, other text)"
            )
            print(f"  ~ config.yaml: replace the live config with the backup's{where}")
            _refuse_lockout(live, wanted, target)
            todo.config_live, todo.config_new = live_text, backup.config_text
    if args.only != "config" and backup.auth_files:
        live_names = {f.name for f in client.list_auth_file_summaries()}
        for name in sorted(backup.auth_files):
            if name not in live_names:
                todo.create.append(name)
                print(f"  + {name}: not on the server, restored")
            elif args.overwrite:
                todo.overwrite.append(name)
                print(f"  ! {name}: on the server; its live tokens are replaced by the backup's")
            else:
                print(
                    f"  = kept {name}: it exists on the server (use --overwrite to replace its "
                    "tokens)"
                )
    return todo


def _refuse_lockout(live: dict[str, Any], wanted: dict[str, Any], target: planning.Target) -> None:
    writes = [Write((k,), wanted.get(k, MISSING)) for k in sorted({*live, *wanted}, key=str)]
    opts = SafetyOptions(key_in_use=target.key, target_is_loopback=target.is_loopback)
    blockers = lockout_blockers(writes, live, opts)
    if blockers:
        raise errors.SafetyError(
            "the backup's config.yaml is blocked by a safety rule; nothing was changed:\n"
            + "\n".join(f"  - {b.message}" for b in blockers)
            + "\n  (restore the auth files alone with --only auth-files)"
        )


def _restore(
    todo: _Todo,
    backup: BackupContents,
    target: planning.Target,
    client: ManagementClient,
    state_dir: Path,
) -> int:
    undo = Backup.new(state_dir, target.url)
    if todo.config_new is not None:
        current = client.get_config_yaml()
        if current != todo.config_live:
            raise errors.StalePlanError(
                "config.yaml changed on the server since restore read it (the web UI or another "
                "tool wrote it); nothing was written. Run restore again to see the new difference"
            )
        undo.save_config(current)
        client.put_config_yaml(todo.config_new)
        print("restored config.yaml")
    failed: dict[str, str] = {}
    if todo.create or todo.overwrite:
        now = {f.name for f in client.list_auth_file_summaries()}
        files: dict[str, bytes] = {}
        for name in todo.create:
            if name in now:
                print(f"kept {name}: it appeared on the server since restore looked")
            else:
                files[name] = backup.auth_files[name]
        for name in todo.overwrite:
            if name in now:
                undo.save_auth_file(name, client.download_auth_file(name), "overwritten")
            files[name] = backup.auth_files[name]
        if files:
            result = client.upload_auth_files(files)
            failed = {f.name: f.error for f in result.failed}
            for name in sorted(files):
                print(
                    f"restored {name}" if name not in failed else f"failed {name}: {failed[name]}"
                )
    if undo.exists:
        print(f"What the restore replaced is in a new backup: {undo.root}")
    if failed:
        raise errors.ApiError(f"the server refused {len(failed)} restored file(s)")
    return 0


def _confirm() -> bool:
    answer = input("Restore this? Only 'yes' is accepted: ")
    return answer.strip() == "yes"
