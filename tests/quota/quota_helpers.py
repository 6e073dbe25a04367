"""Helpers of the quota suite: credential files of every provider, and the key."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

KEY = "test-mgmt-key"
EXE = str(Path(sys.executable).with_name("reconciler"))


def jwt(claims: dict[str, Any]) -> str:
    def seg(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{seg({'alg': 'none', 'typ': 'JWT'})}.{seg(claims)}.c2lnbmF0dXJl"


def _user(token: str) -> str:
    """The account of a token's credential: never containing the token itself."""
    return "user-" + token.removeprefix("tok-")


def codex_file(token: str, account_id: str = "acct-1111", plan: str = "plus") -> dict[str, Any]:
    claims = {
        "email": f"{_user(token)}@example.com",
        "https://api.openai.com/auth": {
            "chatgpt_account_id": account_id,
            "chatgpt_plan_type": plan,
        },
    }
    return {
        "type": "codex",
        "email": f"{_user(token)}@example.com",
        "access_token": token,
        "refresh_token": f"refresh-{token}",
        "id_token": jwt(claims),
        "expired": "2030-01-01T00:00:00Z",
    }


def simple_file(provider: str, token: str, **extra: Any) -> dict[str, Any]:
    data = {
        "type": provider,
        "email": f"{_user(token)}@example.com",
        "access_token": token,
        "refresh_token": f"refresh-{token}",
        "expired": "2030-01-01T00:00:00Z",
    }
    data.update(extra)
    return data


Status = Callable[..., subprocess.CompletedProcess[str]]
