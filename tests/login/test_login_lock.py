"""``reconciler login`` holds the state directory's lock as apply does: refused at once (exit 5,
no request, the desired file untouched) while another run holds it, and held by the login from
its first request until the new file is recorded, so no apply prunes it meanwhile."""

from __future__ import annotations

from pathlib import Path

import pytest
from login_helpers import Session, callback_for

from reconciler import errors
from reconciler.emulator import Emulator
from reconciler.statedir.lock import state_lock

CODEX = "codex-alice@example.com-plus.json"


def test_login_is_refused_while_another_run_holds_the_lock(emu: Emulator, desired: Path) -> None:
    original = desired.read_text()
    before = emu.request_counts()
    with state_lock(desired.parent / ".reconciler"):
        session = Session("codex", "--desired", str(desired), "--note", "team-a")
        assert session.finish() == 5, session.output
    out = session.output
    assert "is locked by pid" in out
    assert "another reconciler run is in progress on this state directory" in out
    assert emu.request_counts() == before  # not one request, not even the listing
    assert emu.oauth_sessions() == []
    assert desired.read_text() == original
    assert not list(emu.auth_dir.glob("codex-*"))


def test_login_without_desired_file_takes_the_state_dir_lock(emu: Emulator, tmp_path: Path) -> None:
    state = tmp_path / "state"
    with state_lock(state):
        session = Session("codex", "--url", emu.url, "--state-dir", str(state))
        assert session.finish() == 5, session.output
    assert "another reconciler run is in progress" in session.output
    assert emu.oauth_sessions() == []


def test_the_lock_is_held_from_the_start_until_the_entry_is_recorded(
    emu: Emulator, desired: Path
) -> None:
    state = desired.parent / ".reconciler"
    session = Session("codex", "--desired", str(desired), "--note", "team-a")
    url = session.auth_url()
    session.wait_for("Paste the address")
    # an apply (or a daemon cycle) started now is refused: it cannot prune the new file
    with pytest.raises(errors.LockedError), state_lock(state):
        pass
    session.type(callback_for(url) + "\n")
    assert session.finish() == 0, session.output
    assert f"name: {CODEX}" in desired.read_text()
    assert emu.read_auth_file(CODEX)["note"] == "team-a"
    with state_lock(state):  # released once the login is done
        pass
