"""The example desired state against a fresh emulator: create, converge, and stay converged
through what CPA does on its own (re-hashing the key, rotating tokens) — and notice what a
person changes in the web UI.

Must-show 1 and 2 of issue 3.
"""

from __future__ import annotations

from typing import Any

from e2e_helpers import (
    KEY,
    UPLOAD,
    Cli,
    Project,
    auth_source,
    described,
    desired_doc,
    mutating,
    rehash_secret,
    secret_key_line,
    settled,
    web_ui_put,
)

from reconciler.emulator import Emulator

EXAMPLE_FILES = (
    "antigravity-carol@example.com.json",
    "claude-bob@example.com.json",
    "codex-alice@example.com.json",
)


def _changes(doc: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    return [
        (rc["address"], change["path"], rc["actions"])
        for rc in doc["resource_changes"]
        for change in rc["changes"]
    ]


def test_example_plan_lists_the_creates_then_apply_converges(
    example: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    text = cli("plan", example.desired)
    assert text.code == 0, text.err
    for name in EXAMPLE_FILES:
        assert f"+ auth-file {name}" in text.out

    first = cli("plan", example.desired, "--json", "--detailed-exitcode")
    assert first.code == 2, first.err
    doc = first.json()
    assert doc["summary"]["create"] == 3
    created = sorted(rc["name"] for rc in doc["resource_changes"] if rc["actions"] == ["create"])
    assert created == sorted(EXAMPLE_FILES)
    assert mutating(emu) == [], "plan must not write"

    applied = cli("apply", example.desired, "--auto-approve")
    assert applied.code == 0, applied.text
    assert sorted(p.name for p in emu.auth_dir.iterdir()) == sorted(EXAMPLE_FILES)
    assert emu.read_auth_file("antigravity-carol@example.com.json")["disabled"] is True

    again = cli("plan", example.desired, "--detailed-exitcode")
    assert again.code == 0, again.out
    assert "No changes" in again.out


def test_no_drift_after_rehash_then_exactly_debug_after_a_web_ui_put(
    example: Project, target_env: Emulator, cli: Cli
) -> None:
    """The rehash writes the plaintext key back into config.yaml out of band; the emulator's
    reload replaces it with a bcrypt hash under a new salt. The hash differs, the key is the
    same: no drift. The web UI's per-field save then re-serialises the whole file (and appends
    CPA's defaults); only ``debug`` may show."""
    emu = target_env
    assert cli("apply", example.desired, "--auto-approve").code == 0

    before = secret_key_line(emu.config_yaml())
    rehash_secret(emu)
    after = secret_key_line(emu.config_yaml())
    assert after != before and "$2" in after and KEY not in emu.config_yaml()
    rehashed = cli("plan", example.desired, "--detailed-exitcode")
    assert rehashed.code == 0, rehashed.out

    web_ui_put(emu, "debug", True)
    drift = cli("plan", example.desired, "--json", "--detailed-exitcode")
    assert drift.code == 2, drift.err
    doc = drift.json()
    assert _changes(doc) == [("config/config.yaml", "debug", ["update"])]
    (change,) = doc["resource_changes"][0]["changes"]
    assert (change["before"], change["after"]) == (True, False)
    assert doc["summary"] | {"has_changes": True} == {
        "create": 0,
        "update": 1,
        "replace": 0,
        "delete": 0,
        "unresolved": 0,
        "blocked": False,
        "has_changes": True,
        "kept": 0,
        "unmanaged": 0,
    }

    fixed = cli("apply", example.desired, "--auto-approve")
    assert fixed.code == 0, fixed.text
    assert cli("plan", example.desired, "--detailed-exitcode").code == 0


def test_rotated_tokens_are_no_drift_and_never_re_uploaded(
    example: Project, target_env: Emulator, cli: Cli
) -> None:
    """Bob's entry declares ``proxy_url``, which the listing does not show, so planning reads
    his file: the tokens in it differ from the source after the refresh and must not matter."""
    emu = target_env
    assert cli("apply", example.desired, "--auto-approve").code == 0
    for name in EXAMPLE_FILES:
        old = emu.read_auth_file(name)["refresh_token"]
        emu.refresh_auth_file(name)
        assert emu.read_auth_file(name)["refresh_token"] != old
    emu.reset_requests()

    assert cli("plan", example.desired, "--detailed-exitcode").code == 0
    applied = cli("apply", example.desired, "--auto-approve")
    assert applied.code == 0, applied.text
    assert "No changes" in applied.out
    log = settled(emu)
    assert UPLOAD not in {(r.method, r.path) for r in log}, described(log)
    assert mutating(emu) == []


def test_a_replace_entry_is_not_re_seeded_because_its_tokens_rotated(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    """``replace: true`` re-seeds only when the *source* changed since the last seed (the seed
    mark stored in the file); a server-side token rotation leaves the mark as it was."""
    emu = target_env
    source = project.source("auth/dave.json", auth_source("dave@example.com"))
    entry = {"name": "codex-dave@example.com.json", "source": source, "replace": True}
    project.write(desired_doc(files=[entry]))
    assert cli("apply", project.desired, "--auto-approve").code == 0
    emu.refresh_auth_file("codex-dave@example.com.json")
    emu.reset_requests()

    plan = cli("plan", project.desired, "--detailed-exitcode")
    assert plan.code == 0, plan.out
    assert cli("apply", project.desired, "--auto-approve", "--allow-replace").code == 0
    assert mutating(emu) == []
