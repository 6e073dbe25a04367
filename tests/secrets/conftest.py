"""Fixtures for the secrets tests: the planted world and the CLI run in-process.

``cli(*argv)`` runs ``reconciler.cli.main`` with the world's environment and returns the exit
code and everything printed *and logged* (every logger at DEBUG, httpx included), so a test can
scan all of it at once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from secrets_world import KEY, Cli, World, live_config, make_repo, seed_live

from reconciler.emulator import Emulator


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    repo = tmp_path / "repo"
    make_repo(repo)
    with Emulator(management_key=KEY, config_yaml=live_config(tmp_path / "auths")) as emu:
        seed_live(emu)
        made = World(repo, emu)
        for name in list(os.environ):
            if name.startswith(("CPA_", "RECONCILER_")):
                monkeypatch.delenv(name)
        for name, value in made.environ({}).items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(repo)
        yield made


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Cli:
    caplog.set_level(logging.DEBUG)
    return Cli(capsys, caplog)
