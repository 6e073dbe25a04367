"""``reconciler login PROVIDER``: add an OAuth account to CPA from a terminal, and record it.

The flow is ``pipeline.login``'s; this module owns the terminal: the address shown whole on a
line of its own, a browser opened only where there is a display, the callback address read
without echo on a terminal (or from ``--callback-url``), Ctrl-C (exit 130), and with
``--desired`` the entry written into the desired-state file (``desired.auth_file_entry``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import webbrowser
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from reconciler import errors
from reconciler.client.errors import sanitize
from reconciler.commands import options
from reconciler.desired.auth_file_entry import EntryPolicy, record_entry
from reconciler.pipeline import login, planning
from reconciler.pipeline.planning import TargetOptions
from reconciler.statedir.lock import state_lock

REQUEST_TIMEOUT = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "provider",
        metavar="PROVIDER",
        help=f"the login provider: {login.provider_names()}",
    )
    parser.add_argument(
        "--desired",
        metavar="FILE",
        help="add (or update) the new file's entry under auth-files.files of this "
        "desired-state file, comments and order kept, and apply its policy",
    )
    parser.add_argument("--note", metavar="TEXT", help="set fields.note of the new file")
    parser.add_argument(
        "--priority", type=int, metavar="N", help="set fields.priority of the new file"
    )
    parser.add_argument(
        "--disabled", action="store_true", help="record and set the new file disabled"
    )
    parser.add_argument(
        "--callback-url",
        metavar="URL",
        help="the address the browser ended on, for a login whose browser step is done "
        "(its state names the session on CPA); '-' reads it from standard input instead of "
        "asking on the terminal",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="show the address, do not open a browser"
    )
    parser.add_argument(
        "--webui",
        action="store_true",
        help="CPA runs on this machine: let CPA take the browser's redirect itself "
        "(is_webui=true) instead of pasting the address",
    )
    parser.add_argument(
        "--project-id", metavar="ID", help="gemini-cli only (CPA v7.2.19 and older)"
    )
    parser.add_argument(
        "--timeout",
        type=options.seconds,
        metavar="SECONDS",
        help="give up (and cancel the login on CPA) after this long (default 300, or the "
        "device code's validity)",
    )
    options.add_state_dir_argument(parser)
    options.add_target_arguments(parser, request_timeout=False)


class TerminalIO:
    """The person's side of the login: standard output, a browser, the terminal."""

    def __init__(self, *, browser: bool, from_stdin: bool, out: TextIO | None = None) -> None:
        self.browser = browser
        self.from_stdin = from_stdin
        self._out = out

    @property
    def out(self) -> TextIO:
        return self._out if self._out is not None else sys.stdout  # looked up when used

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def show_url(self, url: str) -> None:
        # One line of its own, never wrapped nor indented: a terminal that folds it still
        # copies it whole; control characters a server might send are shown escaped.
        print(sanitize(url).replace(" ", "%20"), file=self.out, flush=True)

    def open_browser(self, url: str) -> bool:
        if not self.browser or not has_display():
            return False
        if urlsplit(url).scheme not in ("http", "https"):
            return False
        try:
            return bool(webbrowser.open(url))
        except webbrowser.Error:
            return False

    def ask_callback(self, prompt: str) -> str | None:
        if self.from_stdin:
            line = sys.stdin.readline()
            return line if line else None
        if not sys.stdin.isatty():
            return None
        print(prompt, end="", file=self.out, flush=True)
        line = _read_hidden()
        print(file=self.out, flush=True)
        return line if line else None


