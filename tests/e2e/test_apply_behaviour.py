"""What apply does beyond converging: it keeps the live file's comments and unmanaged keys,
reports restart-only keys, stops cleanly part-way and converges on the next run, holds a lock,
re-seeds only with --allow-replace (after a backup), and takes its key from a file.

Decisions recorded here:

* A server error in the middle of an apply is not retried by the reconciler (a POST may have
  landed): the run stops, says what was done and not done, and exits 1; the next apply
  converges from wherever it stopped.
* A busy state directory (another run holds its lock) exits 5 before any request.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_helpers import (
    KEY,
    Cli,
    Project,
    auth_source,
    described,
    desired_doc,
    management,
    mutating,
    web_ui_put,
)
from ruamel.yaml import YAML

from reconciler.emulator import Emulator
from reconciler.statedir.lock import state_lock

HAND_WRITTEN = """\
# Production CPA — edited by hand, keep these notes.
debug: false   # flip for a support case
request-retry: 1

# Keys for the mobile team
api-keys:
  - mobile-key
payload:      # not managed by the reconciler
  default:
    - models: [{name: gpt-5}]
      params: {reasoning.effort: high}
"""


def _hand_written(emu: Emulator) -> None:
    base = emu.config_yaml()
    keep = [line for line in base.splitlines() if not line.startswith(("debug:", "request-retry:"))]
    keep = [line for line in keep if "test-api-key" not in line and line != "api-keys:"]
    emu.set_config_yaml(HAND_WRITTEN + "\n".join(keep) + "\n")


def test_apply_keeps_comments_order_and_unmanaged_keys(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    _hand_written(emu)
    before = YAML(typ="safe").load(emu.config_yaml())
    project.write(desired_doc(config={"debug": True, "api-keys": ["mobile-key", "web-key"]}))

    assert cli("apply", project.desired, "--auto-approve").code == 0
    text = emu.config_yaml()
    for comment in (
        "# Production CPA — edited by hand, keep these notes.",
        "# flip for a support case",
        "# Keys for the mobile team",
        "# not managed by the reconciler",
    ):
        assert comment in text
    after = YAML(typ="safe").load(text)
    assert after["debug"] is True and after["api-keys"] == ["mobile-key", "web-key"]
    assert after["payload"] == before["payload"]
    assert list(after)[:4] == ["debug", "request-retry", "api-keys", "payload"]
    assert cli("plan", project.desired, "--detailed-exitcode").code == 0


def test_restart_only_keys_are_applied_and_reported(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    project.write(desired_doc(config={"commercial-mode": True, "debug": True}))
    applied = cli("apply", project.desired, "--auto-approve")
    assert applied.code == 0, applied.text
    assert "takes effect after a CPA restart: commercial-mode" in applied.out
    assert "commercial-mode: true" in target_env.config_yaml()


def test_a_failure_part_way_stops_and_the_next_apply_converges(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    source = project.source("auth/a.json", auth_source("a@example.com"))
    files = [{"name": "codex-a@example.com.json", "source": source, "fields": {"note": "x"}}]
    project.write(desired_doc(config={"debug": True}, files=files))
    emu.inject_fault("POST", "/auth-files", status=500, body={"error": "disk full"})

    stopped = cli("apply", project.desired, "--auto-approve")
    assert stopped.code == 1, stopped.text
    assert "apply stopped" in stopped.err
    assert "done: update config/config.yaml" in stopped.err
    assert "not done: create auth-file/codex-a@example.com.json" in stopped.err
    posts = [r for r in management(emu) if r.method == "POST"]
    assert len(posts) == 1, described(posts)

    resumed = cli("apply", project.desired, "--auto-approve")
    assert resumed.code == 0, resumed.text
    assert "config.yaml" not in resumed.out.split("Plan:")[0], "the config was already done"
    assert cli("plan", project.desired, "--detailed-exitcode").code == 0


def test_a_second_run_on_the_same_state_dir_is_refused(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    project.write(desired_doc(config={"debug": True}))
    emu.reset_requests()
    with state_lock(project.state_dir):
        busy = cli("apply", project.desired, "--auto-approve")
    assert busy.code == 5, busy.text
    assert "locked" in busy.err
    assert management(emu) == []


def test_replace_needs_allow_replace_and_backs_up_the_old_file(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    name = "codex-rita@example.com.json"
    source = project.source("auth/rita.json", auth_source("rita@example.com"))
    project.write(desired_doc(files=[{"name": name, "source": source, "replace": True}]))
    assert cli("apply", project.desired, "--auto-approve").code == 0
    emu.refresh_auth_file(name)
    rotated = emu.read_auth_file(name)["refresh_token"]
    project.source(source, auth_source("rita@example.com", refresh_token="rt-new-login"))
    emu.reset_requests()

    blocked = cli("apply", project.desired, "--auto-approve")
    assert blocked.code == 4, blocked.text
    assert "--allow-replace" in blocked.err
    assert mutating(emu) == []

    replaced = cli("apply", project.desired, "--auto-approve", "--allow-replace")
    assert replaced.code == 0, replaced.text
    assert emu.read_auth_file(name)["refresh_token"] == "rt-new-login"
    backup = project.backups()[-1]
    old = json.loads((backup / "auth-files" / name).read_text())
    assert old["refresh_token"] == rotated
    assert cli("plan", project.desired, "--detailed-exitcode").code == 0


def test_config_file_and_key_file(
    project: Project,
    target_env: Emulator,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """``config-file:`` names a CPA config.yaml kept in the repo (its plaintext secret-key is
    compared by bcrypt), and ``--management-key-file`` replaces CPA_MANAGEMENT_KEY."""
    emu = target_env
    monkeypatch.delenv("CPA_MANAGEMENT_KEY")
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o600)
    (project.root / "cpa-config.yaml").write_text(
        f"# kept in git\ndebug: true\nrequest-retry: 4\nremote-management:\n  secret-key: {KEY}\n"
    )
    project.write({"config-file": "cpa-config.yaml", "config-policy": {"prune": False}})

    applied = cli("apply", project.desired, "--auto-approve", "--management-key-file", key_file)
    assert applied.code == 0, applied.text
    assert "request-retry: 4" in emu.config_yaml()
    assert KEY not in emu.config_yaml()
    plan = cli("plan", project.desired, "--detailed-exitcode", "--management-key-file", key_file)
    assert plan.code == 0, plan.out


ODD_NAMES = (
    "codex-a+tag@example.com.json",
    "codex-josé@example.com.json",
    "codex-b c@example.com.json",
    "codex-x&y=z@example.com.json",
    "codex-50%@example.com.json",
)


def test_odd_file_names_survive_every_request(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    """Plus-addressed emails, non-ASCII, spaces, ``&``, ``=`` and ``%`` travel in query strings
    (status, fields, download, delete) and multipart headers (upload)."""
    emu = target_env

    def write(note: str, disabled: bool, names: tuple[str, ...], prune: bool = False) -> None:
        files = [
            {
                "name": name,
                "source": project.source(f"auth/{i}.json", auth_source(f"u{i}@example.com")),
                "disabled": disabled,
                "fields": {"note": note, "proxy_url": "socks5://127.0.0.1:1080"},
            }
            for i, name in enumerate(names)
        ]
        project.write(desired_doc(files=files, prune=prune))

    write("first", True, ODD_NAMES)
    assert cli("apply", project.desired, "--auto-approve").code == 0
    assert sorted(p.name for p in emu.auth_dir.iterdir()) == sorted(ODD_NAMES)
    write("second", False, ODD_NAMES)
    assert cli("apply", project.desired, "--auto-approve").code == 0
    assert all(emu.read_auth_file(n)["note"] == "second" for n in ODD_NAMES)
    assert cli("plan", project.desired, "--detailed-exitcode").code == 0

    write("second", False, ODD_NAMES[:1], prune=True)
    assert cli("apply", project.desired, "--auto-approve").code == 0
    assert [p.name for p in emu.auth_dir.iterdir()] == [ODD_NAMES[0]]
    (backup,) = project.backups()  # the only apply that replaced or deleted anything
    assert sorted(p.name for p in (backup / "auth-files").iterdir()) == sorted(ODD_NAMES[1:])


def test_prune_removes_undeclared_keys_but_never_an_ignored_path(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    """``config-policy.ignore`` paths are never written, even when prune removes the key that
    holds them: prune then works around them (siblings go, the ignored path stays)."""
    emu = target_env
    web_ui_put(emu, "debug", True)  # the web UI's save appends CPA's defaults
    emu.set_config_yaml(
        emu.config_yaml()
        + "oauth-excluded-models:\n  codex: [gpt-4]\n  claude: [claude-2]\nrequest-log: true\n"
    )
    doc = desired_doc(config={"request-retry": 2})
    doc["config-policy"] = {"prune": True, "ignore": ["debug", "oauth-excluded-models.codex"]}
    project.write(doc)

    applied = cli("apply", project.desired, "--auto-approve")

    assert applied.code == 0, applied.text
    live = YAML(typ="safe").load(emu.config_yaml())
    assert live["oauth-excluded-models"] == {"codex": ["gpt-4"]}
    assert live["debug"] is True
    assert "request-log" not in live and "api-keys" not in live
    for kept in ("host", "port", "auth-dir", "remote-management", "credential-concurrency"):
        assert kept in live
    assert cli("plan", project.desired, "--detailed-exitcode").code == 0


def test_prune_leaves_what_it_exempts_whole(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    """Found by the property test: declaring one key of ``remote-management`` under prune
    removed the rest of the block, ``secret-key`` included (refused as a lockout, exit 4).
    host, port, auth-dir and remote-management are exempt from prune, all of their keys."""
    emu = target_env
    doc = desired_doc(config={"remote-management": {"allow-remote": False}, "debug": True})
    doc["config-policy"] = {"prune": True}
    project.write(doc)

    applied = cli("apply", project.desired, "--auto-approve")

    assert applied.code == 0, applied.text
    block = YAML(typ="safe").load(emu.config_yaml())["remote-management"]
    assert block["secret-key"].startswith("$2a$")
    assert block["disable-control-panel"] is True
    assert cli("plan", project.desired, "--detailed-exitcode").code == 0


def test_dotted_fields_are_paths_into_the_file(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    """``fields: {headers.X-Team: red}`` means ``{"headers": {"X-Team": "red"}}`` (that is
    what PATCH /auth-files/fields writes): a create writes it that way, an update's result
    reads back as equal (no endless drift), and the value under ``headers`` is masked."""
    emu = target_env
    emu.write_auth_file("codex-old@example.com.json", auth_source("old@example.com"))
    source = project.source("auth/new.json", auth_source("new@example.com"))
    header = {"headers.X-Team-Token": "hdr-PLANTED-7c7c"}
    files = [
        {"name": "codex-old@example.com.json", "fields": header},
        {"name": "codex-new@example.com.json", "source": source, "fields": header},
    ]
    project.write(desired_doc(files=files))

    plan = cli("plan", project.desired)
    assert "hdr-PLANTED" not in plan.text
    assert "fields.headers.X-Team-Token: ***" in plan.out
    assert cli("apply", project.desired, "--auto-approve").code == 0
    for name in ("codex-old@example.com.json", "codex-new@example.com.json"):
        data = emu.read_auth_file(name)
        assert data["headers"] == {"X-Team-Token": "hdr-PLANTED-7c7c"}
        assert "headers.X-Team-Token" not in data
    again = cli("plan", project.desired, "--detailed-exitcode")
    assert again.code == 0, again.out


def test_an_empty_mapping_field_declares_nothing(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    """Found by the property test: ``headers: {}`` on an existing file was planned as a PATCH
    on every run (CPA drops an empty headers object, so it never became present)."""
    emu = target_env
    emu.write_auth_file("codex-h@example.com.json", auth_source("h@example.com"))
    files = [{"name": "codex-h@example.com.json", "fields": {"headers": {}, "note": "n"}}]
    project.write(desired_doc(files=files))
    assert cli("apply", project.desired, "--auto-approve").code == 0
    again = cli("plan", project.desired, "--detailed-exitcode")
    assert again.code == 0, again.out


def test_a_missing_file_without_a_source_is_reported_not_invented(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    """Decision: a listed file that is missing and has no ``source`` is a difference nobody
    can fix automatically: plan counts it as a change (exit 2), apply does everything else
    and then exits 1 naming the file."""
    emu = target_env
    files = [{"name": "codex-lost@example.com.json", "disabled": True}]
    project.write(desired_doc(config={"debug": True}, files=files))

    plan = cli("plan", project.desired, "--detailed-exitcode")
    assert plan.code == 2, plan.text
    applied = cli("apply", project.desired, "--auto-approve")
    assert applied.code == 1, applied.text
    assert "codex-lost@example.com.json is missing on the server and has no source" in applied.err
    assert [r.method for r in mutating(emu)] == ["PUT"]
    assert not (emu.auth_dir / "codex-lost@example.com.json").exists()
