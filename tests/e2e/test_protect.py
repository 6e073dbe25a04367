"""``auth-files.protect`` end to end: prune keeps protected files, deletes the rest, never blocks.

Issue 10, item 2 (must-show): prune with ``protect: ["keep-*.json"]``, one protected and one
stale unlisted file live -> apply exits 0, the stale one is backed up and deleted, the protected
one is untouched (not read, not written: no request names it), and the next plan exits 0 with
``--detailed-exitcode`` (a kept file is not drift).
"""

from __future__ import annotations

import json

from e2e_helpers import (
    Cli,
    Project,
    auth_source,
    desired_doc,
    management,
    mutating,
    out_of_band_files,
)

from reconciler.emulator import Emulator

ALICE = "codex-alice@example.com.json"
KEPT_LINE = "= auth-file keep-legacy.json (protected, not pruned)"


def _requests_naming(emu: Emulator, name: str) -> list[str]:
    return [
        f"{r.method} {r.path} {r.query}"
        for r in management(emu)
        if name in json.dumps(r.query) or name in r.path
    ]


def test_prune_keeps_the_protected_file_and_deletes_the_stale_one(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    out_of_band_files(emu, "keep-legacy.json", "stale.json")
    emu.refresh_auth_file("stale.json")  # the backup must hold the live tokens
    stale_live = (emu.auth_dir / "stale.json").read_bytes()
    kept_bytes = (emu.auth_dir / "keep-legacy.json").read_bytes()
    source = project.source("auth/alice.json", auth_source("alice@example.com"))
    project.write(
        desired_doc(
            files=[{"name": ALICE, "source": source}],
            prune=True,
            protect=["keep-*.json"],
            max_deletions=1,
        )
    )

    planned = cli("plan", project.desired, "--detailed-exitcode")
    assert planned.code == 2, planned.text
    assert KEPT_LINE in planned.out
    assert "- auth-file stale.json" in planned.out
    assert "Blocked" not in planned.out
    assert "Plan: 1 to create, 0 to update, 0 to replace, 1 to delete." in planned.out
    doc = cli("plan", project.desired, "--json").json()
    assert doc["kept"] == [
        {
            "address": "auth-file/keep-legacy.json",
            "kind": "auth-file",
            "name": "keep-legacy.json",
            "reason": "protected, not pruned",
        }
    ]
    assert doc["summary"]["kept"] == 1 and doc["blockers"] == []
    md = cli("plan", project.desired, "--markdown").out
    assert "- `=` auth-file keep-legacy.json (protected, not pruned)" in md

    emu.reset_requests()
    applied = cli("apply", project.desired, "--auto-approve")
    assert applied.code == 0, applied.text
    assert sorted(p.name for p in emu.auth_dir.iterdir()) == [ALICE, "keep-legacy.json"]
    assert (emu.auth_dir / "keep-legacy.json").read_bytes() == kept_bytes, "untouched"
    assert _requests_naming(emu, "keep-legacy.json") == [], "not downloaded, patched or deleted"
    deletes = [r for r in mutating(emu) if r.method == "DELETE"]
    assert [r.query["name"] for r in deletes] == [["stale.json"]]
    (backup,) = project.backups()
    assert (backup / "auth-files" / "stale.json").read_bytes() == stale_live
    assert not (backup / "auth-files" / "keep-legacy.json").exists()

    again = cli("plan", project.desired, "--detailed-exitcode")
    assert again.code == 0, again.out
    assert KEPT_LINE in again.out
    assert "No changes. Live state matches the desired state." in again.out


def test_protected_files_never_block_not_even_with_max_deletions_zero(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    """Many protected files and ``max-deletions: 0``: nothing to delete, nothing blocked."""
    emu = target_env
    names = [f"keep-{i}.json" for i in range(4)]
    out_of_band_files(emu, *names)
    project.write(
        desired_doc(config={"debug": True}, prune=True, protect=["keep-*.json"], max_deletions=0)
    )

    planned = cli("plan", project.desired, "--detailed-exitcode")
    assert planned.code == 2, planned.text  # the config change, nothing else
    assert planned.out.count("(protected, not pruned)") == 4

    emu.reset_requests()
    applied = cli("apply", project.desired, "--auto-approve")
    assert applied.code == 0, applied.text
    assert [r.method for r in mutating(emu)] == ["PUT"], "only the config was written"
    assert sorted(p.name for p in emu.auth_dir.iterdir()) == names
    assert cli("plan", project.desired, "--detailed-exitcode").code == 0


def test_a_listed_protected_file_is_managed_as_declared(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    """protect is about prune: a file listed under files is converged like any other."""
    emu = target_env
    out_of_band_files(emu, "keep-legacy.json")
    files = [{"name": "keep-legacy.json", "disabled": True}]
    project.write(desired_doc(files=files, prune=True, protect=["keep-*.json"]))

    planned = cli("plan", project.desired)
    assert "~ auth-file keep-legacy.json" in planned.out and KEPT_LINE not in planned.out
    applied = cli("apply", project.desired, "--auto-approve")
    assert applied.code == 0, applied.text
    assert emu.read_auth_file("keep-legacy.json")["disabled"] is True
    assert cli("plan", project.desired, "--detailed-exitcode").code == 0
