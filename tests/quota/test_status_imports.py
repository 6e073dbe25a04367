"""``reconciler status --quota`` imports neither the daemon, the scheduler, prometheus-client
nor the emulator (checked in a fresh interpreter after the command ran)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from reconciler.emulator import Emulator

PROBE = """
import json, sys
from reconciler.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""
FORBIDDEN = ("apscheduler", "prometheus_client", "reconciler.daemon", "reconciler.emulator")


def test_status_imports_no_daemon() -> None:
    with Emulator(management_key="k-status") as emu:
        emu.write_auth_file("codex-a.json", {"type": "codex", "access_token": "x"})
        result = subprocess.run(
            [sys.executable, "-c", PROBE, "status", "--url", emu.url, "--quota", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "CPA_MANAGEMENT_KEY": "k-status"},
        )
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["code"] == 0, result.stderr
    loaded = [m for m in data["modules"] if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert loaded == []
    assert "reconciler.quota.reader" in data["modules"]
