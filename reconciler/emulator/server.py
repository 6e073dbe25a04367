"""The HTTP/1.1 wire layer: a threaded stdlib server speaking like Go's ``net/http``.

Owns reading requests (Content-Length or chunked bodies, keep-alive), writing answers with
Go's header order (sorted, then ``Date`` and ``Content-Length``), carrying out injected
faults (delay, drop, canned status, truncation), recording every request, and closing open
connections on shutdown.
"""

from __future__ import annotations

import contextlib
import email.utils
import http
import socket
import ssl
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from reconciler.emulator import control
from reconciler.emulator.access import LOOPBACK_IPS, client_ip, provided_key
from reconciler.emulator.defaults import CORS_HEADERS, MANAGEMENT_PREFIX
from reconciler.emulator.faults import Fault
from reconciler.emulator.gojson import dumpb
from reconciler.emulator.messages import JSON_TYPE, Request, Response
from reconciler.emulator.request_log import RequestRecord
from reconciler.emulator.router import dispatch, is_management
from reconciler.emulator.state import EmulatorState

_NO_BODY_STATUSES = frozenset({204, 304})
_FAULT_BODY = {"error": "injected fault"}
_HANDSHAKE_TIMEOUT = 10.0


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its emulator state and its open connections."""

    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        state: EmulatorState,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.state = state
        self.ssl_context = ssl_context
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """With TLS, the handshake runs here, on the connection's own thread.

        A client that refuses the certificate fails the handshake (an ``ssl.SSLError``, which
        ``handle_error`` ignores): no request is read, so none is recorded.
        """
        if self.ssl_context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(_HANDSHAKE_TIMEOUT)
        tls = self.ssl_context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        with tls:
            tls.do_handshake()
            super().finish_request(tls, client_address)

    def close_connections(self) -> None:
        with self.connections_lock:
            sockets = list(self.connections)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client resets and timeouts are normal; anything else is reported."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Nothing is logged: requests may carry the management key."""

    def _serve(self) -> None:
        started = time.time()
        req = self._parse()
        state = self.server.state
        if req.path.startswith(control.PREFIX) and req.peer in LOOPBACK_IPS:
            self._write(control.handle(state, req), req)
            return
        fault = state.faults.match(req.method, _fault_path(req.path))
        if fault is not None:
            if fault.delay > 0:
                time.sleep(fault.delay)
            if fault.replaces_handler:
                self._apply_fault(fault, req, started)
                return
        response, authenticated = _dispatch_safely(state, req)
        # Recorded before the answer goes out: a client that has its answer finds it logged.
        self._record(req, response.status, authenticated, started)
        self._write(response, req)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def _parse(self) -> Request:
        url = urlsplit(self.path)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), value)
        peer = str(self.client_address[0])
        return Request(
            method=self.command,
            path=unquote(url.path) or "/",
            query=parse_qs(url.query, keep_blank_values=True),
            headers=headers,
            body=self._read_body(),
            peer=peer,
            client_ip=client_ip(headers, peer),
        )

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _apply_fault(self, fault: Fault, req: Request, started: float) -> None:
        state = self.server.state
        key = provided_key(req.headers)
        authenticated = state.access.would_accept(key, state.config.secret_hash)
        if fault.drop:
            self._record(req, 0, authenticated, started)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        response = _fault_response(fault, state, req)
        self._record(req, response.status, authenticated, started)
        self._write(response, req, truncate=fault.truncate)

    def _write(self, response: Response, req: Request, *, truncate: bool = False) -> None:
        status = response.status
        reason = _reason(status)
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{n}: {v}" for n, v in sorted(response.headers, key=lambda h: h[0].lower())]
        lines.append(f"Date: {email.utils.formatdate(usegmt=True)}")
        body = b"" if req.method == "HEAD" else response.body
        if status not in _NO_BODY_STATUSES:
            extra = max(16, len(response.body)) if truncate else 0
            lines.append(f"Content-Length: {len(response.body) + extra}")
        if self.close_connection or truncate:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if truncate:
            body = body[: len(body) // 2]
            self.close_connection = True
        self.wfile.write(head + body)
        self.wfile.flush()

    def _record(self, req: Request, status: int, authenticated: bool, started: float) -> None:
        record = RequestRecord(
            method=req.method,
            path=req.path,
            query={k: list(v) for k, v in req.query.items()},
            status=status,
            client_ip=req.client_ip,
            authenticated=authenticated,
            time=started,
        )
        self.server.state.log.add(record)


def _dispatch_safely(state: EmulatorState, req: Request) -> tuple[Response, bool]:
    """``dispatch``, with a bug in the emulator answered as a 500 instead of a dead socket.

    Only the exception type and place are printed: messages may hold request values.
    """
    try:
        return dispatch(state, req)
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{frame.filename}:{frame.lineno}"
        print(f"cpa emulator: internal error {type(exc).__name__} at {where}", file=sys.stderr)
        response = Response(500, dumpb({"error": "emulator internal error"}))
        response.headers += [*CORS_HEADERS, ("Content-Type", JSON_TYPE)]
        return response, False


def _fault_path(path: str) -> str:
    return path[len(MANAGEMENT_PREFIX) :] if is_management(path) else path


def _fault_response(fault: Fault, state: EmulatorState, req: Request) -> Response:
    body = _FAULT_BODY if fault.body is None else fault.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    payload = body if isinstance(body, bytes) else dumpb(body)
    headers = [*CORS_HEADERS, ("Content-Type", JSON_TYPE)]
    if is_management(req.path):
        headers += state.build.headers()
    return Response(fault.status or 200, payload, headers)


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "status code " + str(status)
