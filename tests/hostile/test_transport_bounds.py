"""Issue 9 item 9: an endless or huge answer, or one trickled a byte at a time, is stopped by the
client's size limits and its total deadline (real HTTP on loopback, the hostile server)."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_server import HostileServer, Reply, Seen, endless, trickle

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.client.transport import LARGE_ANSWER_LIMIT, SMALL_ANSWER_LIMIT

REPO = Path(__file__).resolve().parents[2]
KEY = "hostile-test-key"


def _client(url: str, timeout: float = 5.0) -> ManagementClient:
    client = ManagementClient(url, KEY, timeout=timeout)
    client._session.retry_delays = ()
    return client


def test_an_endless_answer_is_refused_at_the_endpoint_limit() -> None:
    with HostileServer(
        lambda _req: Reply(200, {"Content-Type": "application/json"}, endless())
    ) as srv:
        started = time.monotonic()
        with _client(srv.url) as client, pytest.raises(errors.ApiError) as caught:
            client.download_auth_file("a.json")
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert "GET /v0/management/auth-files/download" in message
    assert f"larger than {SMALL_ANSWER_LIMIT // 2**20} MiB" in message


def test_a_declared_huge_length_is_refused_without_reading() -> None:
    def handler(_req: Seen) -> Reply:
        headers = {"Content-Type": "application/json", "Content-Length": str(2**40)}
        return Reply(200, headers, endless())

    with HostileServer(handler) as srv:
        started = time.monotonic()
        with (
            _client(srv.url) as client,
            pytest.raises(errors.ApiError, match="larger than 256 MiB"),
        ):
            client.list_auth_files()
    assert time.monotonic() - started < 3


def test_an_endless_error_answer_is_cut_and_still_reported() -> None:
    with (
        HostileServer(
            lambda _req: Reply(400, {"Content-Type": "text/plain"}, endless(b"\x1b[31mE" * 8192))
        ) as srv,
        _client(srv.url) as client,
        pytest.raises(errors.ApiError) as caught,
    ):
        client.get_config_yaml()
    message = str(caught.value)
    assert message.startswith("GET /v0/management/config.yaml: 400")
    assert "\x1b" not in message and "\\x1b[31mE" in message
    assert len(message) < 600


def test_a_trickled_body_is_stopped_by_the_total_deadline() -> None:
    body = b'{"files": []}' + b" " * 100

    def handler(_req: Seen) -> Reply:
        return Reply(200, {"Content-Type": "application/json"}, trickle(body, 0.2))

    with HostileServer(handler) as srv:
        started = time.monotonic()
        with (
            _client(srv.url, timeout=1.0) as client,
            pytest.raises(errors.UnreachableError) as caught,
        ):
            client.list_auth_files()
        took = time.monotonic() - started
    assert took < 2.5  # each byte came within the per-read timeout; the total did not
    assert "within the 1 s timeout" in str(caught.value)


@pytest.fixture
def header_trickler() -> Iterator[str]:
    """A raw server that sends its status line and headers one byte every 0.2 s."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 1000:
                    if stop.is_set():
                        return
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        break
                    time.sleep(0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(2)
    listener.close()


def test_trickled_headers_are_stopped_by_the_total_deadline(header_trickler: str) -> None:
    started = time.monotonic()
    with _client(header_trickler, timeout=1.0) as client, pytest.raises(errors.UnreachableError):
        client.list_auth_files()
    assert time.monotonic() - started < 2.5


def _limit_memory() -> None:
    gib = 2**30
    resource.setrlimit(resource.RLIMIT_AS, (gib, gib))


def test_plan_against_an_endless_config_ends_in_bounded_time_and_memory(tmp_path: Path) -> None:
    """The whole command, as a user runs it: exit 1 naming the endpoint and the limit, under a
    1 GiB address-space limit (an unbounded read would die of MemoryError long before the
    hostile server gives up after 60 s)."""
    desired = tmp_path / "desired.yaml"
    desired.write_text("config:\n  debug: false\n")
    with HostileServer(
        lambda _req: Reply(200, {"Content-Type": "application/yaml"}, endless())
    ) as srv:
        env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
        env.update(CPA_URL=srv.url, CPA_MANAGEMENT_KEY=KEY, PYTHONPATH=str(REPO))
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", "plan", str(desired)],
            env=env,
            capture_output=True,
            text=True,
            timeout=50,
            preexec_fn=_limit_memory,
        )
    assert time.monotonic() - started < 40
    assert done.returncode == 1, done.stderr
    assert "GET /v0/management/config.yaml" in done.stderr
    assert f"larger than {LARGE_ANSWER_LIMIT // 2**20} MiB" in done.stderr
    assert "Traceback" not in done.stderr


def test_plan_against_a_trickling_server_honours_timeout(tmp_path: Path) -> None:
    desired = tmp_path / "desired.yaml"
    desired.write_text("config:\n  debug: false\n")

    def handler(_req: Seen) -> Reply:
        return Reply(
            200, {"Content-Type": "application/yaml"}, trickle(b"debug: false\n" * 50, 0.3)
        )

    with HostileServer(handler) as srv:
        env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
        env.update(CPA_URL=srv.url, CPA_MANAGEMENT_KEY=KEY, PYTHONPATH=str(REPO))
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", "plan", str(desired), "--timeout", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=50,
        )
    assert time.monotonic() - started < 8
    assert done.returncode == 1
    assert "within the 2 s timeout" in done.stderr
