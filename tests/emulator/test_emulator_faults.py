"""Fault injection, the request log, and the HTTP wire behaviour (keep-alive, CORS, HEAD)."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from emulator_support import AUTH, client

from reconciler.emulator import Emulator


def test_status_fault_replaces_handler_and_changes_nothing(emulator: Emulator, mgmt) -> None:
    emulator.inject_fault("PUT", "/debug", status=500)
    answer = mgmt.put("/debug", json={"value": True})
    assert (answer.status_code, answer.json()) == (500, {"error": "injected fault"})
    assert answer.headers["x-cpa-version"] == "v7.2.140"
    assert mgmt.get("/debug").json() == {"debug": False}
    assert mgmt.put("/debug", json={"value": True}).status_code == 200


def test_nth_and_times(emulator: Emulator, mgmt) -> None:
    emulator.inject_fault("GET", "/v0/management/debug", nth=2, times=2, status=503, body="down")
    statuses = [mgmt.get("/debug").status_code for _ in range(5)]
    assert statuses == [200, 503, 503, 200, 200]
    emulator.inject_fault("GET", "/debug", status=502, body={"error": "bad gateway"})
    assert mgmt.get("/debug").json() == {"error": "bad gateway"}
    emulator.inject_fault("GET", "/debug", status=500)
    emulator.clear_faults()
    assert mgmt.get("/debug").status_code == 200


def test_delay_then_real_handler(emulator: Emulator, mgmt) -> None:
    emulator.inject_fault("PUT", "/debug", delay=0.3)
    started = time.monotonic()
    assert mgmt.put("/debug", json={"value": True}).status_code == 200
    assert time.monotonic() - started >= 0.3
    assert mgmt.get("/debug").json() == {"debug": True}


def test_drop_closes_without_answer(emulator: Emulator, mgmt) -> None:
    emulator.inject_fault("GET", "/auth-files", drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        mgmt.get("/auth-files")
    assert mgmt.get("/auth-files").status_code == 200
    dropped = [r for r in emulator.requests() if r.path.endswith("/auth-files")]
    assert [r.status for r in dropped] == [0, 200]


def test_truncated_answer(emulator: Emulator, mgmt) -> None:
    emulator.inject_fault("GET", "/config.yaml", truncate=True, status=200)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        mgmt.get("/config.yaml")
    assert mgmt.get("/config.yaml").status_code == 200


def test_fault_on_public_path(emulator: Emulator) -> None:
    emulator.inject_fault("GET", "/healthz", status=503)
    with client(emulator.url) as http:
        assert http.get("/healthz").status_code == 503
        assert http.get("/healthz").status_code == 200


def test_request_log(emulator: Emulator, mgmt, anon) -> None:
    mgmt.get("/auth-files", params={"name": "x.json"})
    mgmt.put("/debug", json={"value": True})
    anon.get("/debug")
    with client(emulator.url) as http:
        http.get("/healthz")
    records = emulator.requests()
    assert [(r.method, r.path, r.status, r.authenticated) for r in records] == [
        ("GET", "/v0/management/auth-files", 200, True),
        ("PUT", "/v0/management/debug", 200, True),
        ("GET", "/v0/management/debug", 401, False),
        ("GET", "/healthz", 200, False),
    ]
    assert records[0].query == {"name": ["x.json"]}
    assert records[0].client_ip == "127.0.0.1"
    assert records[0].time <= records[-1].time
    assert emulator.request_counts()[("PUT", "/v0/management/debug")] == 1
    assert [r.path for r in emulator.mutating_requests()] == ["/v0/management/debug"]
    emulator.reset_requests()
    assert emulator.requests() == []


def test_keep_alive_two_requests_one_socket(emulator: Emulator) -> None:
    host, port = emulator.url.removeprefix("http://").split(":")
    request = (
        f"GET /v0/management/debug HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {AUTH['Authorization']}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        answers = []
        for _ in range(2):
            sock.sendall(request)
            answers.append(_read_response(sock))
    for head, body in answers:
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"\r\nContent-Length: 15\r\n" in head + b"\r\n"
        assert body == b'{"debug":false}'


def _read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(4096)
    return head, body


def test_cors_preflight_head_and_unknown_routes(emulator: Emulator) -> None:
    with client(emulator.url) as http:
        preflight = http.options("/v0/management/config")
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-methods"].startswith("GET, POST")
        head = http.head("/healthz")
        assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "15")
        banner = http.get("/").json()
        assert banner["message"] == "CLI Proxy API Server" and banner["endpoints"]
        for path in ("/v0/management/no-such-route", "/nope"):
            answer = http.get(path, headers=AUTH)
            assert (answer.status_code, answer.text) == (404, "404 page not found")
            assert answer.headers["content-type"] == "text/plain"
            assert "x-cpa-version" not in answer.headers
        wrong_method = http.post("/v0/management/config", headers=AUTH)
        assert wrong_method.status_code == 404


def test_auth_cost_slows_authenticated_requests(emulator_factory) -> None:
    emu = emulator_factory(auth_cost=0.05)
    with client(emu.management_url, headers=AUTH) as http:
        http.get("/debug")
        started = time.monotonic()
        for _ in range(3):
            http.get("/debug")
        assert time.monotonic() - started >= 0.15


def test_control_api(emulator: Emulator, mgmt) -> None:
    with client(emulator.url) as http:
        fault = {"method": "GET", "path": "/debug", "status": 418}
        assert http.post("/_emulator/faults", json=fault).json() == {"status": "ok"}
        assert mgmt.get("/debug").status_code == 418
        log = http.get("/_emulator/requests").json()
        assert [entry["status"] for entry in log] == [418]
        assert http.delete("/_emulator/requests").status_code == 200
        assert http.get("/_emulator/requests").json() == []
        assert http.post("/_emulator/faults", json={"path": "/x"}).status_code == 400
        assert http.post("/_emulator/unban").status_code == 200
        assert http.post("/_emulator/refresh", params={"name": "none.json"}).status_code == 404
    assert emulator.requests() == []
