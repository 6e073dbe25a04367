"""Run one ``bench.worker`` job in a fresh subprocess and count the requests it made.

The emulator lives in this process; the job talks to it over loopback HTTP from its own
process, so the job's clock and memory are its own. Requests are counted from the emulator's
request log, which is reset before the job starts. A job that fails, or a request the server
answered with an error, stops the benchmark: a figure from a failed run would be a lie.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.fixtures import MANAGEMENT_KEY
from reconciler.emulator import Emulator

ROOT = Path(__file__).resolve().parent.parent


class BenchError(RuntimeError):
    """A job failed; the message says which and why (never with a secret: they are fake)."""


def run_job(job: str, spec: dict[str, Any], emulator: Emulator) -> dict[str, Any]:
    """The job's answer, plus ``requests``: how many requests the emulator saw."""
    env = {
        **os.environ,
        "CPA_MANAGEMENT_KEY": MANAGEMENT_KEY,
        "CPA_URL": emulator.url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "NO_COLOR": "1",
    }
    emulator.reset_requests()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.worker", job, json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    records = emulator.requests()
    if proc.returncode != 0 or not proc.stdout.strip():
        raise BenchError(f"job {job} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    answer: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if answer.get("rc", 0) != 0:
        raise BenchError(f"job {job}: the command exited {answer['rc']}:\n{proc.stderr[-4000:]}")
    failed = [f"{r.method} {r.path} -> {r.status}" for r in records if not 200 <= r.status < 300]
    if failed:
        raise BenchError(f"job {job}: the server refused requests: {failed[:5]}")
    answer["requests"] = len(records)
    return answer
