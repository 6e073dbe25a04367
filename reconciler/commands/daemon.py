"""``reconciler daemon DESIRED``: watch the live CPA for drift, report it, optionally heal it.

Parses the flags into a ``daemon.DaemonConfig``, turns SIGTERM/SIGINT into the stop flag and
runs ``daemon.run``. Exits 0 after a signal; 1 when a flag cannot be honoured or the desired
state references an environment variable that is not set (before anything is started). If the
cycle in flight does not finish within ``--shutdown-timeout`` the process
exits anyway (its HTTP requests are abandoned; an apply cut short is converged by the next run).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from reconciler import errors
from reconciler.commands import fleet_run, options, status
from reconciler.daemon import service as daemon
from reconciler.daemon import webhook
from reconciler.desired import fleet
from reconciler.desired.loader import key_given_outside
from reconciler.pipeline import fleet as pfleet
from reconciler.pipeline import planning

WEBHOOK_URL_ENV = "RECONCILER_WEBHOOK_URL"


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def _not_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("desired", metavar="DESIRED", help="the desired-state YAML file")
    parser.add_argument(
        "--interval", type=_positive, default=60.0, help="seconds between cycles (default 60)"
    )
    parser.add_argument(
        "--jitter",
        type=_fraction,
        default=0.1,
        help="random delay added to each cycle, as a fraction of the interval (default 0.1)",
    )
    parser.add_argument(
        "--mode",
        choices=daemon.MODES,
        default="observe",
        help="observe: report drift, never write (default); heal: also apply, as `apply` does",
    )
    parser.add_argument(
        "--listen",
        default="127.0.0.1:9464",
        metavar="HOST:PORT",
        help="/healthz, /readyz and /metrics (default 127.0.0.1:9464; port 0 picks one; "
        "'off' serves nothing)",
    )
    parser.add_argument(
        "--log-format",
        choices=("json", "text"),
        default="json",
        help="events on stdout: one JSON object a line (default) or text",
    )
    parser.add_argument(
        "--webhook-url",
        metavar="URL",
        help=f"POST drift and failure events here (or set {WEBHOOK_URL_ENV}: URLs often hold a token)",
    )
    parser.add_argument(
        "--webhook-secret-file",
        metavar="FILE",
        help=f"sign webhook bodies (X-Signature: sha256=<hmac>) with the secret in FILE (one "
        f"trailing newline is stripped) (or set {webhook.SECRET_ENV})",
    )
    parser.add_argument(
        "--summary-interval",
        type=_not_negative,
        default=3600.0,
        metavar="SECONDS",
        help="a cycle.summary event this often: cycles run, drift and missing credentials now, "
        "so a quiet daemon is told from a stuck one (default 3600; 0: none)",
    )
    parser.add_argument(
        "--ban-backoff",
        type=_positive,
        default=1800.0,
        metavar="SECONDS",
        help="after a 401/403, send no authenticated request for this long, or until the key "
        "changes (default 1800: CPA's ban is 30 minutes)",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=_positive,
        default=5.0,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, wait this long for the running cycle to finish (default 5)",
    )
    parser.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="heal: allow deleting more auth files than auth-files.max-deletions",
    )
    parser.add_argument(
        "--allow-replace",
        action="store_true",
        help="heal: allow re-seeding auth files marked replace: true",
    )
    parser.add_argument(
        "--target",
        action="append",
        metavar="NAME",
        help="fleet files only: reconcile only this target (repeatable); the others are read, "
        "not changed, and moves touching them wait",
    )
    parser.add_argument(
        "--allow-moves",
        action="store_true",
        help="fleet files only, heal: carry out the moves the placement requires (journaled "
        "and backed up, as apply --allow-moves); without it they are reported and wait",
    )
    _add_quota_arguments(parser)
    options.add_state_dir_argument(parser)
    options.add_keep_backups_argument(parser)
    options.add_target_arguments(parser)


def config_from(args: argparse.Namespace, environ: Mapping[str, str]) -> daemon.DaemonConfig:
    """The daemon's configuration from the flags; UsageError for what cannot work."""
    target = options.target_options(args)
    if target.url is not None:
        planning.check_url(target.url, allow_insecure_http=target.allow_insecure_http)
    webhook_url = args.webhook_url or environ.get(WEBHOOK_URL_ENV) or None
    secret = webhook.read_secret(args.webhook_secret_file, environ)
    if webhook_url is not None:
        webhook.check_url(webhook_url)
        if secret is None:
            print(
                "warning: webhook bodies are not signed: set --webhook-secret-file or "
                f"{webhook.SECRET_ENV}",
                file=sys.stderr,
            )
    if args.webhook_url:
        warning = webhook.command_line_warning(args.webhook_url)
        if warning:
            print(warning, file=sys.stderr)
    if args.management_key is not None:
        print(
            "warning: --management-key puts the key in the process list and shell history; "
            "use CPA_MANAGEMENT_KEY or --management-key-file",
            file=sys.stderr,
        )
    listen = None if args.listen.strip().lower() in ("", "off", "none") else args.listen
    _check_fleet_flags(args, target, environ)
    return daemon.DaemonConfig(
        desired=args.desired,
        state_dir=options.state_dir(args, Path(args.desired)),
        target=target,
        interval=args.interval,
        jitter=args.jitter,
        mode=args.mode,
        listen=listen,
        log_format=args.log_format,
        webhook_url=webhook_url,
        webhook_secret=secret,
        ban_backoff=args.ban_backoff,
        allow_mass_delete=args.allow_mass_delete,
        allow_replace=args.allow_replace,
        targets=tuple(args.target or ()),
        allow_moves=args.allow_moves,
        shutdown_timeout=args.shutdown_timeout,
        summary_interval=args.summary_interval,
        keep_backups=args.keep_backups,
        quota_interval=args.quota_interval,
        quota_endpoints=dict(args.quota_endpoint),
        quota_concurrency=args.quota_concurrency,
        quota_warn=args.quota_warn,
    )