def has_display() -> bool:
    """A browser can be shown here: macOS, Windows, or an X11/Wayland session."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _read_hidden() -> str:
    """One line from the terminal with echo off (the address holds the code and state)."""
    try:
        import termios
    except ImportError:  # pragma: no cover - not on POSIX
        return sys.stdin.readline()
    fd = sys.stdin.fileno()
    try:
        before = termios.tcgetattr(fd)
    except termios.error:
        return sys.stdin.readline()
    quiet = list(before)
    quiet[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSADRAIN, quiet)
    try:
        return sys.stdin.readline()
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, before)


def _target(args: argparse.Namespace) -> tuple[planning.Target, Path, list[str]]:
    """Where to log in, the state directory, and values to mask (the desired file's)."""
    opts = TargetOptions(
        url=args.url,
        key_file=args.management_key_file,
        key_arg=args.management_key,
        ca_cert=args.ca_cert,
        allow_insecure_http=args.allow_insecure_http,
        timeout=REQUEST_TIMEOUT,
    )
    if args.desired:
        loaded = planning.load(args.desired, os.environ)
        target = planning.target_for(loaded, opts, os.environ)
        state = options.state_dir(args, Path(args.desired))
        return target, state, planning.secret_values(loaded.state)
    url = args.url or os.environ.get("CPA_URL")
    if not url:
        raise errors.UsageError("no target url: pass --url, set CPA_URL, or use --desired FILE")
    planning.check_url(url, allow_insecure_http=args.allow_insecure_http)
    key = options.key_without_desired_file(args)
    target = planning.Target(planning.canonical_url(url), key, args.ca_cert, REQUEST_TIMEOUT)
    return target, options.state_dir_without_desired_file(args), []


def _check_flags(args: argparse.Namespace, provider: login.Provider | None) -> None:
    if args.callback_url and args.callback_url != "-":
        if provider is not None and provider.device:
            raise errors.UsageError(
                f"--callback-url: the {provider.name} login is a device flow, it has no "
                "callback address"
            )
        query = urlsplit(args.callback_url).query
        if "state=" not in query:
            raise errors.UsageError(
                "--callback-url: not a callback address (no state=...); pass the whole "
                "address the browser ended on, or '-' to read it from standard input"
            )
    if args.note is not None and any(ord(c) < 32 for c in args.note):
        raise errors.UsageError("--note: control characters (newlines, tabs) are not allowed")


def run(args: argparse.Namespace) -> int:
    provider = login.find_provider(args.provider)
    _check_flags(args, provider)
    target, state_dir, masked = _target(args)
    io = TerminalIO(browser=not args.no_browser, from_stdin=args.callback_url == "-")
    policy = EntryPolicy(
        disabled=True if args.disabled else None, note=args.note, priority=args.priority
    )
    # The state directory's lock, as apply takes it: from before the first request until the
    # new file is recorded and its policy applied, so that no apply or daemon cycle on this
    # state directory prunes or rewrites the new file meanwhile (exit 5 at once when held).
    with (
        state_lock(state_dir),
        planning.make_client(
            target, state_dir=state_dir, redact=masked, announce=sys.stderr
        ) as client,
    ):
        if provider is None:
            client.list_auth_files()  # the snapshot a login starts with: names the server
            raise errors.UsageError(
                f"unknown login provider {args.provider!r} for {login.server_name(client)}; "
                f"known: {login.provider_names()}. No login was started"
            )
        opts = login.LoginOptions(
            provider=provider,
            typed=args.provider,
            callback_url=args.callback_url,
            webui=args.webui,
            project_id=args.project_id,
            deadline=args.timeout,
        )
        try:
            result = login.run_login(client, io, opts)
        except KeyboardInterrupt:
            with contextlib.suppress(BrokenPipeError, ValueError):
                print("Login interrupted.", file=sys.stderr)
            return 130
        again = " (a re-login: the same file, rewritten)" if result.rewritten else ""
        print(
            f"Logged in: {result.name} (provider {result.provider}, account "
            f"{sanitize(result.account)}){again}",
            flush=True,
        )
        if args.desired:
            edit = record_entry(args.desired, result.name, policy)
            what = {
                "added": "added an entry for it under auth-files.files",
                "updated": "updated its entry under auth-files.files",
                "unchanged": "its entry under auth-files.files was already there",
            }[edit.outcome]
            print(f"{args.desired}: {what}", flush=True)
            outcome = login.apply_entry_policy(client, args.desired, target, result.name)
        else:
            outcome = login.apply_flags(client, result.name, policy)
    if outcome.done:
        print(f"Applied to {result.name}: {', '.join(outcome.done)}")
    for left in outcome.left:
        print(f"Not done by login (run reconciler apply): {left}")
    if args.desired:
        print(f"Check: reconciler plan {args.desired} --detailed-exitcode")
    else:
        print(
            f"To keep it in git, add it under auth-files.files of your desired state: "
            f"- name: {result.name}"
        )
    return 0
