"""A credential deleted from CPA between the listing and its api-call.

CPA v7.2.140 sends an unknown ``auth_index``'s ``$TOKEN$`` upstream literally, with no error,
and the provider refuses it (401) as if the credential were dead. ``status --quota`` must not
report that as a credential failure: a call that looks dead is checked against a second
listing, and a credential no longer listed is reported as gone, not read.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

from fake_provider import FakeProvider
from quota_helpers import EXE, KEY, simple_file

from reconciler.emulator import Emulator


def test_a_file_deleted_before_its_call_is_not_a_credential_failure(
    quota_emulator: Emulator, fake: FakeProvider
) -> None:
    emu = quota_emulator
    emu.write_auth_file("claude-a.json", simple_file("claude", "tok-a"))
    emu.write_auth_file("claude-b.json", simple_file("claude", "tok-b"))
    emu.write_auth_file("claude-dead.json", simple_file("claude", "tok-dead"))
    fake.behave("tok-dead", "401")
    fake.behave("$TOKEN$", "401")  # what a real upstream answers to the literal placeholder
    fake.delay = 0.6  # the first call is held while claude-b.json is deleted
    argv = [EXE, "status", "--url", emu.url, "--quota", "--json", "--quota-concurrency", "1"]
    argv += [*fake.endpoints("claude"), "--detailed-exitcode"]
    env = {**os.environ, "CPA_MANAGEMENT_KEY": KEY, "NO_COLOR": "1"}
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        deadline = time.monotonic() + 20
        while not fake.seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fake.seen and fake.seen[0].token == "tok-a"
        (emu.auth_dir / "claude-b.json").unlink()  # deleted after the listing
        out, err = proc.communicate(timeout=60)
    assert [s.token for s in fake.seen].count("$TOKEN$") <= 1  # CPA's doing, not ours
    doc = json.loads(out)
    rows = {row["name"]: row for row in doc["credentials"]}
    gone = rows["claude-b.json"]
    assert gone["healthy"] is True and gone["quota"]["error"] is None, gone
    assert gone["quota"]["read"] is False
    assert gone["quota"]["note"].startswith("gone: deleted from CPA after the listing")
    # a credential that is really dead still is
    assert rows["claude-dead.json"]["quota"]["error"]["class"] == "auth_invalid"
    assert rows["claude-a.json"]["quota"]["error"] is None
    assert doc["summary"]["unhealthy"] == 1 and doc["summary"]["quota_errors"]["auth_invalid"] == 1
    assert doc["summary"]["requests"]["auth_files"] == 2  # the second listing, once
    assert proc.returncode == 2, err
