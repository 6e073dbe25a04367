"""The command line: ``reconciler <command> ...``.

This module only parses arguments, dispatches to ``reconciler.commands.<name>`` and translates
errors into exit codes (see ``reconciler.errors``). Each command module defines ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import typing
from collections.abc import Sequence
from types import ModuleType

from reconciler import __version__, errors

# The order here is the order of ``reconciler --help``.
COMMANDS = (
    "validate",
    "plan",
    "apply",
    "export",
    "restore",
    "daemon",
    "demo",
    "emulator",
)


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"reconciler.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"reconciler.commands.{name}":
            return None
        raise


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 1: exit 2 means "changes present" for plan."""

    def error(self, message: str) -> typing.NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="reconciler",
        description="Declarative reconciler for CLIProxyAPI (CPA): plan, apply, drift daemon.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        module = _load(name)
        if module is None:
            continue
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args._run(args)
    except errors.ReconcilerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code
