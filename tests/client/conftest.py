"""Fixtures for the client tests: emulators, clients bound to them, request-log helpers.

``emulator`` and ``emulator_factory`` come from the shared ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reconciler.client.management import ManagementClient

KEY = "test-mgmt-key"


MakeClient = Callable[..., ManagementClient]


Sent = Callable[..., list[Any]]


def _sent(emu: Any, method: str | None = None, suffix: str = "") -> list[Any]:
    return [
        r
        for r in emu.requests()
        if (method is None or r.method == method)
        and r.path.endswith(suffix)
        and "/v0/management" in r.path
    ]


@pytest.fixture
def sent() -> Sent:
    """``sent(emu, method=None, suffix="")``: management requests the emulator received."""
    return _sent


@pytest.fixture
def make_client(emulator: Any) -> Iterator[MakeClient]:
    """``make_client(emu=None, key=KEY, **kwargs)``: a client closed at teardown."""
    made: list[ManagementClient] = []

    def make(emu: Any = None, key: str | None = KEY, **kwargs: Any) -> ManagementClient:
        target = emulator if emu is None else emu
        kwargs.setdefault("timeout", 5.0)
        client = ManagementClient(target.url, key, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: MakeClient) -> ManagementClient:
    """A client with the right key for the default emulator."""
    return make_client()
