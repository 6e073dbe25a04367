"""Fixtures of the quota suite: the fake provider, credentials of every provider on an emulator,
and running ``reconciler status`` as a user does (the console script, over real HTTP)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_provider import FakeProvider

from reconciler.emulator import Emulator

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


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(timeout_seconds=3.0) as server:
        yield server


@pytest.fixture
def quota_emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    """An emulator whose api-call gives up on the upstream after 1 s (CPA: 60 s)."""
    return emulator_factory(upstream_timeout=1.0)


Status = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def status() -> Status:
    """``status(*args, env=None)``: run ``reconciler status ARGS`` with the test key."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, "CPA_MANAGEMENT_KEY": KEY, "NO_COLOR": "1", **(env or {})}
        return subprocess.run(
            [EXE, "status", *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=90,
        )

    return run
