"""``reconciler demo``: the whole story against the built-in CPA emulator, in one command.

Starts an emulator on a free loopback port, then runs validate, plan, apply, plan (no
changes), makes a change the way the web UI would, and plans again to show the drift. The
secrets it uses are random and never printed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconciler import cli
from reconciler.client.management import ManagementClient
from reconciler.emulator import Emulator
from reconciler.output import render

DEMO_DATA = Path(__file__).resolve().parent.parent / "demo_data"
VARIABLES = (
    "CLIENT_KEY_TEAM_A",
    "CLIENT_KEY_TEAM_B",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep", metavar="DIR", help="keep the emulator's state and the desired state in DIR"
    )


def run(args: argparse.Namespace) -> int:
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cpa-demo-"))
    try:
        return _demo(workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _step(title: str, argv: list[str]) -> int:
    bold = render.use_color(sys.stdout, os.environ)
    print(f"\n\033[1m==> {title}\033[0m" if bold else f"\n==> {title}")
    print("$ reconciler " + " ".join(argv), flush=True)
    code = cli.main(argv)
    print(f"(exit {code})", flush=True)
    return code


def _demo(workdir: Path) -> int:
    desired_dir = workdir / "desired"
    shutil.copytree(DEMO_DATA, desired_dir, dirs_exist_ok=True)
    desired = str(desired_dir / "desired-state.yaml")
    key = secrets.token_urlsafe(24)
    env = {name: secrets.token_urlsafe(16) for name in VARIABLES}
    with Emulator(workdir / "cpa", management_key=key) as emu:
        print(f"CPA emulator (answers like CPA v7.2.140) on {emu.url}; state in {workdir / 'cpa'}")
        with _environment({**env, "CPA_MANAGEMENT_KEY": key, "CPA_URL": emu.url}):
            codes = [
                _step("validate the desired state (offline)", ["validate", desired]),
                _step("plan against a fresh CPA", ["plan", desired]),
                _step("apply", ["apply", desired, "--auto-approve"]),
                _step("plan again: nothing to do", ["plan", desired, "--detailed-exitcode"]),
            ]
            print("\n==> someone changes CPA by hand, the way the web UI does:")
            print('    PUT /v0/management/debug {"value": true} and disables alice\'s account')
            with ManagementClient(emu.url, key) as client:
                client.set_setting("debug", True)
                client.set_auth_file_disabled("codex-alice@example.com.json", True)
            drift = _step("plan detects the drift", ["plan", desired, "--detailed-exitcode"])
    expected = [0, 0, 0, 0]
    ok = codes == expected and drift == 2
    print(
        "\nDemo finished: "
        + ("everything behaved as expected." if ok else f"unexpected exit codes {codes}, {drift}")
    )
    return 0 if ok else 1
