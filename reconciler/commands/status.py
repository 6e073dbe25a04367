"""``reconciler status [DESIRED]``: which credentials on CPA work, and how much quota they have.

One ``GET /auth-files`` gives every credential's health. ``--quota`` adds one ``api-call`` per
enabled credential of a supported provider (antigravity may try its fallback hosts), a few at a
time (``--quota-concurrency``). Read-only: a quota read never changes the account (an
antigravity read may let CPA refresh its token, which is not drift).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from reconciler import errors
from reconciler.commands import options
from reconciler.output import render, status_render
from reconciler.pipeline import planning
from reconciler.quota import health, reader, recipes, report

HELP = "show which credentials on the live CPA work and, with --quota, how much quota they have"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "desired",
        metavar="DESIRED",
        nargs="?",
        help="a desired-state file: its target, and which files are declared",
    )
    parser.add_argument(
        "--quota", action="store_true", help="read each enabled credential's quota (api-call)"
    )
    parser.add_argument("--provider", metavar="P", help="only credentials of this provider")
    parser.add_argument("--name", metavar="GLOB", help="only auth files whose name matches")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when a credential is unhealthy or a quota window is at 100 %%, 0 when "
        "all are healthy, 1 on error",
    )
    add_quota_arguments(parser)
    options.add_state_dir_argument(parser)
    options.add_target_arguments(parser)


def add_quota_arguments(parser: argparse.ArgumentParser) -> None:
    """``--quota-endpoint`` and ``--quota-concurrency`` (the daemon has them too)."""
    parser.add_argument(
        "--quota-endpoint",
        metavar="PROVIDER=BASE_URL",
        action="append",
        default=[],
        type=quota_endpoint,
        help="read PROVIDER's quota from BASE_URL instead (scheme, host and port replaced, "
        "path and query kept; every antigravity host); repeatable",
    )
    parser.add_argument(
        "--quota-concurrency",
        metavar="N",
        type=concurrency,
        default=reader.DEFAULT_CONCURRENCY,
        help=f"api-calls at once (default {reader.DEFAULT_CONCURRENCY})",
    )


def quota_endpoint(text: str) -> tuple[str, str]:
    provider, sep, base = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected PROVIDER=BASE_URL, got {text!r}")
    problem = recipes.check_endpoint(provider.strip(), base.strip())
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return recipes.normalise_provider(provider), base.strip()


def concurrency(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be 1 to 64, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    declared: list[str] | None = None
    if args.desired:
        loaded = planning.load(args.desired, os.environ)
        target = planning.target_for(loaded, options.target_options(args), os.environ)
        state_dir = options.state_dir(args, Path(args.desired))
        declared = [entry.name for entry in loaded.state.auth_files]
        client = options.client_for(target, state_dir, loaded.state)
    else:
        url = args.url or os.environ.get("CPA_URL")
        if not url:
            raise errors.UsageError("no target url: pass --url or set CPA_URL, or give DESIRED")
        planning.check_url(url, allow_insecure_http=args.allow_insecure_http)
        target = planning.Target(
            url, options.key_without_desired_file(args), args.ca_cert, args.timeout
        )
        client = options.client_for(target, options.state_dir_without_desired_file(args))
    endpoints = dict(args.quota_endpoint)
    with client:
        listing = client.list_auth_files()
        now = time.time()
        healths = report.select(
            health.health_list(listing, now), provider=args.provider, name=args.name
        )
        readings: dict[str, recipes.Reading] = {}
        notes: dict[str, str] = {}
        calls = 0
        if args.quota:
            read = reader.read_quotas(
                client, healths, endpoints=endpoints, concurrency=args.quota_concurrency
            )
            readings, notes, calls = read.readings, read.notes, read.calls
        version = client.server_version
    rows = report.rows_for(
        healths, readings, notes, declared=declared, provider=args.provider, name=args.name
    )
    result = report.Report(
        rows=rows,
        target=planning.canonical_url(target.url),
        server_version=version.version if version else None,
        generated_at=now,
        quota=bool(args.quota),
        requests={"auth_files": 1, "api_call": calls},
    )
    if args.json:
        print(json.dumps(report.to_json(result), indent=2))
    else:
        tty = sys.stdout.isatty()
        width = shutil.get_terminal_size().columns if tty else None
        color = render.use_color(sys.stdout, os.environ)
        print(status_render.render_status(result, color=color, width=width))
    return report.exit_code(result, args.detailed_exitcode)
