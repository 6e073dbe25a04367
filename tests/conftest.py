"""Shared fixtures: a CPA emulator per test.

``emulator`` is a fresh, started :class:`reconciler.emulator.Emulator` (management key
``test-mgmt-key``, temporary state dir); ``emulator_factory(**kwargs)`` starts one with any
``Emulator`` arguments. Both are stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from reconciler.emulator import Emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def make(*args: Any, **kwargs: Any) -> Emulator:
        emu = Emulator(*args, **kwargs)
        started.append(emu)
        return emu.start()

    yield make
    for emu in reversed(started):
        emu.stop()
