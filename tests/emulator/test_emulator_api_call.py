"""``POST /api-call`` answers every recorded case as the real v7.2.140 does.

One test per row of observed-v7.2.140.md, section "api-call and OAuth answers": ``UP`` is a real
HTTP server on loopback answering ``200 {"ok":1}`` and recording the headers it got; ``IDX`` is
the auth_index of a codex file whose access_token is ``at-1``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from reconciler.emulator import Emulator


class Upstream:
    """A loopback upstream that answers ``{"ok":1}`` and keeps each request's headers."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.seen.append((self.command, self.path, dict(self.headers.items())))
                body = b'{"ok":1}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def up() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def idx(emulator: Emulator, mgmt: httpx.Client) -> str:
    emulator.write_auth_file("codex-a.json", {"type": "codex", "access_token": "at-1"})
    files = mgmt.get("/auth-files").json()["files"]
    return str(next(f["auth_index"] for f in files if f["name"] == "codex-a.json"))


def call(mgmt: httpx.Client, body: Any) -> httpx.Response:
    if isinstance(body, str):
        return mgmt.post("/api-call", content=body, headers={"Content-Type": "application/json"})
    return mgmt.post("/api-call", json=body)


def test_token_substituted_method_lower_case(mgmt: httpx.Client, up: Upstream, idx: str) -> None:
    answer = call(
        mgmt,
        {
            "auth_index": idx,
            "method": "get",
            "url": up.url + "/x",
            "header": {"Authorization": "Bearer $TOKEN$"},
        },
    )
    assert answer.status_code == 200
    data = answer.json()
    assert sorted(data) == ["body", "header", "status_code"]
    assert (data["status_code"], data["body"]) == (200, '{"ok":1}')
    assert data["header"]["Content-Length"] == ["8"]
    assert data["header"]["Content-Type"] == ["application/json"]
    assert up.seen[-1][0] == "GET" and up.seen[-1][2]["Authorization"] == "Bearer at-1"


def test_camel_case_auth_index(mgmt: httpx.Client, up: Upstream, idx: str) -> None:
    answer = call(
        mgmt,
        {
            "authIndex": idx,
            "method": "GET",
            "url": up.url,
            "header": {"Authorization": "Bearer $TOKEN$"},
        },
    )
    assert answer.status_code == 200
    assert up.seen[-1][2]["Authorization"] == "Bearer at-1"


def test_unknown_auth_index_sends_the_literal_token(
    mgmt: httpx.Client, up: Upstream, idx: str
) -> None:
    answer = call(
        mgmt,
        {
            "auth_index": "ffffffffffffffff",
            "method": "GET",
            "url": up.url,
            "header": {"Authorization": "Bearer $TOKEN$"},
        },
    )
    assert (answer.status_code, answer.json()["status_code"]) == (200, 200)
    assert up.seen[-1][2]["Authorization"] == "Bearer $TOKEN$"


def test_token_in_the_url_is_not_substituted(mgmt: httpx.Client, up: Upstream, idx: str) -> None:
    answer = call(mgmt, {"auth_index": idx, "method": "GET", "url": up.url + "/q?t=$TOKEN$"})
    assert answer.status_code == 200
    assert up.seen[-1][1] == "/q?t=$TOKEN$"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"url": "UP"}, "missing method"),
        ({"method": "GET"}, "missing url"),
        ({"method": "GET", "url": "not a url"}, "invalid url"),
        ({"method": "GET", "url": "UP", "header": {"X": 1}}, "invalid body"),
        ({"method": "GET", "url": "UP", "proxy_url": "ftp://x"}, "invalid proxy_url"),
        ("{nope", "invalid body"),
    ],
)
def test_validation(mgmt: httpx.Client, up: Upstream, body: Any, message: str) -> None:
    if isinstance(body, dict):
        body = {k: (up.url if v == "UP" else v) for k, v in body.items()}
    answer = call(mgmt, body)
    assert (answer.status_code, answer.json()) == (400, {"error": message})
    assert up.seen == [], "nothing is sent upstream"


def test_nothing_listening_is_502_request_failed(mgmt: httpx.Client) -> None:
    answer = call(mgmt, {"method": "GET", "url": "http://127.0.0.1:9/x"})
    assert (answer.status_code, answer.json()) == (502, {"error": "request failed"})


def test_no_internet_is_502_request_failed(mgmt: httpx.Client) -> None:
    answer = call(mgmt, {"method": "GET", "url": "https://chatgpt.com/backend-api/wham/usage"})
    assert (answer.status_code, answer.json()) == (502, {"error": "request failed"})


def test_an_expired_antigravity_token_is_refreshed_and_the_file_rewritten(
    emulator: Emulator, mgmt: httpx.Client, up: Upstream
) -> None:
    emulator.write_auth_file(
        "antigravity-a.json",
        {
            "type": "antigravity",
            "access_token": "old",
            "refresh_token": "rt-old",
            "expired": "2020-01-01T00:00:00Z",
        },
    )
    files = mgmt.get("/auth-files").json()["files"]
    index = next(f["auth_index"] for f in files if f["name"] == "antigravity-a.json")
    call(
        mgmt,
        {
            "auth_index": index,
            "method": "GET",
            "url": up.url,
            "header": {"Authorization": "Bearer $TOKEN$"},
        },
    )
    stored = json.loads((emulator.auth_dir / "antigravity-a.json").read_text())
    assert stored["access_token"] != "old" and stored["refresh_token"] != "rt-old"
    assert up.seen[-1][2]["Authorization"] == f"Bearer {stored['access_token']}"


def test_a_credential_without_a_token(emulator: Emulator, mgmt: httpx.Client, up: Upstream) -> None:
    emulator.write_auth_file("claude-n.json", {"type": "claude", "email": "n@x.io"})
    files = mgmt.get("/auth-files").json()["files"]
    index = next(f["auth_index"] for f in files if f["name"] == "claude-n.json")
    answer = call(
        mgmt, {"auth_index": index, "method": "GET", "url": up.url, "header": {"A": "$TOKEN$"}}
    )
    assert (answer.status_code, answer.json()) == (400, {"error": "auth token not found"})
