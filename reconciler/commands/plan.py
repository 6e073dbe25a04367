"""``reconciler plan DESIRED``: show what apply would change, secrets masked."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from reconciler.commands import options
from reconciler.desired import file_kind
from reconciler.output import plan_json, render
from reconciler.pipeline import planfile, planning, prefetch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("desired", metavar="DESIRED", help="the desired-state YAML file")
    parser.add_argument("--out", metavar="PLANFILE", help="save the plan for `apply --plan`")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the plan as JSON")
    fmt.add_argument("--markdown", action="store_true", help="print a Markdown summary")
    parser.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when there are no changes, 2 when there are, 1 on error",
    )
    parser.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="plan as `apply --allow-mass-delete` would (not blocked by max-deletions)",
    )
    parser.add_argument(
        "--allow-replace",
        action="store_true",
        help="plan as `apply --allow-replace` would (replace: true re-seeds are not blocked)",
    )
    options.add_state_dir_argument(parser)
    options.add_target_arguments(parser)
    options.add_fleet_arguments(parser, apply=False)


def run(args: argparse.Namespace) -> int:
    if file_kind.is_fleet_file(args.desired):
        from reconciler.commands import fleet_run  # only for a fleet file: ~40 ms of imports
        from reconciler.desired import fleet

        # Sources are read once the listings say which files are missing (plan_read).
        many = fleet.load_fleet(args.desired, environ=os.environ, defer_sources=True)
        return fleet_run.run_plan(args, many)
    options.refuse_single_target_flags(args)
    opts = options.target_options(args)
    state_dir = options.state_dir(args, Path(args.desired))
    # The two reads start from the target section while the rest loads, with a key known
    # to work only (pipeline.prefetch); sources are read once the listing says which files
    # are missing (plan_once).
    early = prefetch.Prefetch(Path(args.desired), opts, os.environ, lambda: state_dir)
    try:
        loaded = planning.load(
            args.desired, os.environ, defer_sources=True, on_section=early.on_section
        )
        target = planning.target_for(loaded, opts, os.environ)
        taken = early.take(target, config=loaded.state.config is not None)
    finally:
        early.close()
    if taken is None:
        client, reads = options.client_for(target, state_dir, loaded.state), None
    else:
        client, reads = taken
        client.set_redactions(lambda: planning.secret_values(loaded.state))
    with client:
        planned = planning.plan_once(
            loaded,
            target,
            client,
            allow_mass_delete=args.allow_mass_delete,
            allow_replace=args.allow_replace,
            reads=reads,
        )
    secret_paths = loaded.state.secret_paths
    if args.out or args.json:  # the fingerprints hash every file: ~0.3 s at 10,000 files
        meta = planned.meta(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        doc = plan_json.plan_to_json(
            planned.plan,
            secret_paths=secret_paths,
            fingerprint_key=target.fingerprint_key,
            meta=meta,
        )
    if args.out:
        planfile.write_plan_file(args.out, doc)
    if args.json:
        print(json.dumps(doc, indent=2))
    elif args.markdown:
        print(
            render.render_markdown(
                planned.plan,
                secret_paths=secret_paths,
                target=target.url,
                server_version=planned.live.server_version,
                fingerprint_key=target.fingerprint_key,
            )
        )
    else:
        print(
            render.render_text(
                planned.plan,
                secret_paths=secret_paths,
                color=render.use_color(sys.stdout, os.environ),
                target=target.url,
                server_version=planned.live.server_version,
                fingerprint_key=target.fingerprint_key,
            )
        )
        if args.out:
            print(
                f"Saved the plan to {args.out}; apply it with: reconciler apply {args.desired} --plan {args.out}"
            )
    if planned.plan.blockers:  # apply would refuse this plan: a CI plan step must fail too
        return 4
    return 2 if args.detailed_exitcode and planned.plan.has_changes else 0
