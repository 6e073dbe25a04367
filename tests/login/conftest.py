"""Fixtures of the ``reconciler login`` tests: an emulator with the planted key, a desired file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from login_helpers import DESIRED, KEY

from reconciler.emulator import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(management_key=KEY) as emulator:
        emulator.set_oauth(email="alice@example.com", plan="plus")
        emulator.write_auth_file(
            "claude-ops@example.com.json",
            {"type": "claude", "email": "ops@example.com", "disabled": True, "note": "ops"},
        )
        yield emulator


@pytest.fixture
def desired(tmp_path: Path, emu: Emulator) -> Path:
    path = tmp_path / "desired-state.yaml"
    path.write_text(DESIRED.format(url=emu.url))
    return path
