"""A state directory planted in the repository cannot make apply write anywhere else.

``.reconciler/lock`` was opened, truncated and rewritten through a symbolic link, so a link
committed to a repository made any apply clobber its target. Now the lock is opened with
``O_NOFOLLOW`` inside a state directory that must be a real directory of the user's, a lock file
with other names (hard links) is refused, and a lock file that holds anything but the holder
line the reconciler writes is locked but never truncated.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler import cli
from reconciler.emulator import Emulator
from reconciler.statedir.lock import state_lock

KEY = "lock-test-key"
DESIRED = """\
target:
  management-key: ${env:CPA_MANAGEMENT_KEY}
config:
  request-retry: 7
"""
PRECIOUS = "precious content, not the reconciler's\n"


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(management_key=KEY) as emulator:
        monkeypatch.setenv("CPA_URL", emulator.url)
        monkeypatch.setenv("CPA_MANAGEMENT_KEY", KEY)
        yield emulator


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".reconciler").mkdir(parents=True)
    (root / "desired-state.yaml").write_text(DESIRED)
    return root


def _apply(repo: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(["apply", str(repo / "desired-state.yaml"), "--auto-approve"])
    out, err = capsys.readouterr()
    return code, out + err


def _writes(emu: Emulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in emu.requests() if r.method not in ("GET", "HEAD")]


def test_a_lock_symlink_is_refused_and_its_target_untouched(
    emu: Emulator, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text(PRECIOUS)
    victim.chmod(0o644)
    os.symlink(victim, repo / ".reconciler" / "lock")
    before = victim.stat()

    code, text = _apply(repo, capsys)

    assert code == 1, text
    assert "lock" in text and "symbolic link" in text and "Remove the link" in text
    assert victim.read_text() == PRECIOUS
    after = victim.stat()
    assert (after.st_mtime_ns, after.st_mode, after.st_size) == (
        before.st_mtime_ns,
        before.st_mode,
        before.st_size,
    )
    assert _writes(emu) == []
    assert emu.requests() == [], "refused before any request"


def test_a_dangling_lock_symlink_creates_nothing(
    emu: Emulator, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """O_CREAT through a dangling link would create its target: it is refused too."""
    target = tmp_path / "created-through-the-link"
    os.symlink(target, repo / ".reconciler" / "lock")
    code, text = _apply(repo, capsys)
    assert code == 1, text
    assert not target.exists()
    assert emu.requests() == []


def test_a_committed_lock_file_is_locked_but_not_rewritten(
    emu: Emulator, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = repo / ".reconciler" / "lock"
    lock.write_text(PRECIOUS)
    code, text = _apply(repo, capsys)
    assert code == 0, text
    assert lock.read_text() == PRECIOUS
    assert _writes(emu) == ["PUT /v0/management/config.yaml"]


def test_a_hard_linked_lock_is_refused(
    emu: Emulator, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("")  # empty: exactly what a lock of ours may hold
    os.link(victim, repo / ".reconciler" / "lock")
    code, text = _apply(repo, capsys)
    assert code == 1, text
    assert "hard links" in text
    assert victim.read_text() == ""
    assert emu.requests() == []


def test_a_state_dir_that_is_a_symlink_is_refused(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "desired-state.yaml").write_text(DESIRED)
    elsewhere = tmp_path / "home-ssh"
    elsewhere.mkdir(mode=0o700)
    (elsewhere / "id_ed25519").write_text(PRECIOUS)
    os.symlink(elsewhere, repo / ".reconciler")

    code, text = _apply(repo, capsys)

    assert code == 1, text
    assert "symbolic link" in text and "--state-dir" in text
    assert sorted(p.name for p in elsewhere.iterdir()) == ["id_ed25519"]
    assert (elsewhere / "id_ed25519").read_text() == PRECIOUS
    assert emu.requests() == []


def test_an_explicit_state_dir_link_is_the_operators_and_is_followed(
    emu: Emulator, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "var-lib-reconciler"
    real.mkdir()
    link = tmp_path / "state-link"
    os.symlink(real, link)
    code = cli.main(
        ["apply", str(repo / "desired-state.yaml"), "--auto-approve", "--state-dir", str(link)]
    )
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert (real / "lock").is_file() and not (real / "lock").is_symlink()


def test_a_new_state_dir_is_private_and_ignores_itself(tmp_path: Path) -> None:
    state = tmp_path / "repo" / ".reconciler"
    with state_lock(state):
        lock_text = (state / "lock").read_text()
    assert lock_text.startswith(f"pid {os.getpid()} on ")
    assert oct(state.stat().st_mode & 0o777) == oct(0o700)
    assert (state / ".gitignore").read_text() == "*\n"
    assert oct((state / "lock").stat().st_mode & 0o777) == oct(0o600)


def test_an_existing_gitignore_is_never_rewritten(tmp_path: Path) -> None:
    state = tmp_path / ".reconciler"
    state.mkdir()
    (state / ".gitignore").write_text("mine\n")
    with state_lock(state):
        pass
    assert (state / ".gitignore").read_text() == "mine\n"


def test_a_state_dir_made_by_an_older_version_gets_its_gitignore(tmp_path: Path) -> None:
    state = tmp_path / ".reconciler"
    (state / "backups").mkdir(parents=True)
    with state_lock(state):
        pass
    assert (state / ".gitignore").read_text() == "*\n"
