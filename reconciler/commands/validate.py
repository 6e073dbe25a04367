"""``reconciler validate DESIRED [--no-references]``: check a desired-state file offline.

Loads the file exactly as ``plan`` would (references, config-file, auth-file sources) but sends
no request. Exit 0 when valid; otherwise the error is printed (file and line) and the exit code
is 1. Every reference that cannot be resolved (an unset ``${env:...}``, a missing
``${file:...}``) is listed at once, each with its file:line. ``target.management-key`` is
checked only when no key is given by ``CPA_MANAGEMENT_KEY`` or ``CPA_MANAGEMENT_KEY_FILE``
(``plan`` would not resolve it either).

``--no-references`` checks structure and types only: no variable is needed and no
``${file:}`` or auth-file ``source`` is read (a laptop, a pull request from a fork).
"""

from __future__ import annotations

import argparse
import os

from reconciler.desired import fleet
from reconciler.desired.loader import ENV_KEY, ENV_KEY_FILE, load_desired
from reconciler.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("desired", metavar="DESIRED", help="the desired-state YAML file")
    parser.add_argument(
        "--no-references",
        action="store_true",
        help="check structure and types only: resolve no ${env:}/${file:} reference and read "
        "no auth-file source (no variable needed)",
    )


def run(args: argparse.Namespace) -> int:
    if fleet.is_fleet_file(args.desired):
        return _validate_fleet(args)
    key_outside = bool(os.environ.get(ENV_KEY) or os.environ.get(ENV_KEY_FILE))
    loaded = load_desired(
        args.desired,
        environ=os.environ,
        resolve_references=not args.no_references,
        resolve_key=not key_outside and not args.no_references,
    )
    state = loaded.state
    config = "not managed" if state.config is None else f"{len(state.config)} keys"
    what = "structure and types only, references not resolved" if args.no_references else ""
    extra = f"; {what}" if what else ""
    print(f"{args.desired}: valid ({len(state.auth_files)} auth files, config: {config}{extra})")
    return 0


def _validate_fleet(args: argparse.Namespace) -> int:
    """A fleet file (``targets:``): loaded with every reference and source resolved (no
    request), its placement computed."""
    if args.no_references:
        raise UsageError("validate --no-references does not take a fleet file (targets:) yet")
    loaded = fleet.load_fleet(args.desired, environ=os.environ)
    placed = loaded.fleet.placed()
    shares = ", ".join(
        f"{n}: {sum(1 for t in placed.values() if t == n)}" for n in loaded.fleet.names
    )
    print(
        f"{args.desired}: valid fleet ({len(loaded.fleet.names)} targets, "
        f"{len(loaded.fleet.files)} auth files placed {shares})"
    )
    return 0
