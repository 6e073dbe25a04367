"""``--management-key KEY`` works but always warns (argv is visible in the process list and
shell history), naming the documented ways: CPA_MANAGEMENT_KEY and --management-key-file.
Those two ways never warn. The key itself is never printed either way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from secrets_world import MARK, Cli, planted

from reconciler.emulator import Emulator

KEY = planted("flag-key")
REPO = Path(__file__).resolve().parents[2]
DESIRED = "config:\n  debug: true\nauth-files:\n  files: []\n"


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    for name in list(os.environ):
        if name.startswith(("CPA_", "RECONCILER_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_COLOR", "1")
    with Emulator(management_key=KEY) as emulator:
        monkeypatch.setenv("CPA_URL", emulator.url)
        yield emulator


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "desired-state.yaml").write_text(DESIRED)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _backup(repo: Path, url: str) -> Path:
    """A backup with nothing in it, for ``restore``."""
    root = repo / ".reconciler" / "backups" / "20260101T000000Z-abc123"
    root.mkdir(parents=True)
    root.chmod(0o700)  # as the reconciler makes them: a backup others can read is refused
    (root / "manifest.json").write_text(json.dumps({"target": url, "items": []}))
    (root / "manifest.json").chmod(0o600)
    return root


COMMANDS = [
    ("plan", "desired-state.yaml"),
    ("plan", "desired-state.yaml", "--json"),
    ("apply", "desired-state.yaml", "--auto-approve"),
    ("export",),
    ("restore", "--yes", "latest", "--state-dir", ".reconciler"),
]


def _assert_warns(err: str) -> None:
    warning = [line for line in err.splitlines() if line.startswith("warning: --management-key")]
    assert warning, err
    assert "CPA_MANAGEMENT_KEY" in warning[0]
    assert "--management-key-file" in warning[0]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:1] + a[2:3]))
def test_the_bare_key_flag_works_and_warns(
    emu: Emulator, repo: Path, cli: Cli, argv: tuple[str, ...]
) -> None:
    _backup(repo, emu.url)
    run = cli(*argv, "--management-key", KEY)
    assert run.code == 0, run.err
    _assert_warns(run.err)
    assert KEY not in run.everything and MARK not in run.everything
    assert all(r.authenticated for r in emu.requests())


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:1] + a[2:3]))
def test_environment_and_key_file_do_not_warn(
    emu: Emulator,
    repo: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    argv: tuple[str, ...],
) -> None:
    _backup(repo, emu.url)
    key_file = repo / "cpa-key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    from_file = cli(*argv, "--management-key-file", key_file)
    assert from_file.code == 0, from_file.err
    monkeypatch.setenv("CPA_MANAGEMENT_KEY", KEY)
    from_env = cli(*argv)
    assert from_env.code == 0, from_env.err
    for run in (from_file, from_env):
        assert "warning" not in run.err
        assert KEY not in run.everything


def test_the_daemon_warns_too(emu: Emulator, repo: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "reconciler", "daemon", "desired-state.yaml"]
    argv += ["--listen", "127.0.0.1:0", "--interval", "30", "--management-key", KEY]
    proc = subprocess.Popen(
        argv, cwd=repo, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while not emu.requests() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert emu.requests(), "the daemon sent nothing"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    _assert_warns(err)
    assert KEY not in out + err
    assert all(r.authenticated for r in emu.requests())


def test_the_readme_documents_the_environment_and_key_files() -> None:
    readme = (REPO / "README.md").read_text()
    assert "CPA_MANAGEMENT_KEY" in readme
    assert "--management-key-file" in readme
    assert "--management-key KEY` works but warns" in readme
