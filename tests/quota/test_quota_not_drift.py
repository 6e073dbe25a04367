"""Must-show 4: quota reads are not drift. An antigravity read lets CPA refresh the token and
rewrite the auth file; ``plan --detailed-exitcode`` still exits 0 afterwards."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from fake_provider import FakeProvider
from quota_helpers import EXE, KEY, Status, simple_file

from reconciler.emulator import Emulator


def test_plan_is_clean_after_a_quota_read_refreshed_an_antigravity_token(
    tmp_path: Path, quota_emulator: Emulator, fake: FakeProvider, status: Status
) -> None:
    emu = quota_emulator
    source = simple_file("antigravity", "tok-anti-1", project_id="proj-1")
    del source["expired"]  # CPA refreshes a token whose expiry is unknown before the call
    (tmp_path / "auth").mkdir()
    (tmp_path / "auth" / "anti.json").write_text(json.dumps(source))
    desired = tmp_path / "desired-state.yaml"
    desired.write_text(
        f"target:\n  url: {emu.url}\n"
        "auth-files:\n  files:\n"
        "    - name: antigravity-a.json\n      source: auth/anti.json\n"
        "      fields: {priority: 3}\n"
    )
    env = {**os.environ, "CPA_MANAGEMENT_KEY": KEY}

    def reconciler(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([EXE, *args], capture_output=True, text=True, env=env, timeout=90)

    applied = reconciler("apply", str(desired), "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert reconciler("plan", str(desired), "--detailed-exitcode").returncode == 0
    before = emu.read_auth_file("antigravity-a.json")

    result = status(str(desired), "--quota", "--json", *fake.endpoints("antigravity"))
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)["credentials"][0]
    assert row["declared"] == "declared" and row["quota"]["error"] is None
    after = emu.read_auth_file("antigravity-a.json")
    assert after["access_token"] != before["access_token"]  # refreshed, file rewritten
    assert [s.token for s in fake.seen] == [after["access_token"]]

    plan = reconciler("plan", str(desired), "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
