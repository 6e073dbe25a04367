"""A hostile fake CPA server: real HTTP on 127.0.0.1, answering whatever a test tells it to.

The emulator behaves like a real CPA; this server does not. Tests of issue "Hostile names,
tampered backups and hostile servers" use it to send what a compromised or broken server could:
names that are paths, endless or trickling bodies, redirects, error texts with escape sequences.

    def handler(req: Seen) -> Reply | None:
        if req.path.endswith("/auth-files"):
            return Reply.json({"files": [{"name": "../../evil.json"}]})
        return None  # 404

    with HostileServer(handler) as srv:
        srv.url            # "http://127.0.0.1:<port>"
        srv.requests       # every request received, in order (method, path, headers, body)

A ``Reply`` is a status, headers and a body; the body may be ``bytes`` or an iterator of
``(bytes, delay_seconds)`` chunks, sent as they come (a trickle, or an endless stream that stops
when the client hangs up or the server is stopped). The server stops by itself after
``max_seconds`` (default 60) so that no test can leave it running.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Chunks = Iterable[tuple[bytes, float]]


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Chunks = b""

    @classmethod
    def json(cls, data: Any, status: int = 200, **headers: str) -> Reply:
        return cls(
            status, {"Content-Type": "application/json", **headers}, json.dumps(data).encode()
        )

    @classmethod
    def text(cls, text: str, status: int = 200, **headers: str) -> Reply:
        return cls(status, {"Content-Type": "text/plain; charset=utf-8", **headers}, text.encode())


Handler = Callable[[Seen], "Reply | None"]


def endless(chunk: bytes = b"x" * 65536, delay: float = 0.0) -> Iterator[tuple[bytes, float]]:
    """An endless body: ``chunk`` again and again (the server stops it when the client leaves)."""
    while True:
        yield chunk, delay


def trickle(data: bytes, delay: float = 1.0) -> Iterator[tuple[bytes, float]]:
    """``data`` one byte at a time, ``delay`` seconds apart."""
    for i in range(len(data)):
        yield data[i : i + 1], delay


class HostileServer:
    def __init__(self, handler: Handler, *, max_seconds: float = 60.0) -> None:
        self.handler = handler
        self.requests: list[Seen] = []
        self._deadline = time.monotonic() + max_seconds
        self._stopping = threading.Event()
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, dict(self.headers.items()), body)
                outer.requests.append(seen)
                reply = outer.handler(seen) or Reply.json({"error": "not found"}, 404)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if isinstance(reply.body, bytes):
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    for chunk, delay in reply.body:
                        if outer._stopping.is_set() or time.monotonic() > outer._deadline:
                            return
                        if delay:
                            time.sleep(delay)
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
