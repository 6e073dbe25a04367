"""A hostile server's auth-file names never become paths outside the state directory.

``apply`` backs up every file a prune deletes, under ``<state-dir>/backups/<id>/auth-files/<name>``.
A server that lists ``../../evil.json`` (or ``/etc/x.json``, ``a/../../b.json``) made that
write land outside the state directory. Now a name is used as a file name only when it is a
plain file name: otherwise the backup is refused, so the delete it guards is not sent (exit 1,
the name shown escaped), and not one file is written outside the state directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hostile_server import HostileServer, Reply, Seen

from reconciler import cli
from reconciler.statedir.backup import Backup

KEY = "hostile-backup-key"
PREFIX = "/v0/management"
DESIRED = """\
target:
  management-key: ${env:CPA_MANAGEMENT_KEY}
auth-files:
  prune: true
  max-deletions: 10
  files: []
"""
HOSTILE_NAMES = [
    "../../../../evil.json",  # from backups/<id>/auth-files/: the repository itself
    "../../../../../../evil.json",
    "../../evil.json",
    "../evil.json",
    "/etc/x.json",
    "a/../../b.json",
    "..",
    "sub/inner.json",
    "x\x1b[31m.json",
]


def _files_under(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def _server(names: list[str]) -> HostileServer:
    def handler(req: Seen) -> Reply | None:
        path = req.path.split("?", 1)[0]
        if req.method == "GET" and path == PREFIX + "/auth-files":
            listing = [{"name": n, "type": "codex", "disabled": False} for n in names]
            return Reply.json({"files": listing})
        if req.method == "GET" and path == PREFIX + "/auth-files/download":
            body = {"type": "codex", "access_token": "at-live", "refresh_token": "rt-live"}
            return Reply.json(body)
        if req.method == "GET" and path == PREFIX + "/config.yaml":
            return Reply.text("debug: false\n")
        if req.method == "DELETE":
            return Reply.json({"status": "ok"})
        return None

    return HostileServer(handler)


def _run(*argv: str | Path) -> int:
    return cli.main([str(a) for a in argv])


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_a_listed_name_that_is_a_path_is_never_written_outside_the_state_dir(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = tmp_path / "deep" / "er" / "repo"
    repo.mkdir(parents=True)
    (repo / "desired-state.yaml").write_text(DESIRED)
    monkeypatch.setenv("CPA_MANAGEMENT_KEY", KEY)
    monkeypatch.chdir(repo)
    before = _files_under(tmp_path)
    with _server([name]) as srv:
        code = _run("apply", repo / "desired-state.yaml", "--auto-approve", "--url", srv.url)
    out, err = capsys.readouterr()

    assert code == 1, out + err
    assert [r for r in srv.requests if r.method not in ("GET", "HEAD")] == [], "nothing deleted"
    state = repo / ".reconciler"
    new = _files_under(tmp_path) - before
    outside = {p for p in new if state not in p.parents and p != state}
    assert outside == set(), outside
    assert not Path("/etc/x.json").exists()
    assert json.dumps(name) in err, err  # the refusal shows it escaped
    assert "cannot be backed up" in err and "not deleted" in err
    assert "nothing" in err  # done: nothing


def test_plain_names_are_still_backed_up_and_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The check refuses paths, not ordinary names (dots, spaces inside, unicode)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "desired-state.yaml").write_text(DESIRED)
    monkeypatch.setenv("CPA_MANAGEMENT_KEY", KEY)
    names = ["codex-a@example.com.json", "..json.bak.json", "ünïcode file.json"]
    with _server(names) as srv:
        code = _run("apply", repo / "desired-state.yaml", "--auto-approve", "--url", srv.url)
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert [r.method for r in srv.requests].count("DELETE") == 1
    (backup,) = (repo / ".reconciler" / "backups").iterdir()
    assert sorted(p.name for p in (backup / "auth-files").iterdir()) == sorted(names)


@pytest.mark.parametrize("name", ["../../evil.json", "/etc/x.json", "a/../b.json", ".", ""])
def test_the_backup_refuses_such_a_name_itself(name: str, tmp_path: Path) -> None:
    """Defence in depth: ``Backup.save_auth_file`` refuses it whatever the caller checked."""
    backup = Backup.new(tmp_path / "state", "http://127.0.0.1:1")
    before = _files_under(tmp_path)
    with pytest.raises(Exception, match="cannot be backed up"):
        backup.save_auth_file(name, b"{}", "deleted")
    assert not backup.exists
    new = _files_under(tmp_path) - before
    assert all(tmp_path / "state" in p.parents or p == tmp_path / "state" for p in new), new


def test_a_backups_link_planted_in_the_state_dir_is_not_followed(tmp_path: Path) -> None:
    """``.reconciler/backups`` committed as a link to elsewhere: the backup is refused."""
    state = tmp_path / "repo" / ".reconciler"
    state.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, state / "backups")
    backup = Backup.new(state, "http://127.0.0.1:1")
    with pytest.raises(Exception, match="cannot write the backup"):
        backup.save_auth_file("a.json", b"{}", "deleted")
    assert list(elsewhere.iterdir()) == []
