"""The command line: ``reconciler <command> ...``.

This module only parses arguments, dispatches to ``reconciler.commands.<name>`` and translates
errors into exit codes (see ``reconciler.errors``). Each command module defines
``add_arguments(parser)`` and ``run(args) -> int``.

No traceback reaches the terminal for what an operator can meet: a ``ReconcilerError`` is its
``error: ...`` line and exit code; Ctrl-C exits 130; running out of memory or recursion depth is
one ``error:`` line and exit 1; a closed output pipe (``plan --json | head``) exits 1 quietly.

``console`` is the process's entry (the console script, ``python -m reconciler``); ``main`` is
the same command line for callers in the same process (tests, the benchmark), returning the
exit code.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import os
import re
import sys
import typing
from collections.abc import Callable, Sequence
from types import ModuleType

from reconciler import __version__, errors
from reconciler.gc_pause import gc_paused

# The order here is the order of ``reconciler --help``; the one-line summaries are shown there
# without importing any command (tests/test_cli_imports.py checks they match each module's HELP).
COMMANDS: dict[str, str] = {
    "validate": "check a desired-state file offline (no request is sent)",
    "plan": "show what apply would change on the live CPA (read-only)",
    "status": "show which credentials on the live CPA work and, with --quota, how much quota they have",
    "apply": "apply the changes that plan shows (asks first on a terminal)",
    "export": "write a desired-state file for a live CPA (secrets replaced by ${env:...})",
    "restore": "put back the config and auth files saved in a backup",
    "daemon": "watch the live CPA for drift and report it (observe) or repair it (heal)",
    "login": "add an OAuth account to CPA from a terminal (and record it in the desired state)",
    "demo": "run validate, plan, apply and drift detection against a built-in CPA emulator",
    "emulator": "run a local CPA v7.2.140 emulator (Management API on loopback) for tests and demos",
}


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"reconciler.commands.{name}")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 1: exit 2 means "changes present" for plan."""

    def error(self, message: str) -> typing.NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The command named on the command line (the first argument that is not an option)."""
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; the command ``only`` (or every command when None) gets its full arguments.

    Building a command's arguments imports its module, and so everything it needs (the daemon
    pulls in APScheduler and prometheus-client, the demo the emulator). ``main`` builds only the
    command being run, so ``reconciler --help`` and ``reconciler plan`` import nothing they do
    not use.
    """
    parser = _Parser(
        prog="reconciler",
        description="Declarative reconciler for CLIProxyAPI (CPA): plan, apply, drift daemon.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, summary in COMMANDS.items():
        cmd = sub.add_parser(name, help=summary, description=summary)
        if only is None or name == only:
            module = _load(name)
            module.add_arguments(cmd)
            cmd.set_defaults(_run=module.run)
    return parser


def console() -> typing.NoReturn:
    """The console script and ``python -m reconciler``: ``main()``, then the exit.

    After a read-only command (``QUICK_EXIT``) that leaves no other thread running, the
    process ends without tearing down its objects one by one (~40 ms after a 10,000-file
    plan, whose listing and desired state are hundreds of thousands of objects): standard
    output and error are flushed and the exit handlers run first, and such a command has no
    file open for writing (a plan file is written and closed before it returns). Every other
    command exits as Python does.
    """
    argv = sys.argv[1:]
    code = main(argv)
    if _chosen_command(argv) in QUICK_EXIT and _single_thread():
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            code = _closed_pipe()
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        atexit._run_exitfuncs()  # what interpreter shutdown would run (a parse_ahead child)
        os._exit(code)
    sys.exit(code)


# Read-only commands whose process may end without its objects torn down (see ``console``).
QUICK_EXIT = frozenset({"validate", "plan"})


def _single_thread() -> bool:
    from reconciler.desired import parse_ahead  # imported by main() already for these commands

    return parse_ahead.single_thread()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if _chosen_command(argv) in PARSED_AHEAD:  # before the command's imports, which it overlaps
        from reconciler.desired import parse_ahead

        parse_ahead.start([arg for arg in argv if not arg.startswith("-")])
    try:
        parser = build_parser(only=_chosen_command(argv) or "")
        try:
            args = parser.parse_args(argv)
        except SystemExit:  # --help, --version, a usage error: printed, buffered on a pipe
            sys.stdout.flush()
            raise
    except BrokenPipeError:
        return _closed_pipe()
    if args.command not in ONE_SHOT:
        return run(args._run, args)
    with gc_paused():
        return run(args._run, args)


# Commands whose desired file is parsed on a second core while they import (desired.parse_ahead).
PARSED_AHEAD = frozenset({"validate", "plan", "apply"})


# Commands that read, compare and exit: the cyclic collector stays paused while they run. What
# they build (a 10,000-entry desired file, the listing, the plan) lives until they exit, and
# collections walking it again and again cost ~0.3 s of a 10,000-file plan while freeing
# nothing; reference counting still frees the rest. Long runs (daemon, emulator, interactive
# login, demo) keep the collector.
ONE_SHOT = frozenset({"validate", "plan", "apply", "export", "status", "restore"})


def run(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """``command(args)``, with every error an operator can meet turned into its exit code and
    one line on standard error."""
    try:
        code = command(args)
        sys.stdout.flush()  # a closed pipe shows here, not as a traceback at interpreter exit
    except BrokenPipeError:
        return _closed_pipe()
    except errors.ReconcilerError as exc:
        return _fail(f"error: {exc}", exc.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except MemoryError:
        return _fail(
            "error: out of memory; the command stopped (after an apply stopped part-way, run "
            "plan to see what is left)",
            1,
        )
    except RecursionError:
        return _fail(
            "error: a value is nested too deeply to handle; the command stopped (after an apply "
            "stopped part-way, run plan to see what is left)",
            1,
        )
    return code


# Control characters (line breaks aside) in a message are shown escaped: a message may quote a
# name or a text the server chose, and an escape sequence must not drive the terminal.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _fail(message: str, code: int) -> int:
    shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", message)
    with contextlib.suppress(BrokenPipeError, ValueError):  # standard error closed too
        print(shown, file=sys.stderr)
    return code


def _closed_pipe() -> int:
    """Whoever read standard output stopped (``| head``): exit 1 quietly, as the Python docs
    advise: standard output now goes to /dev/null, so the flush at exit cannot fail again."""
    with contextlib.suppress(OSError, ValueError):  # no real descriptor (captured): nothing to do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return 1
