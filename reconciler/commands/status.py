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
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.commands import options
from reconciler.desired import file_kind
from reconciler.output import plan_json, render, status_render
from reconciler.pipeline import planning
from reconciler.quota import health, reader, recipes, report

if TYPE_CHECKING:
    from reconciler.desired.fleet import LoadedFleet

HELP = "show which credentials on the live CPA work and, with --quota, how much quota they have"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "desired",
        metavar="DESIRED",
        nargs="?",
        help="a desired-state file: its target (or a fleet file: each target), and which files "
        "are declared",
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
    options.add_fleet_arguments(parser, apply=False)


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
        if file_kind.is_fleet_file(args.desired):
            from reconciler.desired import fleet  # only for a fleet file: ~40 ms of imports

            return _run_fleet(args, fleet.load_fleet(args.desired, environ=os.environ))
        loaded = planning.load(args.desired, os.environ)
        options.refuse_single_target_flags(args)
        target = planning.target_for(loaded, options.target_options(args), os.environ)
        state_dir = options.state_dir(args, Path(args.desired))
        declared = [entry.name for entry in loaded.state.auth_files]
        client = options.client_for(target, state_dir, loaded.state)
    else:
        options.refuse_single_target_flags(args)
        url = args.url or os.environ.get("CPA_URL")
        if not url:
            raise errors.UsageError("no target url: pass --url or set CPA_URL, or give DESIRED")
        planning.check_url(url, allow_insecure_http=args.allow_insecure_http)
        target = planning.Target(
            url, options.key_without_desired_file(args), args.ca_cert, args.timeout
        )
        client = options.client_for(target, options.state_dir_without_desired_file(args))
    with client:
        result = _report(args, client, target.url, declared)
    if args.json:
        print(json.dumps(report.to_json(result), indent=2))
    else:
        print(status_render.render_status(result, **_style()))
    return report.exit_code(result, args.detailed_exitcode)


def _style() -> dict[str, Any]:
    tty = sys.stdout.isatty()
    width = shutil.get_terminal_size().columns if tty else None
    return {"color": render.use_color(sys.stdout, os.environ), "width": width}


def _report(
    args: argparse.Namespace, client: ManagementClient, url: str, declared: list[str] | None
) -> report.Report:
    """One server's report: one listing, then (``--quota``) the api-calls, and a second
    listing only when a call looked dead (a file deleted meanwhile: ``reader.recheck_gone``)."""
    listing = client.list_auth_files()
    now = time.time()
    healths = report.select(
        health.health_list(listing, now), provider=args.provider, name=args.name
    )
    readings: dict[str, recipes.Reading] = {}
    notes: dict[str, str] = {}
    calls = 0
    listings = 1
    if args.quota:
        read = reader.read_quotas(
            client, healths, endpoints=dict(args.quota_endpoint), concurrency=args.quota_concurrency
        )
        listings += reader.recheck_gone(client, healths, read)
        readings, notes, calls = read.readings, read.notes, read.calls
    version = client.server_version
    rows = report.rows_for(
        healths, readings, notes, declared=declared, provider=args.provider, name=args.name
    )
    return report.Report(
        rows=rows,
        target=planning.canonical_url(url),
        server_version=version.version if version else None,
        generated_at=now,
        quota=bool(args.quota),
        requests={"auth_files": listings, "api_call": calls},
    )


# ---------------------------------------------------------------------------------------------
# A fleet file: every (chosen) target, in parallel, grouped by target

FLEET_FORMAT_VERSION = "1.1"


def _run_fleet(args: argparse.Namespace, loaded: LoadedFleet) -> int:
    """Each target's report under its name; a target that cannot be read is named (exit 1)
    after the others were reported. ``declared`` on a target: the files placed on it (a
    declared file placed elsewhere is still ``declared``: the plan moves it)."""
    from reconciler.pipeline import fleet as pfleet

    targets = pfleet.targets_for(loaded, options.target_options(args))
    chosen = pfleet.selected(loaded, args.target)
    state_dir = options.state_dir(args, Path(args.desired))
    placed = loaded.fleet.placed()
    everywhere = {f.name for f in loaded.fleet.files}
    reports: dict[str, report.Report] = {}
    failures: dict[str, str] = {}
    mine = {n: targets[n] for n in chosen}

    def one(name: str, client: ManagementClient) -> report.Report:
        here = [n for n, t in placed.items() if t == name]
        result = _report(args, client, targets[name].url, here)
        rows = tuple(
            replace(r, declared="declared")
            if r.declared == "undeclared" and r.name in everywhere
            else r
            for r in result.rows
        )
        return replace(result, rows=rows)

    with (
        pfleet.clients_for(loaded, mine, state_dir) as clients,
        ThreadPoolExecutor(max_workers=min(pfleet.MAX_WORKERS, len(mine))) as pool,
    ):
        futures = {name: pool.submit(one, name, clients[name]) for name in chosen}
        for name, future in futures.items():
            try:
                reports[name] = future.result()
            except errors.ReconcilerError as exc:
                failures[name] = str(exc)
    if args.json:
        print(json.dumps(_fleet_json(args, targets, chosen, reports, failures), indent=2))
    else:
        print(_fleet_text(targets, chosen, reports, failures))
    for name, why in failures.items():
        print(f"error: target {name} was not read: {why}", file=sys.stderr)
    if failures:
        return 1
    problems = any(r.problems for r in reports.values())
    return 2 if args.detailed_exitcode and problems else 0


def _fleet_text(
    targets: Mapping[str, planning.Target],
    chosen: tuple[str, ...],
    reports: Mapping[str, report.Report],
    failures: Mapping[str, str],
) -> str:
    style = _style()
    out = [f"Fleet status: {len(chosen)} target(s): {', '.join(chosen)}", ""]
    for name in chosen:
        out.append(f"== target {name} ==")
        if name in failures:
            url = plan_json.safe_url(targets[name].url)
            out += [f"error: target {name} ({url}) was not read: {failures[name]}", ""]
            continue
        out += [status_render.render_status(reports[name], **style), ""]
    unhealthy = sum(1 for r in reports.values() for row in r.rows if row.unhealthy)
    line = f"Fleet: {len(reports)} target(s) read, {unhealthy} unhealthy credential(s)"
    if failures:
        line += "; not read: " + ", ".join(failures)
    out.append(line + ".")
    return "\n".join(out)


def _fleet_json(
    args: argparse.Namespace,
    targets: Mapping[str, planning.Target],
    chosen: tuple[str, ...],
    reports: Mapping[str, report.Report],
    failures: Mapping[str, str],
) -> dict[str, Any]:
    sections: dict[str, Any] = {}
    for name in chosen:
        doc = report.to_json(reports[name]) if name in reports else None
        sections[name] = {
            "url": plan_json.safe_url(targets[name].url),
            "error": failures.get(name),
            "status": doc,
        }
    docs = [s["status"] for s in sections.values() if s["status"] is not None]
    return {
        "format_version": FLEET_FORMAT_VERSION,
        "kind": "fleet",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quota": bool(args.quota),
        "targets": sections,
        "summary": {
            "targets": len(chosen),
            "failed_targets": list(failures),
            "credentials": sum(d["summary"]["credentials"] for d in docs),
            "unhealthy": sum(d["summary"]["unhealthy"] for d in docs),
            "exhausted": sum(d["summary"]["exhausted"] for d in docs),
            "requests": {
                key: sum(d["summary"]["requests"][key] for d in docs)
                for key in ("auth_files", "api_call")
            },
        },
    }
