"""Issue 10 item 5: a cron job or CI pipeline with a wrong key never gets the IP banned.

Each ``reconciler plan`` is a new process (a subprocess here, as cron starts it); the record of
failed authentications in the state directory (``statedir/auth_record.py``) is what they share.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from e2e_helpers import REPO, desired_doc, dump_yaml, settled

from reconciler.emulator import Emulator
from reconciler.statedir import auth_record

GOOD = "test-mgmt-key"
WRONG = "wrong-key-PLANTED-5c1e"
OTHER_WRONG = "other-wrong-key-PLANTED-7d2f"


def _plan(desired: Path, url: str, key: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.update(CPA_URL=url, CPA_MANAGEMENT_KEY=key, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", str(desired), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=desired.parent,
    )


def _auth_answers(emu: Emulator) -> list[int]:
    return [r.status for r in settled(emu) if r.is_management and r.status in (401, 403)]


def _project(tmp_path: Path) -> Path:
    desired = tmp_path / "desired-state.yaml"
    desired.write_text(dump_yaml(desired_doc(config={"debug": False})))
    return desired


def test_ten_runs_with_a_wrong_key_never_ban_and_the_right_key_works_at_once(
    emulator: Emulator, tmp_path: Path
) -> None:
    desired = _project(tmp_path)
    runs = [_plan(desired, emulator.url, WRONG) for _ in range(10)]

    assert [r.returncode for r in runs] == [1] * 10
    answers = _auth_answers(emulator)
    assert answers == [401] * auth_record.ATTEMPTS  # at most N reached CPA, never a 403
    # Runs 1-3 show CPA's refusal; the later ones refuse locally and say what to do.
    assert all("401" in r.stderr for r in runs[:3])
    for refused in runs[3:]:
        assert "not sent" in refused.stderr
        assert "2 more failed attempt(s)" in refused.stderr
        assert re.search(r"this one again after \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", refused.stderr)
    assert all("reset()" not in r.stderr for r in runs)
    assert all(WRONG not in r.stdout + r.stderr for r in runs)

    record = tmp_path / ".reconciler" / auth_record.RECORD
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    text = record.read_text()
    assert WRONG not in text and emulator.url not in text
    assert len(json.loads(text)["targets"]) == 1

    right = _plan(desired, emulator.url, GOOD, "--detailed-exitcode")
    assert right.returncode in (0, 2), right.stderr
    assert _auth_answers(emulator) == [401] * auth_record.ATTEMPTS  # no ban meanwhile
    (entry,) = json.loads(record.read_text())["targets"].values()
    assert entry["failures"] == []  # the success cleared the failures


def _reads(emu: Emulator) -> list[float]:
    """When the config and the listing reads of a plan started."""
    return [r.time for r in settled(emu) if r.path.endswith(("/config.yaml", "/auth-files"))]


def test_a_key_that_passed_reads_at_once_and_a_changed_key_still_never_bans(
    emulator_factory: Any, tmp_path: Path
) -> None:
    emu = emulator_factory(auth_cost=0.3)
    desired = _project(tmp_path)
    first = _plan(desired, emu.url, GOOD, "--detailed-exitcode")
    assert first.returncode in (0, 2), first.stderr
    config, listing = _reads(emu)
    assert listing - config >= 0.3  # no record yet: the first read alone probes the key
    emu.reset_requests()
    assert _plan(desired, emu.url, GOOD).returncode == 0
    config, listing = _reads(emu)
    assert abs(listing - config) < 0.2  # the key passed last time: both reads at once

    # The key is changed on the server: the next run sends its two reads at once (two failed
    # attempts), the one after probes alone, then the record holds the key back. Never more
    # than N failed attempts, never a ban, and the new key works at once.
    emu.reset_requests()
    new_key = "rotated-key-PLANTED-91aa"
    emu.set_config_yaml(re.sub(r"secret-key: .*", f'secret-key: "{new_key}"', emu.config_yaml()))
    runs = [_plan(desired, emu.url, GOOD) for _ in range(6)]
    assert [r.returncode for r in runs] == [1] * 6
    assert _auth_answers(emu) == [401] * auth_record.ATTEMPTS
    assert all("not sent" in r.stderr for r in runs[2:])
    right = _plan(desired, emu.url, new_key, "--detailed-exitcode")
    assert right.returncode in (0, 2), right.stderr
    assert _auth_answers(emu) == [401] * auth_record.ATTEMPTS


def test_a_different_key_is_tried_once_then_nothing_is_sent(
    emulator: Emulator, tmp_path: Path
) -> None:
    desired = _project(tmp_path)
    for _ in range(4):
        _plan(desired, emulator.url, WRONG)
    assert _auth_answers(emulator) == [401] * 3

    other = _plan(desired, emulator.url, OTHER_WRONG)
    assert other.returncode == 1 and "401" in other.stderr
    assert _auth_answers(emulator) == [401] * 4  # tried, once

    # One more failure would be CPA's 5th: no key at all is tried now, the right one neither.
    for key in (OTHER_WRONG, "a-third-key-PLANTED", GOOD):
        held = _plan(desired, emulator.url, key)
        assert held.returncode == 1
        assert "4 failed authentications" in held.stderr and "not sent" in held.stderr
    assert _auth_answers(emulator) == [401] * 4


def test_concurrent_runs_send_at_most_n_failed_attempts(emulator: Emulator, tmp_path: Path) -> None:
    desired = _project(tmp_path)
    with ThreadPoolExecutor(max_workers=6) as pool:
        runs = list(pool.map(lambda _: _plan(desired, emulator.url, WRONG), range(6)))
    assert [r.returncode for r in runs] == [1] * 6
    assert _auth_answers(emulator) == [401] * auth_record.ATTEMPTS


def test_a_ban_is_recorded_and_nothing_is_sent_until_it_ends(
    emulator_factory: object, tmp_path: Path
) -> None:
    emu = emulator_factory(max_failures=1)  # type: ignore[operator]
    desired = _project(tmp_path)
    first = _plan(desired, emu.url, WRONG)  # 401, and CPA bans at once
    assert first.returncode == 1
    banned = _plan(desired, emu.url, OTHER_WRONG)  # a different key: tried, 403 banned
    assert banned.returncode == 1 and "403" in banned.stderr
    assert _auth_answers(emu) == [401, 403]

    held = _plan(desired, emu.url, GOOD)
    assert held.returncode == 1
    assert "the ban ends at" in held.stderr and "not sent" in held.stderr
    assert re.search(r"\(in (29|30) min\)", held.stderr)
    assert _auth_answers(emu) == [401, 403]
