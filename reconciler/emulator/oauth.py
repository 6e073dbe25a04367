"""Interactive OAuth logins: sessions keyed by ``state``, their URLs and their completion.

Owns what ``/<provider>-auth-url``, ``/get-auth-status``, ``/oauth-callback`` and
``/oauth-session`` share: the session table (30-minute life), the browser and device flows,
and the auth file a completed login produces (e.g. ``claude-<email>.json``).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from reconciler.emulator.gotime import rfc3339

SESSION_SECONDS = 1800
STATE_PATTERN = re.compile(r"[A-Za-z0-9._~-]{1,256}")

# provider name in the path -> (auth-file type, authorize URL, redirect port, device flow)
PROVIDERS: dict[str, tuple[str, str, int, bool]] = {
    "anthropic": ("claude", "https://claude.ai/oauth/authorize", 54545, False),
    "codex": ("codex", "https://auth.openai.com/oauth/authorize", 1455, False),
    "antigravity": ("antigravity", "https://accounts.google.com/o/oauth2/v2/auth", 51121, False),
    "kimi": ("kimi", "https://www.kimi.com/code/authorize_device", 0, True),
    "xai": ("xai", "https://accounts.x.ai/device", 0, True),
}


@dataclass
class Session:
    """One login in progress or finished."""

    provider: str
    auth_type: str
    created: float
    status: str = "wait"
    error: str = ""
    file_name: str = ""


class OAuthSessions:
    """The session table."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def start(self, provider: str) -> dict[str, Any]:
        """Begin a login; returns the response body of ``/<provider>-auth-url``."""
        auth_type, base, port, device = PROVIDERS[provider]
        state = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[state] = Session(provider, auth_type, time.monotonic())
        if device:
            user_code = "-".join(secrets.token_hex(2).upper() for _ in range(2))
            url = f"{base}?{urlencode({'user_code': user_code})}"
            return {
                "status": "ok",
                "url": url,
                "state": state,
                "flow": "device",
                "user_code": user_code,
                "expires_in": 600,
                "verification_uri": base,
            }
        redirect = f"http://localhost:{port}/callback"
        query = {"response_type": "code", "redirect_uri": redirect, "state": state}
        return {"status": "ok", "url": f"{base}?{urlencode(query)}", "state": state}

    def get(self, state: str) -> Session | None:
        with self._lock:
            session = self._sessions.get(state)
            if session and time.monotonic() - session.created > SESSION_SECONDS:
                del self._sessions[state]
                return None
            return session

    def cancel(self, state: str) -> bool:
        with self._lock:
            session = self._sessions.pop(state, None)
        return session is not None and session.status == "wait"

    def finish(self, session: Session, *, error: str = "", file_name: str = "") -> None:
        with self._lock:
            session.status = "error" if error else "ok"
            session.error = error
            session.file_name = file_name


def login_file(session: Session, email: str) -> tuple[str, dict[str, Any]]:
    """The file name and content a completed login writes."""
    now = time.time()
    data: dict[str, Any] = {
        "type": session.auth_type,
        "email": email,
        "access_token": secrets.token_urlsafe(32),
        "refresh_token": secrets.token_urlsafe(32),
        "expired": rfc3339(now + 3600),
        "last_refresh": rfc3339(now),
    }
    if session.auth_type == "kimi":
        return f"kimi-{int(now * 1000)}.json", data
    return f"{session.auth_type}-{email}.json", data
