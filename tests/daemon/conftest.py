"""Fixtures for the daemon tests: an emulator with the desired state applied, and daemons
that are always stopped at the end of a test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import (
    CLIENT_KEY,
    KEY,
    Daemon,
    StartDaemon,
    base_env,
    start_daemon,
    write_workspace,
)

from reconciler import cli
from reconciler.emulator import Emulator


@pytest.fixture
def cpa() -> Iterator[Emulator]:
    with Emulator(management_key=KEY) as emulator:
        yield emulator


@pytest.fixture
def desired(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "repo")


@pytest.fixture
def converged(
    cpa: Emulator,
    desired: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Emulator:
    """The emulator after ``reconciler apply`` of the desired state, request log cleared."""
    monkeypatch.setenv("CPA_URL", cpa.url)
    monkeypatch.setenv("CPA_MANAGEMENT_KEY", KEY)
    monkeypatch.setenv("CLIENT_KEY", CLIENT_KEY)
    assert cli.main(["apply", str(desired), "--auto-approve"]) == 0
    capsys.readouterr()
    cpa.reset_requests()
    return cpa


@pytest.fixture
def daemon(cpa: Emulator) -> Iterator[StartDaemon]:
    """``daemon(desired, *flags, env=None)`` starts one; every one is stopped at teardown."""
    started: list[Daemon] = []

    def start(desired: Path, *flags: str, env: dict[str, str] | None = None) -> Daemon:
        proc = start_daemon(desired, *flags, env=env if env is not None else base_env(cpa.url))
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.close()
