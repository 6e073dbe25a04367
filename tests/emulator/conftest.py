"""Fixtures of the emulator suite: ready-made HTTP clients for the ``emulator`` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from emulator_support import AUTH, client

from reconciler.emulator import Emulator


@pytest.fixture
def mgmt(emulator: Emulator) -> Iterator[httpx.Client]:
    """A client for the management API with the right key."""
    with client(emulator.management_url, headers=AUTH) as http:
        yield http


@pytest.fixture
def anon(emulator: Emulator) -> Iterator[httpx.Client]:
    """A client for the management API without any key."""
    with client(emulator.management_url) as http:
        yield http
