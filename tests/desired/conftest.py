"""Fixtures for the desired-state loader tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from desired_helpers import Project


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A project in a temporary directory, which is also the working directory."""
    monkeypatch.chdir(tmp_path)
    return Project(tmp_path)
