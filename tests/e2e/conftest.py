"""Fixtures for the end-to-end tests: a clean environment, a fresh emulator, the CLI in-process.

Each test gets an environment without any CPA_* or example variables from the caller's shell
(``NO_COLOR`` set, so outputs are plain text), its own emulator with the planted management key,
and ``cli(*argv)`` that runs ``reconciler.cli.main`` and returns the exit code and output.
``target_env`` points CPA_URL and CPA_MANAGEMENT_KEY at that emulator and sets the example's
variables to planted values.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import CLEARED_ENV, EXAMPLE_ENV, KEY, Cli, Project, copy_example

from reconciler.emulator import Emulator


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(management_key=KEY) as emulator:
        yield emulator


@pytest.fixture
def target_env(monkeypatch: pytest.MonkeyPatch, emu: Emulator) -> Emulator:
    monkeypatch.setenv("CPA_URL", emu.url)
    monkeypatch.setenv("CPA_MANAGEMENT_KEY", KEY)
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    return emu


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "repo"
    root.mkdir()
    return Project(root)


@pytest.fixture
def example(tmp_path: Path) -> Project:
    """A copy of examples/desired-state (its desired-state.yaml and auth/ sources)."""
    return copy_example(tmp_path / "example")
