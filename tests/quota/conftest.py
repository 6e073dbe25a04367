"""Fixtures of the quota suite: the fake provider, an emulator whose api-call gives up early, and
running ``reconciler status`` as a user does (the console script, over real HTTP)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator

import pytest
from fake_provider import FakeProvider
from quota_helpers import EXE, KEY, Status

from reconciler.emulator import Emulator


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(timeout_seconds=3.0) as server:
        yield server


@pytest.fixture
def quota_emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    """An emulator whose api-call gives up on the upstream after 1 s (CPA: 60 s)."""
    return emulator_factory(upstream_timeout=1.0)


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
