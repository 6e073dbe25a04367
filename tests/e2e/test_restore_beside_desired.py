"""``restore latest`` finds the backups ``apply`` made, wherever the command is run from.

Decisions recorded here:

* apply keeps its backups in ``.reconciler/`` beside the desired-state file (or
  ``--state-dir``); ``restore latest --desired DESIRED`` looks in the same place, without
  reading the file (it may be the change being undone). ``--state-dir`` still wins.
* Without either flag, ``restore latest`` looks in ``./.reconciler``: the state dir of a
  desired file in the current directory. When that holds nothing the error names the
  directory it searched and the flags that would find the backups, and no request is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import Cli, Project, auth_source, desired_doc, management

from reconciler.emulator import Emulator


def _delete_by_prune(project: Project, emu: Emulator, cli: Cli, name: str) -> dict[str, Any]:
    """Apply a desired file that prunes the out-of-band auth file ``name``; its content."""
    emu.write_auth_file(name, auth_source(name.removesuffix(".json") + "@example.com"))
    emu.refresh_auth_file(name)  # the backup must hold the live tokens
    content = emu.read_auth_file(name)
    project.write(desired_doc(prune=True))
    applied = cli("apply", project.desired, "--auto-approve")
    assert applied.code == 0, applied.text
    assert not emu.auth_dir.joinpath(name).exists()
    assert len(project.backups()) == 1
    return content


def test_restore_latest_with_the_desired_file_from_another_directory(
    project: Project,
    target_env: Emulator,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = target_env
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    content = _delete_by_prune(project, emu, cli, "gone.json")
    assert not (elsewhere / ".reconciler").exists()

    emu.reset_requests()
    missed = cli("restore", "--yes", "latest")
    assert missed.code == 1
    assert "no backups in .reconciler/backups" in missed.err
    assert "--desired DESIRED" in missed.err
    assert management(emu) == []
    assert not emu.auth_dir.joinpath("gone.json").exists()

    restored = cli("restore", "--yes", "latest", "--desired", project.desired)
    assert restored.code == 0, restored.text
    assert "restored gone.json" in restored.out
    assert emu.read_auth_file("gone.json") == content


def test_restore_latest_without_flags_beside_the_desired_file(
    project: Project, target_env: Emulator, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from the desired file's directory, apply and restore agree with no flag at all."""
    emu = target_env
    monkeypatch.chdir(project.root)
    content = _delete_by_prune(project, emu, cli, "gone.json")

    restored = cli("restore", "--yes", "latest")
    assert restored.code == 0, restored.text
    assert emu.read_auth_file("gone.json") == content


def test_restore_latest_state_dir_wins_over_desired(
    project: Project, target_env: Emulator, cli: Cli, tmp_path: Path
) -> None:
    emu = target_env
    emu.write_auth_file("gone.json", auth_source("gone@example.com"))
    state_dir = tmp_path / "state"
    project.write(desired_doc(prune=True))
    applied = cli("apply", project.desired, "--auto-approve", "--state-dir", state_dir)
    assert applied.code == 0, applied.text
    assert project.backups() == []

    assert cli("restore", "--yes", "latest", "--desired", project.desired).code == 1
    restored = cli(
        "restore", "--yes", "latest", "--desired", project.desired, "--state-dir", state_dir
    )
    assert restored.code == 0, restored.text
    assert emu.auth_dir.joinpath("gone.json").exists()
