"""A fake quota upstream for tests: real HTTP on loopback, every provider recipe's path.

Put it behind CPA (the emulator's ``/api-call`` calls it) with ``--quota-endpoint
PROVIDER=<fake.url>`` for every provider: the recipes keep their paths, so one server answers
them all, by path, with realistic payloads (quota-and-oauth.md section 2; ``expected`` says
what a reader must make of them). What it answers is chosen **per credential**, by the access
token it receives (``Authorization: Bearer <token>``):

``fake.behave(token, mode, only=None)`` with ``mode`` one of ``ok``, ``401``, ``403``,
``kiro-suspended`` (403 with a ``reason``), ``429``, ``500``, ``timeout`` (no answer for
``timeout_seconds``), ``html`` (200 with a web page), ``wrong-shape`` (200, well-formed JSON of
the wrong shape), ``echo`` (401 whose message quotes the Authorization header back), ``404``;
``only`` restricts it to paths containing that text (e.g. ``retrieveUserQuotaSummary``).
``fake.set_payload(token, path_part, payload)`` replaces the payload for that token.

It records every request (method, path, query, headers, body) in ``seen``; a request to a path
no recipe uses (a reset-credit ``consume``, a chat completion, anything else) is answered 404
and recorded in ``unexpected``. ``delay`` (seconds) slows every answer (the benchmark's 50 ms).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

PATHS = {
    "codex": "/backend-api/wham/usage",
    "claude": "/api/oauth/usage",
    "antigravity-summary": "/v1internal:retrieveUserQuotaSummary",
    "antigravity-models": "/v1internal:fetchAvailableModels",
    "gemini-cli": "/v1internal:retrieveUserQuota",
    "kimi": "/coding/v1/usages",
    "xai": "/v1/billing",
    "kiro": "/getUsageLimits",
    "github-copilot": "/copilot_internal/user",
}
MODES = (
    "ok",
    "401",
    "403",
    "404",
    "kiro-suspended",
    "429",
    "500",
    "timeout",
    "html",
    "wrong-shape",
    "echo",
)


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def payloads(now: float) -> dict[str, Any]:
    """One realistic answer per path key, reset times relative to ``now`` (whole seconds)."""
    now = float(int(now))
    return {
        "codex": {
            "plan_type": "plus",
            "rate_limit": {
                "allowed": True,
                "limit_reached": False,
                "primary_window": {
                    "used_percent": 42,
                    "limit_window_seconds": 18000,
                    "reset_after_seconds": 3600,
                    "reset_at": int(now + 3600),
                },
                "secondary_window": {
                    "used_percent": 17,
                    "limit_window_seconds": 604800,
                    "reset_after_seconds": 400000,
                    "reset_at": int(now + 400000),
                },
            },
            "code_review_rate_limit": {
                "allowed": True,
                "limit_reached": False,
                "primary_window": {
                    "used_percent": 0,
                    "limit_window_seconds": 604800,
                    "reset_after_seconds": 604800,
                    "reset_at": int(now + 604800),
                },
                "secondary_window": None,
            },
            "additional_rate_limits": None,
            "credits": {"has_credits": False, "unlimited": False, "balance": "0"},
        },
        "claude": {
            "five_hour": {"utilization": 12.0, "resets_at": iso(now + 7200)},
            "seven_day": {"utilization": 35.0, "resets_at": iso(now + 300000)},
            "seven_day_oauth_apps": None,
            "seven_day_opus": {"utilization": 0.0, "resets_at": None},
            "seven_day_sonnet": {"utilization": 8.0, "resets_at": iso(now + 300000)},
            "extra_usage": {
                "is_enabled": False,
                "monthly_limit": None,
                "used_credits": None,
                "utilization": None,
            },
        },
        "antigravity-summary": {
            "groups": [
                {
                    "displayName": "Gemini Pro",
                    "description": "Gemini 3 Pro models",
                    "buckets": [
                        {
                            "bucketId": "gemini-pro-5h",
                            "displayName": "5-hour",
                            "window": "5h",
                            "resetTime": iso(now + 9000),
                            "remainingFraction": 0.75,
                        },
                        {
                            "bucketId": "gemini-pro-weekly",
                            "displayName": "Weekly",
                            "window": "weekly",
                            "resetTime": iso(now + 500000),
                            "remainingFraction": 0.9,
                        },
                    ],
                },
                {
                    "displayName": "Claude",
                    "buckets": [
                        {"window": "5h", "resetTime": iso(now + 1800), "remainingFraction": "40%"}
                    ],
                },
            ]
        },
        "antigravity-models": {
            "models": {
                "gemini-3-pro-high": {
                    "displayName": "Gemini 3 Pro (High)",
                    "quotaInfo": {"remainingFraction": 0.6, "resetTime": iso(now + 4000)},
                },
                "claude-sonnet-4-5": {
                    "displayName": "Claude Sonnet 4.5",
                    "quotaInfo": {"resetTime": iso(now + 6000)},
                },
                "chat_20706": {"isInternal": True, "quotaInfo": {"remainingFraction": 1}},
            },
            "agentModelSorts": [{"groups": [{"modelIds": ["gemini-3-pro-high"]}]}],
        },
        "gemini-cli": {
            "buckets": [
                {
                    "modelId": "gemini-2.5-pro",
                    "tokenType": "REQUESTS",
                    "remainingFraction": 0.8,
                    "resetTime": iso(now + 50000),
                },
                {
                    "modelId": "gemini-2.5-flash_vertex",
                    "tokenType": "REQUESTS",
                    "remainingFraction": 1,
                    "resetTime": iso(now + 50000),
                },
                {"modelId": "gemini-2.0-flash", "tokenType": "REQUESTS", "remainingFraction": 1},
            ]
        },
        "kimi": {
            "usage": {
                "limit": "100",
                "used": "30",
                "remaining": "70",
                "resetTime": iso(now + 86400),
            },
            "limits": [
                {
                    "window": {"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"},
                    "detail": {"limit": "20", "remaining": "15", "resetTime": iso(now + 1200)},
                }
            ],
        },
        "xai-credits": {
            "config": {
                "currentPeriod": {
                    "type": "WEEKLY",
                    "start": iso(now - 86400),
                    "end": iso(now + 500000),
                },
                "creditUsagePercent": 22.5,
                "productUsage": [{"product": "grok-cli", "usagePercent": 22.5}],
            }
        },
        "xai": {
            "config": {
                "monthlyLimit": {"val": 5000},
                "used": {"val": 1250},
                "onDemandCap": {"val": 0},
                "billingPeriodStart": iso(now - 86400 * 10),
                "billingPeriodEnd": iso(now + 86400 * 20),
            }
        },
        "kiro": {
            "subscriptionInfo": {"subscriptionTitle": "KIRO PRO"},
            "userInfo": {"email": "kiro@example.com"},
            "nextDateReset": int(now + 86400 * 10),
            "usageBreakdownList": [
                {
                    "displayName": "Credit",
                    "displayNamePlural": "Credits",
                    "resourceType": "CREDIT",
                    "currentUsage": 50,
                    "currentUsageWithPrecision": 50.5,
                    "usageLimit": 1000,
                    "usageLimitWithPrecision": 1000.0,
                    "freeTrialInfo": {
                        "freeTrialStatus": "ACTIVE",
                        "currentUsageWithPrecision": 20,
                        "usageLimitWithPrecision": 500,
                        "freeTrialExpiry": int(now + 86400 * 7),
                    },
                }
            ],
        },
        "github-copilot": {
            "access_type_sku": "monthly_subscriber",
            "copilot_plan": "individual",
            "quota_reset_date": "2027-01-01",
            "quota_snapshots": {
                "chat": {
                    "entitlement": 0,
                    "percent_remaining": 100,
                    "remaining": 0,
                    "unlimited": True,
                },
                "completions": {"entitlement": 0, "percent_remaining": 100, "unlimited": True},
                "premium_interactions": {
                    "entitlement": 300,
                    "percent_remaining": 60.0,
                    "remaining": 180,
                    "unlimited": False,
                },
            },
        },
    }


def expected(now: float) -> dict[str, dict[str, tuple[float, float | None]]]:
    """Per provider, ``{window id: (percent used, resets_at)}`` that the default payloads give."""
    n = float(int(now))
    return {
        "codex": {
            "five-hour": (42.0, n + 3600),
            "weekly": (17.0, n + 400000),
            "code-review-weekly": (0.0, n + 604800),
        },
        "claude": {
            "five-hour": (12.0, n + 7200),
            "seven-day": (35.0, n + 300000),
            "seven-day-opus": (0.0, None),
            "seven-day-sonnet": (8.0, n + 300000),
        },
        "antigravity": {
            "gemini-pro/5h": (25.0, n + 9000),
            "gemini-pro/weekly": (10.0, n + 500000),
            "claude/5h": (60.0, n + 1800),
        },
        "antigravity-models": {
            "claude-sonnet-4-5": (100.0, n + 6000),
            "gemini-3-pro-high": (40.0, n + 4000),
        },
        "gemini-cli": {
            "gemini-2-5-pro/requests": (20.0, n + 50000),
            "gemini-2-5-flash/requests": (0.0, n + 50000),
        },
        "kimi": {"weekly": (30.0, n + 86400), "limit-0": (25.0, n + 1200)},
        "xai": {"weekly": (22.5, n + 500000), "monthly": (25.0, n + 86400 * 20)},
        "kiro": {"credit": (5.05, n + 86400 * 10), "credit-free-trial": (4.0, n + 86400 * 7)},
        "github-copilot": {
            "premium-interactions": (40.0, datetime(2027, 1, 1, tzinfo=UTC).timestamp())
        },
    }


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str

    @property
    def token(self) -> str:
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else ""


class FakeProvider:
    """The fake upstream; start with ``with FakeProvider() as fake:``."""

    def __init__(self, *, delay: float = 0.0, timeout_seconds: float = 3.0) -> None:
        self.delay = delay
        self.timeout_seconds = timeout_seconds
        self.now = time.time()
        self.seen: list[Seen] = []
        self.unexpected: list[Seen] = []
        self._modes: dict[str, list[tuple[str, str | None]]] = {}
        self._payloads: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._serve(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 1024
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    # -- configuration -------------------------------------------------------------------------

    def behave(self, token: str, mode: str, only: str | None = None) -> None:
        if mode not in MODES:
            raise ValueError(mode)
        with self._lock:
            self._modes.setdefault(token, []).insert(0, (mode, only))

    def set_payload(self, token: str, key: str, payload: Any) -> None:
        """Answer ``payload`` to ``token`` on the path of ``key`` (a ``PATHS`` key, or
        ``xai-credits``)."""
        with self._lock:
            self._payloads[(token, key)] = payload

    def endpoints(self, *providers: str) -> list[str]:
        """``--quota-endpoint`` flags pointing every (or the named) provider here."""
        names = providers or (
            "codex",
            "claude",
            "antigravity",
            "gemini-cli",
            "kimi",
            "xai",
            "kiro",
            "github-copilot",
        )
        return [arg for name in names for arg in ("--quota-endpoint", f"{name}={self.url}")]

    def requests_for(self, token: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if seen.token == token]

    # -- serving -------------------------------------------------------------------------------

    def _mode(self, token: str, path: str) -> str:
        with self._lock:
            for mode, only in self._modes.get(token, []):
                if only is None or only in path:
                    return mode
        return "ok"

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode("utf-8", "replace") if length else ""
        seen = Seen(
            handler.command,
            parts.path,
            parts.query,
            {k.lower(): v for k, v in handler.headers.items()},
            body,
        )
        key = self._key(parts.path, parts.query)
        with self._lock:
            self.seen.append(seen)
            if key is None:
                self.unexpected.append(seen)
        if self.delay:
            time.sleep(self.delay)
        if key is None:
            self._send(handler, 404, {"error": "not found"})
            return
        mode = self._mode(seen.token, parts.path)
        if mode == "timeout":
            self._stop.wait(self.timeout_seconds)
            self._send(handler, 200, {})
            return
        status, answer = self._answer(mode, key, seen)
        self._send(handler, status, answer)

    @staticmethod
    def _key(path: str, query: str) -> str | None:
        if path.endswith("/consume") or "chat/completions" in path:
            return None
        for key, suffix in PATHS.items():
            if path.endswith(suffix):
                if key == "xai" and "format=credits" in query:
                    return "xai-credits"
                return key
        return None

    def _answer(self, mode: str, key: str, seen: Seen) -> tuple[int, Any]:
        if mode == "ok":
            with self._lock:
                custom = self._payloads.get((seen.token, key), None)
            return 200, custom if custom is not None else payloads(self.now)[key]
        if mode == "401":
            return 401, {
                "error": {
                    "message": "Provided authentication token is expired.",
                    "type": "invalid_request_error",
                }
            }
        if mode == "echo":
            return 401, {
                "error": {"message": f"bad credentials: {seen.headers.get('authorization', '')}"}
            }
        if mode == "403":
            return 403, {"error": {"message": "Forbidden", "status": "PERMISSION_DENIED"}}
        if mode == "404":
            return 404, {"error": {"message": "Not found"}}
        if mode == "kiro-suspended":
            return 403, {"message": "User is suspended", "reason": "TEMPORARILY_SUSPENDED"}
        if mode == "429":
            return 429, {"error": {"message": "Rate limit exceeded", "type": "rate_limit_error"}}
        if mode == "500":
            return 500, {"error": {"message": "Internal server error"}}
        if mode == "html":
            return 200, b"<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>"
        return 200, {"unexpected": [1, 2, 3], "data": {"items": []}}  # wrong-shape

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, answer: Any) -> None:
        if isinstance(answer, bytes):
            raw, kind = answer, "text/html; charset=utf-8"
        else:
            raw, kind = json.dumps(answer).encode(), "application/json"
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", kind)
            handler.send_header("Content-Length", str(len(raw)))
            handler.end_headers()
            handler.wfile.write(raw)
        except OSError:
            pass
