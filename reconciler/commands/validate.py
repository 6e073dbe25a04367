"""``reconciler validate DESIRED``: check a desired-state file offline.

Loads the file exactly as ``plan`` would (references, config-file, auth-file sources) but sends
no request. Exit 0 when valid; otherwise the error is printed (file and line) and the exit code
is 1. An unset ``${env:...}`` makes the file invalid.
"""

from __future__ import annotations

import argparse
import os

from reconciler.desired.loader import load_desired


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("desired", metavar="DESIRED", help="the desired-state YAML file")


def run(args: argparse.Namespace) -> int:
    loaded = load_desired(args.desired, environ=os.environ)
    state = loaded.state
    config = "not managed" if state.config is None else f"{len(state.config)} keys"
    print(f"{args.desired}: valid ({len(state.auth_files)} auth files, config: {config})")
    return 0
