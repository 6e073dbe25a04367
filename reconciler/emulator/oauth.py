"""Interactive OAuth logins: sessions keyed by ``state``, their URLs and their completion.

Owns what ``/<provider>-auth-url``, ``/get-auth-status``, ``/oauth-callback`` and
``/oauth-session`` share, the way CPA v7.2.140 keeps it (``oauth_sessions.go``): the session
table (30-minute life, a finished session kept one more minute), the redirect flows (the
callback is handed in, then *taken* by the login's own poller about 0.5 s later: until then a
second callback is accepted again), the 5-minute wait for a callback, the device flows (xai,
kimi: approved through the emulator's control API, standing in for the person typing the
code), and the auth file a completed login writes under CPA's naming rules
(``codex-<email>-<plan>.json``, ``claude-<email>.json``, ``kimi-<unix ms>.json``...; a
re-login of the same account rewrites the same file).

``OAuthSettings`` holds what tests change: the durations, the account the provider "returns",
and ``offline`` (the server has no internet, as where the real answers were recorded: the
device flows cannot start, a code exchange fails).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from reconciler.emulator.gotime import rfc3339

# ValidateOAuthState: at most 128 characters of [A-Za-z0-9._-], no "..".
STATE_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,128}")


@dataclass(frozen=True)
class Provider:
    """One login provider as ``/<name>-auth-url`` serves it."""

    name: str
    auth_type: str
    authorize: str
    redirect: str = ""  # the redirect_uri of a browser flow
    token_url: str = ""  # where the code is exchanged (named in the offline error)
    device: bool = False
    state_prefix: str = ""  # device flows: state is <prefix>-<unix ns>
    offline_error: str = ""  # device flows: the 500 answer when the server is offline
    timeout_error: str = "Timeout waiting for OAuth callback"


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "anthropic",
            "claude",
            "https://claude.ai/oauth/authorize",
            redirect="http://localhost:54545/callback",
            token_url="https://console.anthropic.com/v1/oauth/token",
        ),
        Provider(
            "codex",
            "codex",
            "https://auth.openai.com/oauth/authorize",
            redirect="http://localhost:1455/auth/callback",
            token_url="https://auth.openai.com/oauth/token",
        ),
        Provider(
            "antigravity",
            "antigravity",
            "https://accounts.google.com/o/oauth2/v2/auth",
            redirect="http://localhost:51121/oauth-callback",
            token_url="https://oauth2.googleapis.com/token",
            timeout_error="OAuth flow timed out",
        ),
        Provider(
            "xai",
            "xai",
            "https://accounts.x.ai/device",
            device=True,
            state_prefix="xai",
            offline_error="failed to start device authorization flow",
        ),
        Provider(
            "kimi",
            "kimi",
            "https://www.kimi.com/code/authorize_device",
            device=True,
            state_prefix="kmi",
            offline_error="failed to generate authorization url",
        ),
    )
}

#: NormalizeOAuthProvider: the names ``/oauth-callback`` accepts for each provider.
ALIASES = {
    "anthropic": "anthropic",
    "claude": "anthropic",
    "codex": "codex",
    "openai": "codex",
    "antigravity": "antigravity",
    "anti-gravity": "antigravity",
    "xai": "xai",
    "x-ai": "xai",
    "x.ai": "xai",
    "grok": "xai",
    "kimi": "kimi",
}


@dataclass
class OAuthSettings:
    """What tests may change (``Emulator.set_oauth`` / ``POST /_emulator/oauth``)."""

    session_ttl: float = 1800.0  # a session is forgotten this long after it started
    finished_ttl: float = 60.0  # a finished session is kept this long
    callback_timeout: float = 300.0  # a browser flow waits this long for its callback
    take_delay: float = 0.5  # the login's poller takes a callback this long after it came
    device_expires_in: int = 600
    offline: bool = False
    email: str = "user@example.com"
    plan: str = "plus"
    account_id: str = "acct-0001"


@dataclass
class Session:
    """One login in progress or finished."""

    state: str
    provider: Provider
    created: float
    status: str = "wait"  # wait, ok, error
    error: str = ""
    file_name: str = ""
    finished: float = 0.0
    callback: dict[str, str] | None = None  # handed in, not yet taken
    callback_at: float = 0.0
    user_code: str = ""
    expires_at: float = 0.0


@dataclass
class OAuthSessions:
    """The session table."""

    settings: OAuthSettings = field(default_factory=OAuthSettings)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sessions: dict[str, Session] = field(default_factory=dict)

    def start(self, provider: str) -> tuple[int, dict[str, Any]]:
        """Begin a login: the status and body of ``/<provider>-auth-url``."""
        spec = PROVIDERS[provider]
        now = time.monotonic()
        if spec.device:
            if self.settings.offline:
                return 500, {"error": spec.offline_error}
            state = f"{spec.state_prefix}-{time.time_ns()}"
            code = "-".join(secrets.token_hex(2).upper() for _ in range(2))
            expires = self.settings.device_expires_in
            session = Session(state, spec, now, user_code=code, expires_at=now + expires)
            body: dict[str, Any] = {
                "expires_in": expires,
                "flow": "device",
                "state": state,
                "status": "ok",
                "url": f"{spec.authorize}?{urlencode({'user_code': code})}",
                "user_code": code,
            }
        else:
            state = secrets.token_hex(16)
            session = Session(state, spec, now)
            query = urlencode(
                {
                    "client_id": "app_emulator",
                    "code_challenge": secrets.token_urlsafe(32),
                    "code_challenge_method": "S256",
                    "redirect_uri": spec.redirect,
                    "response_type": "code",
                    "scope": "openid email profile offline_access",
                    "state": state,
                }
            )
            body = {"state": state, "status": "ok", "url": f"{spec.authorize}?{query}"}
        with self._lock:
            self._sessions[state] = session
        return 200, body

    def get(self, state: str) -> Session | None:
        """The live session of ``state``; None when unknown or expired."""
        with self._lock:
            session = self._sessions.get(state)
            if session is None:
                return None
            now = time.monotonic()
            if now - session.created > self.settings.session_ttl or (
                session.status != "wait" and now - session.finished > self.settings.finished_ttl
            ):
                del self._sessions[state]
                return None
            return session

    def by_user_code(self, user_code: str) -> Session | None:
        with self._lock:
            states = [s.state for s in self._sessions.values() if s.user_code == user_code]
        return self.get(states[0]) if states else None

    def sessions(self) -> list[Session]:
        with self._lock:
            states = list(self._sessions)
        return [s for s in (self.get(state) for state in states) if s is not None]

    def cancel(self, state: str) -> bool:
        """``DELETE /oauth-session``: True when a pending session was removed."""
        session = self.get(state)
        if session is None:
            return False
        with self._lock:
            self._sessions.pop(state, None)
        return session.status == "wait"

    def hand_in(self, session: Session, params: dict[str, str]) -> None:
        """A callback arrived (``/oauth-callback``); the poller takes it later."""
        with self._lock:
            session.callback = {k: params.get(k, "") for k in ("code", "error")}
            session.callback_at = time.monotonic()

    def finish(self, session: Session, *, error: str = "", file_name: str = "") -> None:
        with self._lock:
            session.status = "error" if error else "ok"
            session.error = error
            session.file_name = file_name
            session.finished = time.monotonic()
            session.callback = None

    def due(self, session: Session) -> str:
        """What the session's poller would do now: ``take`` a handed-in callback, ``timeout``,
        ``expired`` (device code), or ``""`` (nothing yet)."""
        if session.status != "wait":
            return ""
        now = time.monotonic()
        if session.callback is not None:
            return "take" if now - session.callback_at >= self.settings.take_delay else ""
        if session.provider.device:
            return "expired" if now >= session.expires_at else ""
        return "timeout" if now - session.created >= self.settings.callback_timeout else ""


def offline_exchange_error(provider: Provider) -> str:
    """The error a code exchange gives on a server without internet (recorded for codex)."""
    host = provider.token_url.split("/")[2]
    return (
        "Failed to exchange authorization code for tokens: token exchange request failed: "
        f'Post "{provider.token_url}": dial tcp: lookup {host} on 127.0.0.53:53: no such host'
    )


def normalize_plan(plan: str) -> str:
    """``normalizePlanTypeForFilename``: lower-case letters and digits joined by ``-``."""
    return "-".join(p.lower() for p in re.split(r"[^0-9A-Za-z]+", plan.strip()) if p)


def credential_file_name(provider: Provider, email: str, plan: str, account_id: str) -> str:
    """The file a completed login writes (``quota-and-oauth.md`` 4.5)."""
    email = email.strip()
    if provider.auth_type == "codex":
        plan = normalize_plan(plan)
        if not plan:
            return f"codex-{email}.json"
        if plan == "team":
            digest = hashlib.sha256(account_id.strip().encode()).hexdigest()[:8]
            return f"codex-{digest}-{email}-team.json"
        return f"codex-{email}-{plan}.json"
    if provider.auth_type == "kimi":
        return f"kimi-{time.time_ns() // 1_000_000}.json"
    return f"{provider.auth_type}-{email}.json"


def _jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.sig"


def login_file(
    provider: Provider, email: str, plan: str, account_id: str
) -> tuple[str, dict[str, Any]]:
    """The file name and content a completed login writes (fresh tokens each time)."""
    now = time.time()
    data: dict[str, Any] = {
        "type": provider.auth_type,
        "email": email,
        "access_token": secrets.token_urlsafe(32),
        "refresh_token": secrets.token_urlsafe(32),
        "expired": rfc3339(now + 3600),
        "last_refresh": rfc3339(now),
    }
    if provider.auth_type == "codex":
        data["account_id"] = account_id
        auth = {"chatgpt_account_id": account_id, "chatgpt_plan_type": plan}
        data["id_token"] = _jwt({"email": email, "https://api.openai.com/auth": auth})
    return credential_file_name(provider, email, plan, account_id), data
