"""The webhook: bodies signed with HMAC-SHA256 (checked by a loopback receiver), rate-limited
per item, and never blocking the caller."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import Receiver

from reconciler import errors
from reconciler.daemon.webhook import RateLimiter, Webhook, read_secret, shown_url, sign, verify

SECRET = b"shared-secret-PLANTED"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


EVENT = {
    "event": "drift.detected",
    "kind": "config",
    "name": "config.yaml",
    "path": "debug",
    "reason": "r",
}


def test_sign_is_hmac_sha256_of_the_body() -> None:
    body = b'{"event":"drift.detected"}'
    expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert sign(body, SECRET) == f"sha256={expected}"
    assert verify(body, SECRET, f"sha256={expected}")
    assert not verify(body + b" ", SECRET, f"sha256={expected}")
    assert not verify(body, b"other", f"sha256={expected}")


def test_the_receiver_verifies_the_signature(receiver: Receiver) -> None:
    results: list[str] = []
    hook = Webhook(receiver.url, SECRET, report=lambda result, _r: results.append(result))
    hook.submit(EVENT)
    headers, body = receiver.got.get(timeout=10)
    hook.close()
    assert headers["content-type"] == "application/json"
    signature = headers["x-signature"]
    assert signature == "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert json.loads(body) == EVENT
    assert results == ["sent"]


def test_unsigned_without_a_secret(receiver: Receiver) -> None:
    hook = Webhook(receiver.url, None)
    hook.submit(EVENT)
    headers, _ = receiver.got.get(timeout=10)
    hook.close()
    assert "x-signature" not in headers


def test_rate_limited_per_item(receiver: Receiver) -> None:
    now = [0.0]
    results: list[str] = []
    hook = Webhook(
        receiver.url,
        SECRET,
        rate_limit=300,
        clock=lambda: now[0],
        report=lambda r, _x: results.append(r),
    )
    hook.submit(EVENT)
    hook.submit(EVENT)  # same item within the window
    hook.submit({**EVENT, "path": "request-retry"})  # another item
    hook.submit({**EVENT, "event": "drift.resolved"})  # its resolution is another item
    now[0] = 301.0
    hook.submit(EVENT)  # the window has passed
    bodies = [json.loads(receiver.got.get(timeout=10)[1]) for _ in range(4)]
    hook.close()
    assert receiver.got.empty()
    assert [(b["event"], b["path"]) for b in bodies] == [
        ("drift.detected", "debug"),
        ("drift.detected", "request-retry"),
        ("drift.resolved", "debug"),
        ("drift.detected", "debug"),
    ]
    assert sorted(results) == ["rate_limited"] + ["sent"] * 4


def test_a_stuck_receiver_never_blocks_submit() -> None:
    release = threading.Event()
    results: list[str] = []
    with Receiver(hold=release) as server:
        hook = Webhook(server.url, SECRET, rate_limit=0, report=lambda r, _x: results.append(r))
        for n in range(300):  # far more than the queue holds, while the receiver hangs
            hook.submit({**EVENT, "path": f"p{n}"})
        assert "dropped" in results
        release.set()
        hook.close()


def test_failures_are_reported_without_the_url(receiver: Receiver) -> None:
    receiver.status = 500
    reasons: list[tuple[str, str]] = []
    hook = Webhook(receiver.url, SECRET, report=lambda r, why: reasons.append((r, why)))
    hook.submit(EVENT)
    receiver.got.get(timeout=10)
    hook.close()
    assert reasons[0][0] == "failed"
    assert "HTTP 500" in reasons[0][1]
    assert "PLANTED" not in reasons[0][1]
    assert "PLANTED" not in shown_url(receiver.url)


def test_rate_limiter_table() -> None:
    now = [0.0]
    limiter = RateLimiter(10, clock=lambda: now[0])
    steps = [
        (0.0, "a", True),
        (5.0, "a", False),
        (5.0, "b", True),
        (9.9, "a", False),
        (10.0, "a", True),
        (15.0, "b", True),
    ]
    for at, key, allowed in steps:
        now[0] = at
        assert limiter.allow(key) is allowed, (at, key)


def test_read_secret(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("s3cret\n")
    assert read_secret(str(path), {}) == b"s3cret"
    assert read_secret(None, {"RECONCILER_WEBHOOK_SECRET": "env"}) == b"env"
    assert read_secret(None, {}) is None
    with pytest.raises(errors.UsageError, match="cannot read"):
        read_secret(str(tmp_path / "missing"), {})
    (tmp_path / "empty").write_text("")
    with pytest.raises(errors.UsageError, match="empty"):
        read_secret(str(tmp_path / "empty"), {})
