"""``plan`` of a large desired file, parsed on a second core while the command starts
(``desired.parse_ahead``), against the emulator over real HTTP: what the command prints, its
exit code and the requests it sends are those of the same run with parse-ahead switched off,
for a plan with changes and for a file the loader refuses (the line it names included).

Each run is a new process, as a user starts it (forking is refused in a process with threads).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_helpers import KEY, REPO, auth_source, desired_doc, dump_yaml, management

from reconciler.desired import parse_ahead
from reconciler.emulator import Emulator

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="parse_ahead needs os.fork")

LIVE = "codex-live@example.com.json"


def _plan(desired: Path, emu: Emulator, *, ahead: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.update(CPA_URL=emu.url, CPA_MANAGEMENT_KEY=KEY, PYTHONPATH=str(REPO), NO_COLOR="1")
    env[parse_ahead.SWITCH] = "1" if ahead else "0"
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", str(desired), "--detailed-exitcode"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=desired.parent,
    )


def _large_desired(emu: Emulator, tmp_path: Path) -> tuple[Path, dict[str, object]]:
    emu.write_auth_file(LIVE, auth_source("live@example.com"))
    keys = [f"sk-client-{index:05d}" for index in range(13000)]
    doc = desired_doc(
        config={"debug": True, "api-keys": keys},
        files=[{"name": LIVE, "disabled": True, "fields": {"priority": 3}}],
    )
    path = tmp_path / "desired-state.yaml"
    path.write_text(dump_yaml(doc))
    assert path.stat().st_size >= parse_ahead.MIN_SIZE
    return path, doc


def test_a_large_plan_reads_and_prints_the_same_parsed_ahead(emu: Emulator, tmp_path: Path) -> None:
    desired, _ = _large_desired(emu, tmp_path)
    runs: dict[bool, list[tuple[object, ...]]] = {}
    for ahead in (True, False, True):  # the last one with a key known to work (early reads)
        emu.reset_requests()
        done = _plan(desired, emu, ahead=ahead)
        sent = sorted(f"{r.method} {r.path}" for r in management(emu))
        runs.setdefault(ahead, []).append((done.returncode, done.stdout, done.stderr, sent))
    here = runs[False][0]
    assert here[0] == 2, here  # changes: debug, the api-keys, the file's state and priority
    assert "GET /v0/management/auth-files" in here[3]
    assert not [request for request in here[3] if not request.startswith("GET ")]
    assert runs[True] == [here, here]
    assert "sk-client-" not in here[1]  # the keys masked, as ever


def test_an_error_far_down_a_large_file_names_the_same_line(emu: Emulator, tmp_path: Path) -> None:
    desired, doc = _large_desired(emu, tmp_path)
    files = doc["auth-files"]["files"]  # type: ignore[index]
    files.append({"name": LIVE, "disabled": False})
    desired.write_text(dump_yaml(doc))
    text = desired.read_text().splitlines()
    line = len(text) - text[::-1].index(f"    - name: {LIVE}")  # the second entry's, 1-based
    ahead, here = _plan(desired, emu, ahead=True), _plan(desired, emu, ahead=False)
    assert (ahead.returncode, ahead.stdout, ahead.stderr) == (
        here.returncode,
        here.stdout,
        here.stderr,
    )
    assert here.returncode == 1
    assert f"desired-state.yaml:{line}: auth-files.files[1].name: duplicate" in here.stderr
