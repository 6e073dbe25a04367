"""``reconciler emulator``: run the CPA v7.2.140 emulator until interrupted.

Prints where it listens, never the management key. Without ``--management-key`` or
``CPA_MANAGEMENT_KEY`` a random key is generated and stored in a mode-0600 file in the state
directory; the printed line names that file.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import threading
from pathlib import Path
from types import FrameType

from reconciler.emulator import Emulator
from reconciler.errors import UsageError

KEY_ENV = "CPA_MANAGEMENT_KEY"
KEY_FILE_NAME = "management-key"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument("--port", type=int, default=8317, help="port to bind (default: 8317)")
    parser.add_argument(
        "--management-key",
        default=None,
        help=f"management key (default: ${KEY_ENV}, else a generated key stored in a file)",
    )
    parser.add_argument(
        "--state-dir",
        default=None,
        help="directory for config.yaml and auths/ (default: a temporary directory)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="set remote-management.allow-remote: true (non-loopback clients may manage)",
    )


def run(args: argparse.Namespace) -> int:
    key = args.management_key or os.environ.get(KEY_ENV) or ""
    generated = not key
    if generated:
        key = secrets.token_urlsafe(24)
    emulator = Emulator(
        args.state_dir,
        management_key=key,
        host=args.host,
        port=args.port,
        allow_remote=args.allow_remote,
    )
    try:
        emulator.start()
    except OSError as exc:
        emulator.stop()
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from exc
    try:
        _announce(emulator, _store_key(emulator.state_dir, key) if generated else None)
        _wait_for_signal()
    finally:
        emulator.stop()
    return 0


def _store_key(state_dir: Path, key: str) -> Path:
    path = state_dir / KEY_FILE_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (key + "\n").encode("utf-8"))
    finally:
        os.close(fd)
    return path


def _announce(emulator: Emulator, key_file: Path | None) -> None:
    print(f"CPA emulator listening on {emulator.url}", flush=True)
    print(f"management API: {emulator.management_url}", flush=True)
    print(f"state directory: {emulator.state_dir}", flush=True)
    if key_file is not None:
        print(f"management key: generated, stored in {key_file} (mode 0600)", flush=True)
    print("press Ctrl-C to stop", flush=True)


def _wait_for_signal() -> None:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
    while not stop.wait(0.5):
        pass
