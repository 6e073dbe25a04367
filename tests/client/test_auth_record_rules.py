"""The record of failed authentications (statedir/auth_record.py): its rules over time, with a
clock the test moves, against the emulator; and what it keeps on disk."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.statedir.auth_record import FORGET, RECORD, WINDOW, AuthRecord

GOOD = "test-mgmt-key"


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


def _try(emu: Any, record: AuthRecord, key: str) -> str:
    """One run: a fresh client (as a new process has), one listing."""
    with ManagementClient(emu.url, key, timeout=5, auth_guard=record) as client:
        try:
            client.list_auth_file_summaries()
        except errors.ApiError as exc:
            return "local" if exc.status is None else str(exc.status)
    return "ok"


def test_same_key_is_held_for_the_window_then_tried_once_more(
    emulator: Any, tmp_path: Path
) -> None:
    clock = Clock()
    record = AuthRecord(tmp_path, emulator.url, clock=clock)
    assert [_try(emulator, record, "wrong-1") for _ in range(5)] == ["401"] * 3 + ["local"] * 2
    clock.now += WINDOW - 1
    assert _try(emulator, record, "wrong-1") == "local"
    clock.now += 2
    assert _try(emulator, record, "wrong-1") == "401"  # the 4th failure CPA has seen
    # Now any key is held: one more failure would be CPA's 5th.
    assert _try(emulator, record, GOOD) == "local"
    clock.now += FORGET
    assert _try(emulator, record, GOOD) == "ok"
    # The success cleared the failures; only the passing key's fingerprint is left.
    (entry,) = json.loads((tmp_path / RECORD).read_text())["targets"].values()
    assert entry["failures"] == [] and entry["banned_until"] is None
    assert len(entry["good"]) == 64 and GOOD not in json.dumps(entry)


def test_the_record_is_per_target(emulator_factory: Any, tmp_path: Path) -> None:
    one, two = emulator_factory(), emulator_factory()
    for _ in range(3):
        _try(one, AuthRecord(tmp_path, one.url), "wrong")
    assert _try(one, AuthRecord(tmp_path, one.url), "wrong") == "local"
    assert _try(two, AuthRecord(tmp_path, two.url), "wrong") == "401"


def test_a_ban_without_a_stated_end_holds_thirty_minutes(
    emulator_factory: Any, tmp_path: Path
) -> None:
    emu = emulator_factory(max_failures=1)
    clock = Clock()
    record = AuthRecord(tmp_path, emu.url, clock=clock)
    assert _try(emu, record, "wrong") == "401"
    assert _try(emu, record, "other") == "403"
    with pytest.raises(errors.BannedError, match="not sent"):
        record.before(GOOD, "GET", "/v0/management/auth-files")
    clock.now += WINDOW + 1
    assert record.refusal(GOOD) is None


def test_the_file_holds_no_key_and_is_private(emulator: Any, tmp_path: Path) -> None:
    record = AuthRecord(tmp_path, emulator.url)
    _try(emulator, record, "wrong-PLANTED-key")
    path = tmp_path / RECORD
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "PLANTED" not in text and emulator.url not in text and "127.0.0.1" not in text


def test_a_foreign_or_linked_record_is_not_trusted(emulator: Any, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("precious\n")
    state = tmp_path / "state"
    state.mkdir()
    os.symlink(elsewhere, state / RECORD)
    warnings: list[str] = []
    record = AuthRecord(state, emulator.url, warn=warnings.append)
    assert _try(emulator, record, "wrong") == "401"
    assert elsewhere.read_text() == "precious\n"  # replaced the link, never wrote through it
    assert not (state / RECORD).is_symlink()
    assert warnings and "cannot be read" in warnings[0]


def test_an_unwritable_state_directory_warns_and_the_run_goes_on(
    emulator: Any, tmp_path: Path
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    warnings: list[str] = []
    record = AuthRecord(blocked / "state", emulator.url, warn=warnings.append)
    assert _try(emulator, record, GOOD) == "ok"
    assert len(warnings) == 1 and "--state-dir" in warnings[0]