def _check_fleet_flags(
    args: argparse.Namespace, target: planning.TargetOptions, environ: Mapping[str, str]
) -> None:
    """The flags that name one server are refused for a fleet file, ``--target`` for a single
    target; a ``--target`` the fleet file does not have is refused when the file loads now."""
    if not fleet.is_fleet_file(args.desired):
        fleet_run.refuse_single_target_flags(args)
        return
    if target.url or target.key_file or target.key_arg:
        raise errors.UsageError(
            f"{args.desired} is a fleet file: each target's url and management-key are in it; "
            "--url, --management-key-file and --management-key apply to a single target only"
        )
    if args.quota_interval:
        raise errors.UsageError(
            "--quota-interval does not take a fleet file yet; run `status --quota` per target"
        )
    if args.target:
        try:
            loaded = fleet.load_fleet(args.desired, environ=environ)
        except errors.ReconcilerError:
            return  # the cycles report it
        pfleet.selected(loaded, args.target)


def _add_quota_arguments(parser: argparse.ArgumentParser) -> None:
    """Credential quota (README: Credential health and quota); health needs no flag."""
    parser.add_argument(
        "--quota-interval",
        type=_positive,
        metavar="SECONDS",
        default=None,
        help="read every enabled credential's quota this often, as `status --quota` does "
        "(default: off)",
    )
    parser.add_argument(
        "--quota-warn",
        type=_percent,
        metavar="PERCENT",
        default=90.0,
        help="quota.low when a window reaches this percent used (default 90)",
    )
    status.add_quota_arguments(parser)


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 100, got {text!r}")
    return value


def check_environment(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Refuse to start (exit 1) when the desired state references environment variables that
    are not set, listing all of them: a process's environment cannot change while it runs,
    so every cycle would fail the same way until a restart. ``target.management-key`` counts
    only when no key is given by flag or environment.

    Anything else that is wrong (a broken file, a missing ``${file:}``, a missing key file) is
    left to the cycles, which report it and pick up the fix: git may bring the file, a mounted
    secret may appear after the start (a Kubernetes Secret, a Vault agent)."""
    unset: tuple[str, ...] = ()
    try:
        if fleet.is_fleet_file(args.desired):
            fleet.load_fleet(args.desired, environ=environ)  # every target's key counts
            return
        loaded = planning.load(args.desired, environ)
        try:
            outside = key_given_outside(
                key_file=args.management_key_file, key_arg=args.management_key, environ=environ
            )
        except errors.UsageError:
            return  # the key file is missing or unreadable: the cycles report it
        if outside is None:
            loaded.management_key  # noqa: B018 (resolves target.management-key)
    except errors.ReferenceError_ as exc:
        unset, detail = exc.unset_env, str(exc)
    except errors.ReconcilerError:
        return
    if unset:
        raise errors.ReferenceError_(
            f"{args.desired} references {len(unset)} environment variable(s) that are not set: "
            f"{', '.join(unset)}. A daemon's environment cannot change while it runs: set "
            f"them and start it again.\n{detail}",
            unset_env=unset,
        )


def run(args: argparse.Namespace) -> int:
    config = config_from(args, os.environ)
    check_environment(args, os.environ)
    stop = daemon.StopFlag()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.request(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        outcome = daemon.run(config, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if outcome.abandoned_cycle:
        # The cycle thread is stuck in a request; the interpreter would wait for it at exit.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(outcome.exit_code)
    return outcome.exit_code
