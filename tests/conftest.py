"""Shared fixtures: a CPA emulator per test, and CPA's own upstream files when they are here.

``emulator`` is a fresh, started :class:`reconciler.emulator.Emulator` (management key
``test-mgmt-key``, temporary state dir); ``emulator_factory(**kwargs)`` starts one with any
``Emulator`` arguments. Both are stopped at teardown.

``upstream_file(name)`` is the path of one of CPA's own upstream files (v7.2.140:
``config.example.yaml``, ``docker-compose.yml``) in the ``shared/`` folder beside the
repository, which the maintainers' machines and CI have and a bare clone does not. When the
file is not there the test is SKIPPED with a reason naming it: never failed, never passed
silently. Everything else a test needs (recorded answers of the real server included) lives in
the repository, under ``tests/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.emulator import Emulator

REPO = Path(__file__).resolve().parents[1]
UPSTREAM_DIR = REPO.parent / "shared" / "fixtures" / "upstream-v7.2.140"

UpstreamFile = Callable[[str], Path]


@pytest.fixture
def upstream_file() -> UpstreamFile:
    """``upstream_file(name)``: CPA's upstream ``name`` from ../shared, or skip naming it."""

    def find(name: str) -> Path:
        path = UPSTREAM_DIR / name
        if not path.is_file():
            pytest.skip(
                f"CPA's upstream file {name} is not here: {path} is missing (it comes from the "
                "shared/ folder beside the repository, which a bare clone does not have)"
            )
        return path

    return find


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
