"""``reconciler restore BACKUP``: put back what an apply replaced or deleted."""

from __future__ import annotations

import argparse
from pathlib import Path

from reconciler import errors, planning
from reconciler.backup import list_backups, read_backup
from reconciler.client import ManagementClient
from reconciler.commands import options

HELP = "put back the config and auth files saved in a backup"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "backup",
        metavar="BACKUP",
        help="a backup directory, or 'latest' for the newest one in --state-dir",
    )
    parser.add_argument("--only", choices=("config", "auth-files"), help="restore only this part")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="also overwrite auth files that exist on the server (puts back their old tokens)",
    )
    parser.add_argument("--state-dir", metavar="DIR", default=".reconciler")
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
    found = list_backups(Path(args.state_dir))
    if not found:
        raise errors.BackupError(f"no backups in {Path(args.state_dir) / 'backups'}")
    return found[-1]


def _restore_files(client: ManagementClient, files: dict[str, bytes], *, overwrite: bool) -> None:
    live = {f.name for f in client.list_auth_files()}
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
