"""The optional webhook: drift and failure events POSTed as JSON, signed, rate-limited.

Each forwarded event is sent as its JSON object with ``Content-Type: application/json`` and,
when a shared secret is set, ``X-Signature: sha256=<hex HMAC-SHA256 of the body>`` (Flux's
``generic-hmac`` convention). The same item (event, kind, name, path, reason) is sent at most
once per rate-limit window (Flux: 5 minutes). Sending happens on a background thread behind a
small queue, so a slow or dead receiver never holds up a reconcile cycle: when the queue is
full the event is dropped and counted. The URL may itself be a secret (Slack-style tokens in
the path), so only its scheme and host are ever shown.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from reconciler import __version__, errors
from reconciler.local_files import SECRET_LIMIT, read_text_bounded

SECRET_ENV = "RECONCILER_WEBHOOK_SECRET"
URL_ENV = "RECONCILER_WEBHOOK_URL"
RATE_LIMIT = 300.0
QUEUE_SIZE = 100
TIMEOUT = 5.0

Report = Callable[[str, str], None]  # (result, reason): sent | failed | dropped | rate_limited


def sign(body: bytes, secret: bytes) -> str:
    """The ``X-Signature`` value: ``sha256=<hex HMAC-SHA256 of body>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: bytes, signature: str) -> bool:
    """Whether ``signature`` is ``sign(body, secret)`` (constant-time): for receivers."""
    return hmac.compare_digest(sign(body, secret), signature)


def encode(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def item_key(event: Mapping[str, Any]) -> str:
    """What the rate limit counts as "the same item"."""
    parts = [event.get(k) for k in ("event", "kind", "name", "path", "stage", "reason")]
    return json.dumps(parts, default=str)


def shown_url(url: str) -> str:
    """Scheme and host only: webhook URLs often carry a token in the path or query."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(a URL that cannot be parsed)"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}/…"


def command_line_warning(url: str) -> str | None:
    """The warning for a ``--webhook-url`` given on the command line that holds more than a
    scheme and host: its path, query or ``user:password@`` (where Slack-style URLs keep their
    token) is visible to every user in the process list and kept in shell history."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None  # check_url refuses it
    if (
        parts.path in ("", "/")
        and not parts.query
        and not parts.fragment
        and "@" not in parts.netloc
    ):
        return None
    return (
        "warning: --webhook-url puts the URL, with any token its path or query holds, in the "
        f"process list and shell history; set {URL_ENV} instead"
    )


def read_secret(secret_file: str | None, environ: Mapping[str, str]) -> bytes | None:
    """The shared secret: ``--webhook-secret-file`` (one trailing newline stripped), else the
    ``RECONCILER_WEBHOOK_SECRET`` environment variable, else None (unsigned)."""
    if secret_file:
        try:
            text = read_text_bounded(secret_file, SECRET_LIMIT)
        except UnicodeDecodeError as exc:
            raise errors.UsageError(
                f"--webhook-secret-file {secret_file}: the file is not UTF-8 text"
            ) from exc
        except OSError as exc:
            raise errors.UsageError(
                f"--webhook-secret-file {secret_file}: cannot read it "
                f"({exc.strerror or type(exc).__name__})"
            ) from exc
        secret = text.removesuffix("\n").removesuffix("\r")
        if not secret:
            raise errors.UsageError(f"--webhook-secret-file {secret_file}: the file is empty")
        return secret.encode()
    value = environ.get(SECRET_ENV)
    return value.encode() if value else None


def check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number 0-65535)
    except ValueError as exc:
        raise errors.UsageError(
            f"--webhook-url {shown_url(url)}: cannot be parsed ({exc})"
        ) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.UsageError(f"--webhook-url {shown_url(url)}: not an http:// or https:// URL")


class RateLimiter:
    """At most one send per item key per ``window`` seconds."""

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.window:
                return False
            self._last[key] = now
            if len(self._last) > 10_000:  # forget the oldest: memory stays bounded
                for old in sorted(self._last, key=self._last.__getitem__)[:5_000]:
                    del self._last[old]
            return True


class Webhook:
    """Signs and POSTs events from a background thread. ``submit`` never blocks."""

    def __init__(
        self,
        url: str,
        secret: bytes | None,
        *,
        rate_limit: float = RATE_LIMIT,
        timeout: float = TIMEOUT,
        report: Report = lambda _result, _reason: None,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        check_url(url)
        self.url = url
        self._secret = secret
        self._limiter = RateLimiter(rate_limit, clock)
        self._report = report
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUE_SIZE)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": f"cpa-reconciler/{__version__}"},
        )
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self._thread.start()

    def submit(self, event: Mapping[str, Any]) -> None:
        """Queue ``event`` for sending, unless its item was sent within the window."""
        if not self._limiter.allow(item_key(event)):
            self._report("rate_limited", str(event.get("event")))
            return
        try:
            self._queue.put_nowait(encode(event))
        except queue.Full:
            self._report("dropped", "queue full")

    def headers(self, body: bytes) -> dict[str, str]:
        out = {"Content-Type": "application/json"}
        if self._secret is not None:
            out["X-Signature"] = sign(body, self._secret)
        return out

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued, waiting at most ``timeout`` seconds, then stop."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if not self._thread.is_alive():
            self._http.close()

    def _run(self) -> None:
        while True:
            body = self._queue.get()
            if body is None:
                return
            self._send(body)

    def _send(self, body: bytes) -> None:
        try:
            # Streamed and closed unread: a receiver's answer body is never needed, and an
            # endless one must not fill the daemon's memory.
            with self._http.stream(
                "POST", self.url, content=body, headers=self.headers(body)
            ) as response:
                pass
        except httpx.HTTPError as exc:
            self._report("failed", f"{shown_url(self.url)}: {type(exc).__name__}")
            return
        if 200 <= response.status_code < 300:
            self._report("sent", "")
        elif 300 <= response.status_code < 400:
            location = response.headers.get("location", "").strip()
            where = shown_url(urljoin(self.url, location)) if location else "(no Location)"
            self._report(
                "failed",
                f"{shown_url(self.url)}: HTTP {response.status_code} {response.reason_phrase}: a "
                f"redirect to {where}, not followed (the event was not delivered); set the "
                "webhook URL to where it points",
            )
        else:
            self._report("failed", f"{shown_url(self.url)}: HTTP {response.status_code}")
