"""``reconciler daemon`` over several cycles against the planted world: no secret in its event
lines (JSON or text), its stderr, its /metrics, /healthz and /readyz, or its webhook bodies.

The daemon runs as a subprocess. In heal mode it converges the server (so its events describe
changes to secret values), then someone changes a client API key by hand to another planted
value, and the daemon reports and heals that drift too. The webhook URL carries a token in its
path and the signing secret is planted as well.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from secrets_world import (
    ALICE,
    CAROL,
    ENV_SECRETS,
    KEY,
    World,
    assert_no_leak,
    files_under,
    mode,
    planted,
)

from reconciler.client.management import ManagementClient

WAIT = 30.0
WEBHOOK_TOKEN = planted("webhook-path-token")
WEBHOOK_SECRET = planted("webhook-hmac")
DRIFTED_KEY = planted("sk-drifted-by-hand")


@dataclass
class Received:
    """What the webhook receiver got: one (path, headers, body) per POST."""

    posts: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextlib.contextmanager
def webhook_receiver() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with received.lock:
                received.posts.append((self.path, str(self.headers), body.decode()))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/{WEBHOOK_TOKEN}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class DaemonRun:
    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def stop(self) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        assert self.proc.stderr is not None
        err = self.proc.stderr.read()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return code, "".join(self.lines), err


def _wait(predicate: Callable[[], Any], what: str, run: DaemonRun) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        if run.proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; output so far:\n{''.join(run.lines)}")


def _cycles(listen: str) -> float:
    text = httpx.get(f"http://{listen}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("reconciler_cycles_total{")
    )


def _listen(run: DaemonRun, log_format: str) -> str:
    def started() -> str | None:
        for line in run.lines:
            if log_format == "json":
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if event.get("event") == "daemon.started":
                        return str(event["listen"])
            elif "daemon.started" in line and "listen=" in line:
                return line.split("listen=", 1)[1].split()[0].strip("\"'")
        return None

    return str(_wait(started, "daemon.started", run))


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_daemon_heals_and_reports_without_a_secret(
    world: World, tmp_path: Path, log_format: str
) -> None:
    secret_file = tmp_path / "webhook-secret"
    secret_file.write_text(WEBHOOK_SECRET + "\n")
    with webhook_receiver() as (hook_url, received):
        env = {**world.environ(os.environ), "PYTHONUNBUFFERED": "1"}
        env["RECONCILER_WEBHOOK_URL"] = hook_url
        argv = [
            sys.executable, "-m", "reconciler", "daemon", str(world.desired),
            "--mode", "heal", "--interval", "0.3", "--jitter", "0",
            "--listen", "127.0.0.1:0", "--log-format", log_format,
            "--webhook-secret-file", str(secret_file),
        ]  # fmt: skip
        proc = subprocess.Popen(
            argv, env=env, cwd=world.repo, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        run = DaemonRun(proc)
        try:
            listen = _listen(run, log_format)
            _wait(lambda: (world.emu.auth_dir / ALICE).exists(), "the heal to create alice", run)
            _wait(lambda: not (world.emu.auth_dir / CAROL).exists(), "the heal to prune carol", run)
            start = _cycles(listen)
            _wait(lambda: _cycles(listen) >= start + 2, "two more cycles", run)

            with ManagementClient(world.emu.url, KEY) as client:
                client.put_api_keys([DRIFTED_KEY, ENV_SECRETS["CLIENT_KEY_A"]])
            _wait(lambda: DRIFTED_KEY not in world.emu.config_yaml(), "the drift healed", run)
            start = _cycles(listen)
            _wait(lambda: _cycles(listen) >= start + 2, "two more cycles", run)

            endpoints = {
                path: httpx.get(f"http://{listen}{path}", timeout=5).text
                for path in ("/metrics", "/healthz", "/readyz")
            }
        finally:
            code, out, err = run.stop()
        posts = list(received.posts)

    assert code == 0, err
    assert "drift" in out and (ALICE in out or "codex-alice" in out), out
    assert_no_leak(f"daemon events ({log_format})", out)
    assert_no_leak("daemon stderr", err)
    for path, text in endpoints.items():
        assert_no_leak(f"daemon {path}", text)
    assert posts, "no webhook was sent"
    for path, headers, body in posts:
        assert_no_leak("a webhook body", body)
        assert_no_leak("webhook headers", headers)
        assert path.endswith(WEBHOOK_TOKEN)  # it went to the right place
    for backup in (world.state_dir / "backups").iterdir():
        assert mode(backup) == 0o700
        assert all(mode(f) == 0o600 for f in files_under(backup))
