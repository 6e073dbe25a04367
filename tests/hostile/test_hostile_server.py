"""The hostile fake server itself answers as told (so a test that uses it tests the reconciler)."""

from __future__ import annotations

import httpx
from hostile_server import HostileServer, Reply, Seen, trickle


def test_answers_the_handler_and_records_requests() -> None:
    def handler(req: Seen) -> Reply | None:
        return Reply.json({"path": req.path}) if req.method == "GET" else None

    with HostileServer(handler) as srv:
        assert httpx.get(srv.url + "/a?b=1", trust_env=False).json() == {"path": "/a?b=1"}
        assert httpx.post(srv.url + "/x", content=b"hi", trust_env=False).status_code == 404
    assert [(r.method, r.body) for r in srv.requests] == [("GET", b""), ("POST", b"hi")]


def test_streams_chunks() -> None:
    with HostileServer(lambda _: Reply(200, {}, trickle(b"abc", 0.01))) as srv:
        assert httpx.get(srv.url, trust_env=False).content == b"abc"
