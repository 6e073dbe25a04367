"""Fixtures for the fault tests: a clean environment and a fresh ``World`` per test.

``world`` is an emulator with four credentials plus a desired state whose apply takes every
step (see ``fault_world``); ``UPLOAD_BATCH`` is 2 so its three creates go out in two batches,
and the client's retry delays are cut short (both are constants; in-process runs only).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_world import KEY, World

from reconciler.client import transport as client_transport
from reconciler.emulator import Emulator
from reconciler.emulator.defaults import MINIMAL_CONFIG
from reconciler.emulator.keys import hash_key
from reconciler.pipeline import apply


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CPA_URL", raising=False)
    monkeypatch.setenv("CPA_MANAGEMENT_KEY", KEY)
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(apply, "UPLOAD_BATCH", 2)
    return 2


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client still retries a failed GET twice, without waiting 0.2 s and 0.5 s first."""
    monkeypatch.setattr(client_transport, "RETRY_DELAYS", (0.01, 0.01))


@pytest.fixture(scope="session")
def key_hash() -> str:
    """The management key's bcrypt hash, made once: each emulator would spend ~0.1 s on it."""
    return hash_key(KEY)


@pytest.fixture
def world(
    tmp_path: Path, small_batches: int, quick_retries: None, key_hash: str
) -> Iterator[World]:
    config = MINIMAL_CONFIG.format(
        host='"127.0.0.1"',
        port=8317,
        allow_remote="false",
        secret_key=json.dumps(key_hash),
        auth_dir=json.dumps(str(tmp_path / "cpa" / "auths")),
    )
    with Emulator(tmp_path / "cpa", management_key=KEY, config_yaml=config) as emu:
        world = World.create(tmp_path / "repo", emu)
        yield world
        world.close()
