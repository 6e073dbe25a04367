"""Flags shared by the commands that talk to CPA, and turning them into a Target."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler import errors
from reconciler.desired.loader import key_given_outside
from reconciler.pipeline import planning
from reconciler.pipeline.planning import TargetOptions

if TYPE_CHECKING:
    from reconciler.client.management import ManagementClient
    from reconciler.core.model import DesiredState
from reconciler.statedir import backup
from reconciler.statedir.backup import DEFAULT_KEEP


def add_target_arguments(parser: argparse.ArgumentParser, *, request_timeout: bool = True) -> None:
    """The target flags; ``request_timeout=False`` leaves out ``--timeout`` (login's own
    ``--timeout`` is the login's deadline; its requests keep the default 30 s)."""
    group = parser.add_argument_group("target")
    group.add_argument("--url", help="CPA origin (overrides target.url; env CPA_URL)")
    group.add_argument(
        "--management-key-file",
        metavar="FILE",
        help="read the management key from FILE (overrides CPA_MANAGEMENT_KEY)",
    )
    group.add_argument(
        "--management-key",
        metavar="KEY",
        help="the key itself: visible in the process list, prefer CPA_MANAGEMENT_KEY",
    )
    group.add_argument("--ca-cert", metavar="FILE", help="CA bundle for a private CA (TLS)")
    group.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow plain http:// to a host other than loopback",
    )
    if request_timeout:
        group.add_argument(
            "--timeout", type=seconds, default=30.0, help="seconds per request (default 30)"
        )


def seconds(text: str) -> float:
    """A ``--timeout`` value: a finite number of seconds above 0 (0 would fail every request)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds more than 0, got {text!r}")
    return value


def add_state_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help="backups, lock and the record of failed key attempts (default: .reconciler/ "
        "beside the desired-state file)",
    )


def _backups_to_keep(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more (the backup just made), got {text!r}")
    return value


def add_keep_backups_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-backups",
        type=_backups_to_keep,
        default=DEFAULT_KEEP,
        metavar="N",
        help=f"keep the newest N backups in the state directory, remove older ones after a "
        f"run that made one (default {DEFAULT_KEEP})",
    )


def prune_backups(state_dir: Path, keep: int) -> None:
    """Remove backups beyond the newest ``keep``; a failure is a warning (the run is done)."""
    try:
        removed = backup.prune_backups(state_dir, keep)
    except errors.ReconcilerError as exc:
        print(f"warning: old backups were not removed: {exc}", file=sys.stderr)
        return
    if removed:
        print(
            f"Removed {len(removed)} old backup(s), keeping the newest {keep} (--keep-backups).",
            file=sys.stderr,
        )


def target_options(args: argparse.Namespace) -> TargetOptions:
    return TargetOptions(
        url=args.url,
        key_file=args.management_key_file,
        key_arg=args.management_key,
        ca_cert=args.ca_cert,
        allow_insecure_http=args.allow_insecure_http,
        timeout=args.timeout,
    )


def state_dir(args: argparse.Namespace, desired_path: Path) -> Path:
    """``--state-dir`` (a symbolic link there is followed: the operator named it), else
    ``.reconciler/`` beside the desired file (never a link: ``statedir.private``)."""
    if getattr(args, "state_dir", None):
        given = Path(args.state_dir)
        return given.resolve() if given.is_symlink() else given
    return desired_path.resolve().parent / ".reconciler"


def state_dir_without_desired_file(args: argparse.Namespace) -> Path:
    """The state directory of a command run without a desired-state file (export): ``--state-dir``,
    else ``.reconciler/`` in the current directory (where ``reconciler plan desired.yaml`` run
    from here keeps it when the desired file is here too)."""
    if getattr(args, "state_dir", None):
        return state_dir(args, Path("."))
    return Path(".reconciler")


def client_for(
    target: planning.Target, state: Path | None, desired: DesiredState | None = None
) -> ManagementClient:
    """The client a command uses: failed authentications recorded in ``state`` (see
    ``statedir.auth_record``), the desired state's secret values masked in server errors, and
    the proxy, if any, named on stderr."""
    return planning.make_client(
        target,
        state_dir=state,
        redact=(lambda: planning.secret_values(desired)) if desired is not None else (),
        announce=sys.stderr,
    )


def key_without_desired_file(args: argparse.Namespace) -> str:
    """The management key for commands that have no desired-state file (export, restore)."""
    if args.management_key is not None:
        print(
            "warning: --management-key puts the key in the process list and shell history; "
            "use CPA_MANAGEMENT_KEY or --management-key-file",
            file=sys.stderr,
        )
    key = key_given_outside(
        key_file=args.management_key_file, key_arg=args.management_key, environ=os.environ
    )
    if not key:
        raise errors.UsageError(
            "no management key: set CPA_MANAGEMENT_KEY, CPA_MANAGEMENT_KEY_FILE or "
            "--management-key-file"
        )
    return key


def add_fleet_arguments(parser: argparse.ArgumentParser, *, apply: bool) -> None:
    parser.add_argument(
        "--target",
        action="append",
        metavar="NAME",
        help="fleet files only: limit the run to this target (repeatable); moves into or out "
        "of the others are shown, not done",
    )
    if apply:
        parser.add_argument(
            "--allow-moves",
            action="store_true",
            help="fleet files only: carry out the moves the plan shows (credentials taken off "
            "one server and put on another, journaled and backed up)",
        )


def refuse_single_target_flags(args: argparse.Namespace) -> None:
    if getattr(args, "target", None):
        raise errors.UsageError(
            "--target names a target of a fleet file (targets:); this desired state has one"
        )
