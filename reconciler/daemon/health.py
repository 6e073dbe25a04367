"""The daemon's small HTTP server: ``/healthz``, ``/readyz`` and ``/metrics``.

stdlib ``http.server`` on a daemon thread. ``/healthz`` answers 200 while the process serves
(liveness). ``/readyz`` answers 200 or 503 with a JSON body saying why, from a callback (the
daemon: the last cycle succeeded and is recent). ``/metrics`` is the Prometheus text format. No
request changes anything and none carries a secret; only GET and HEAD are served.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from reconciler import errors

Readiness = Callable[[], tuple[bool, dict[str, Any]]]


@dataclass(frozen=True)
class Endpoints:
    readiness: Readiness
    metrics: Callable[[], bytes]
    metrics_content_type: str


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6); port 0 picks a free one."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise errors.UsageError(f"--listen {value!r}: expected HOST:PORT, e.g. 127.0.0.1:9464")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    endpoints: Endpoints


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "cpa-reconciler"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        path = self.path.split("?", 1)[0]
        endpoints = self.server.endpoints
        if path == "/healthz":
            self._send(200, b"ok\n", "text/plain; charset=utf-8", body)
        elif path == "/readyz":
            ready, detail = endpoints.readiness()
            text = json.dumps({"ready": ready, **detail}, default=str).encode() + b"\n"
            self._send(200 if ready else 503, text, "application/json", body)
        elif path == "/metrics":
            self._send(200, endpoints.metrics(), endpoints.metrics_content_type, body)
        else:
            self._send(404, b"not found: try /healthz, /readyz or /metrics\n", "text/plain", body)

    def _send(self, status: int, data: bytes, content_type: str, body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: probes every few seconds would drown the event stream."""


class HealthServer:
    """Serves the endpoints on ``host:port`` from a daemon thread until ``stop()``."""

    def __init__(self, host: str, port: int, endpoints: Endpoints) -> None:
        server_class = _Server6 if ":" in host else _Server
        try:
            self._server = server_class((host, port), _Handler)
        except OSError as exc:
            raise errors.UsageError(
                f"--listen {host}:{port}: cannot listen ({exc.strerror})"
            ) from exc
        self._server.endpoints = endpoints
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="health-server",
            daemon=True,
        )

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (if it started) and release the port."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=2)
        self._server.server_close()
