"""``reconciler restore BACKUP``: put back what an apply replaced or deleted."""

from __future__ import annotations

import argparse
from pathlib import Path

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.commands import options
from reconciler.pipeline import planning
from reconciler.statedir.backup import list_backups, read_backup


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "backup",
        metavar="BACKUP",
        help="a backup directory, or 'latest' for the newest backup in the state directory",
    )
    parser.add_argument("--only", choices=("config", "auth-files"), help="restore only this part")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="also overwrite auth files that exist on the server (puts back their old tokens)",
    )
    where = parser.add_argument_group("where 'latest' looks (as apply does)")
    where.add_argument(
        "--desired",
        metavar="DESIRED",
        help="the desired-state file apply was run with: its backups are in .reconciler/ "
        "beside it (the file is not read)",
    )
    where.add_argument(
        "--state-dir",
        metavar="DIR",
        help="the --state-dir apply was run with (default: .reconciler/ beside --desired, "
        "else ./.reconciler)",
    )
    options.add_target_arguments(parser)


def run(args: argparse.Namespace) -> int:
    root = _resolve(args)
    backup = read_backup(root)
    url = args.url or backup.target
    if not url:
        raise errors.UsageError(f"{root}: the backup names no target; pass --url")
    planning.check_url(url, allow_insecure_http=args.allow_insecure_http)
    target = planning.Target(
        url, options.key_without_desired_file(args), args.ca_cert, args.timeout
    )
    with planning.make_client(target) as client:
        if args.only != "config":
            _restore_files(client, backup.auth_files, overwrite=args.overwrite)
        if args.only != "auth-files" and backup.config_text is not None:
            client.put_config_yaml(backup.config_text)
            print("restored config.yaml")
    return 0


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
    if args.desired:
        return options.state_dir(args, Path(args.desired))
    return Path(args.state_dir or ".reconciler")


def _restore_files(client: ManagementClient, files: dict[str, bytes], *, overwrite: bool) -> None:
    live = {f.name for f in client.list_auth_file_summaries()}
    todo = {n: c for n, c in files.items() if overwrite or n not in live}
    for name in sorted(set(files) - set(todo)):
        print(f"kept {name}: it exists on the server (use --overwrite to replace its tokens)")
    if not todo:
        return
    result = client.upload_auth_files(todo)
    failed = {f.name: f.error for f in result.failed}
    for name in sorted(todo):
        print(f"restored {name}" if name not in failed else f"failed {name}: {failed[name]}")
    if failed:
        raise errors.ApiError(f"the server refused {len(failed)} of {len(todo)} restored files")
