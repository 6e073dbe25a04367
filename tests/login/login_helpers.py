"""Drive ``reconciler login`` as a person does: a subprocess on a pseudo-terminal (``pty``),
its output read as it comes, answers typed in, Ctrl-C sent as SIGINT.

The subprocess logs at DEBUG level to its standard error (the same terminal), so a test sees
everything the tool could ever log as well as what it prints.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

KEY = "login-key-PLANTED-5e7c"
REPO = Path(__file__).resolve().parents[2]
# The CLI with every logger at DEBUG on standard error: nothing it logs may hold a credential.
PROBE = (
    "import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr); "
    "from reconciler.cli import main; sys.exit(main(sys.argv[1:]))"
)
DESIRED = """\
# Desired state of the team's CPA (kept in git).
target:
  url: {url}                      # the CPA to log in to
  management-key: ${{env:CPA_MANAGEMENT_KEY}}

# Only the keys written here are owned.
config:
  debug: false

auth-files:
  prune: false          # never delete what is not listed
  files:
    # the shared account, parked
    - name: claude-ops@example.com.json
      disabled: true
      fields:
        note: "ops"       # quoted on purpose
"""
URL_LINE = re.compile(r"^(https://\S+)\r?$", re.M)


class Session:
    """One ``reconciler login`` run on a terminal ``cols`` characters wide."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, cols: int = 40) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
        base = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        base.pop("CPA_URL", None)
        base.pop("CPA_MANAGEMENT_KEY", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PROBE, "login", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**base, "CPA_MANAGEMENT_KEY": KEY, "COLUMNS": str(cols), **(env or {})},
            cwd=REPO,
            close_fds=True,
        )
        os.close(slave)
        self.master = master
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self._chunks.append(data)

    @property
    def output(self) -> str:
        with self._lock:
            return b"".join(self._chunks).decode("utf-8", errors="replace")

    def wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output, re.M)
            if found:
                return found
            if self.proc.poll() is not None:
                time.sleep(0.2)
                found = re.search(pattern, self.output, re.M)
                if found:
                    return found
                raise AssertionError(
                    f"exited {self.proc.returncode} before {pattern!r}:\n{self.output}"
                )
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} within {timeout} s:\n{self.output}")

    def auth_url(self) -> str:
        return self.wait_for(URL_LINE.pattern).group(1)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def finish(self, timeout: float = 60.0) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        os.close(self.master)
        return code


def callback_for(auth_url: str, code: str = "ac-PLANTED-code-7f3e") -> str:
    """The localhost address a browser ends on after signing in at ``auth_url``."""
    query = parse_qs(urlsplit(auth_url).query)
    redirect = query["redirect_uri"][0]
    return f"{redirect}?code={code}&scope=openid&state={query['state'][0]}"


def approve(emulator_url: str, user_code: str, **extra: str) -> httpx.Response:
    with httpx.Client(base_url=emulator_url, timeout=10) as control:
        return control.post("/_emulator/oauth/approve", json={"user_code": user_code, **extra})
