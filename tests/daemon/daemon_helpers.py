"""Helpers for the daemon tests: a desired-state workspace, the daemon as a subprocess whose
stdout events are collected as they arrive, and small readers of /metrics and /readyz.

Waits are bounded polls for an event or a value, never sleeps that assert timing.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from reconciler.daemon.cycle import Reconciler
from reconciler.emulator import Emulator

KEY = "daemon-test-mgmt-key-PLANTED"
WRONG_KEY = "not-the-key-PLANTED"
ALICE = "codex-alice@example.com.json"
BOB = "claude-bob@example.com.json"
TOKENS = {"access_token": "AT-PLANTED-1", "refresh_token": "RT-PLANTED-1"}
CLIENT_KEY = "client-key-PLANTED"  # the one api-key the desired state asks for
WAIT = 20.0  # the longest any poll waits before the test fails

DESIRED = f"""\
# the daemon tests' desired state
config:
  debug: false
  request-retry: 3
  api-keys:
    - ${{env:CLIENT_KEY}}
auth-files:
  files:
    - name: {ALICE}
      source: auth/alice.json
      disabled: false
      fields:
        priority: 7
    - name: {BOB}
      source: auth/bob.json
"""

BROKEN_LINE = 8
BROKEN = DESIRED.replace("auth-files:\n  files:", "auth-files:\n  filez:")


def write_workspace(root: Path, desired: str = DESIRED) -> Path:
    """A desired-state file with its auth sources; returns the file."""
    (root / "auth").mkdir(parents=True, exist_ok=True)
    for name, email, kind in (
        ("alice", "alice@example.com", "codex"),
        ("bob", "bob@example.com", "claude"),
    ):
        data = {"type": kind, "email": email, **TOKENS}
        (root / "auth" / f"{name}.json").write_text(json.dumps(data))
    path = root / "desired-state.yaml"
    path.write_text(desired)
    return path


def rewrite(path: Path, text: str) -> None:
    """Replace a file atomically, as an editor or a git checkout would."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Daemon:
    """``reconciler daemon`` as a subprocess; ``events`` fill in as stdout lines arrive."""

    proc: subprocess.Popen[str]
    events: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    stderr: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line)
                with contextlib.suppress(ValueError):
                    self.events.append(json.loads(line))

    def all(self, event: str | None = None, **match: Any) -> list[dict[str, Any]]:
        with self._lock:
            found = list(self.events)
        return [
            e
            for e in found
            if (event is None or e["event"] == event)
            and all(e.get(k) == v for k, v in match.items())
        ]

    def wait_for(self, event: str, *, timeout: float = WAIT, **match: Any) -> dict[str, Any]:
        found = wait_until(lambda: self.all(event, **match), f"{event} {match}", timeout)
        return dict(found[0])

    @property
    def listen(self) -> str:
        return str(self.wait_for("daemon.started")["listen"])

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://{self.listen}{path}", timeout=5)

    def metrics(self) -> dict[str, float]:
        """``name{label="v",...}`` -> value, from /metrics."""
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(self.get("/metrics").text):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return out

    def metric(self, name: str) -> float:
        return self.metrics().get(name, 0.0)

    def wait_cycles(self, more: int, result: str = "success") -> None:
        """Wait until ``more`` further cycles with ``result`` have run."""
        name = f'reconciler_cycles_total{{result="{result}"}}'
        start = self.metric(name)
        wait_until(lambda: self.metric(name) >= start + more, f"{more} more {result} cycles")

    def terminate(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        self.close()
        return code

    def close(self) -> None:
        """Kill it if it still runs, and close the pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def output(self) -> str:
        with self._lock:
            return "".join(self.lines)


class Lines(io.StringIO):
    """A stdout that can be read while an in-process daemon writes to it."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def write(self, s: str) -> int:
        with self._lock:
            return super().write(s)

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(line) for line in self.getvalue().splitlines()]


StartDaemon = Callable[..., Daemon]
"""The ``daemon`` fixture: ``daemon(desired, *flags, env=None) -> Daemon``."""


def start_daemon(desired: Path, *args: str, env: Mapping[str, str]) -> Daemon:
    argv = [sys.executable, "-m", "reconciler", "daemon", str(desired), "--listen", "127.0.0.1:0"]
    proc = subprocess.Popen(
        [*argv, *args],
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=desired.parent,
    )
    return Daemon(proc)


def base_env(url: str, key: str | None = KEY) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CPA_", "RECONCILER_"))}
    env["CPA_URL"] = url
    if key is not None:
        env["CPA_MANAGEMENT_KEY"] = key
    env["CLIENT_KEY"] = CLIENT_KEY
    env["PYTHONUNBUFFERED"] = "1"
    return env


def assert_no_secrets(text: str) -> None:
    assert "PLANTED" not in text, "a planted secret reached the output"


class Receiver(ThreadingHTTPServer):
    """A loopback webhook receiver: every POST's headers (lower-cased) and body land in ``got``.

    ``status`` is what it answers; with ``hold`` set it waits for that event before answering.
    """

    daemon_threads = True

    def __init__(self, status: int = 200, hold: threading.Event | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.status = status
        self.hold = hold
        self.got: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/token-PLANTED"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.hold is not None:
            self.hold.set()
        self.shutdown()
        self.server_close()


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.server.hold is not None:
            self.server.hold.wait(10)
        self.server.got.put(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


LOST = "codex-lost@example.com.json"
EXTRA = ("old-1.json", "old-2.json", "old-3.json")


@dataclass
class Rig:
    """A ``Reconciler`` with its events in memory and its own metrics registry."""

    reconciler: Reconciler
    out: io.StringIO
    registry: CollectorRegistry
    env: dict[str, str]  # what the reconciler reads each cycle (the key): edit it in place

    def tick(self, times: int = 1) -> None:
        for _ in range(times):
            self.reconciler.tick()

    def events(self, name: str | None = None, /, **match: Any) -> list[dict[str, Any]]:
        found = [json.loads(line) for line in self.out.getvalue().splitlines()]
        return [
            e
            for e in found
            if (name is None or e["event"] == name) and all(e.get(k) == v for k, v in match.items())
        ]

    def sample(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)

    @property
    def ready(self) -> tuple[bool, dict[str, Any]]:
        return self.reconciler.readiness()


def desired_text(*, files: str = "", prune: bool = False, max_deletions: int = 5) -> str:
    return (
        "config:\n  debug: false\n"
        f"auth-files:\n  prune: {'true' if prune else 'false'}\n"
        f"  max-deletions: {max_deletions}\n  files:\n"
        f"    - name: {ALICE}\n      source: auth/alice.json\n" + files
    )


def planted(cpa: Emulator, *names: str) -> None:
    for name in names:
        cpa.write_auth_file(name, {"type": "codex", "email": f"{name}@example.com", **TOKENS})


def deletes(cpa: Emulator) -> list[str]:
    return [r.path for r in cpa.mutating_requests() if r.method == "DELETE"]
