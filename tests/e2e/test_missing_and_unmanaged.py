"""Two things the plan used to keep quiet about, against the emulator over real HTTP.

A declared credential gone from the server with no ``source`` (every exported entry) cannot be
brought back by apply: ``apply`` says so last ("finished with N unresolved", the remedy, exit 1),
never "Apply complete". Live auth files the desired state does not list while prune is off are
shown as information (count and names) in text, Markdown and JSON, and change no exit code.
"""

from __future__ import annotations

from e2e_helpers import Cli, Project, auth_source, desired_doc, mutating, planted_in

from reconciler.emulator import Emulator

LOST = "codex-lost@example.com.json"
KEPT = "codex-kept@example.com.json"
STRAY = ("claude-stray@example.com.json", "codex-zz-other@example.com.json")


def test_apply_with_a_missing_credential_ends_unresolved_with_the_remedy(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    emu.write_auth_file(KEPT, auth_source("kept@example.com"))
    files = [{"name": KEPT, "disabled": True}, {"name": LOST, "disabled": False}]
    project.write(desired_doc(config={"debug": True}, files=files))

    applied = cli("apply", project.desired, "--auto-approve")

    assert applied.code == 1, applied.text
    assert "Apply complete" not in applied.text
    last = applied.err.strip().splitlines()[-1]
    assert last == "Apply finished with 1 unresolved item (2 action(s) done).", applied.err
    assert f"error: auth file {LOST} is missing on the server and has no source" in applied.err
    assert "add a `source:`" in applied.err and "web UI" in applied.err
    assert "`reconciler login PROVIDER --desired FILE`" in applied.err  # the login command
    # everything else was done
    assert [r.method for r in mutating(emu)] == ["PUT", "PATCH"]
    assert emu.read_auth_file(KEPT)["disabled"] is True
    assert planted_in(applied.text) == []

    again = cli("apply", project.desired, "--auto-approve")  # nothing else to do: still 1
    assert again.code == 1
    assert again.err.strip().splitlines()[-1] == (
        "Apply finished with 1 unresolved item (0 action(s) done)."
    )


def test_apply_with_nothing_unresolved_still_says_complete(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    project.write(desired_doc(config={"debug": True}))
    applied = cli("apply", project.desired, "--auto-approve")
    assert applied.code == 0, applied.text
    assert "Apply complete: 1 action(s) done." in applied.out
    assert "unresolved" not in applied.text


def test_unmanaged_files_are_shown_but_change_nothing(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    for name in (KEPT, *STRAY):
        emu.write_auth_file(name, auth_source(name.split("-", 1)[1].removesuffix(".json")))
    project.write(desired_doc(files=[{"name": KEPT}]))

    text = cli("plan", project.desired, "--detailed-exitcode")
    assert text.code == 0, text.text  # information, not drift
    assert "No changes. Live state matches the desired state." in text.out
    line = next(x for x in text.out.splitlines() if x.startswith("Unmanaged:"))
    assert line == (
        "Unmanaged: 2 auth files are on the server but not in the desired state "
        f"(prune is off): {STRAY[0]}, {STRAY[1]}"
    )
    assert KEPT not in line

    doc = cli("plan", project.desired, "--json")
    assert doc.code == 0
    plan = doc.json()
    assert plan["summary"]["unmanaged"] == 2
    assert plan["summary"]["has_changes"] is False
    assert [u["name"] for u in plan["unmanaged"]] == list(STRAY)
    assert plan["unmanaged"][0] == {
        "address": f"auth-file/{STRAY[0]}",
        "kind": "auth-file",
        "name": STRAY[0],
        "reason": "not in the desired state (prune is off)",
    }
    assert plan["resource_changes"] == []

    markdown = cli("plan", project.desired, "--markdown")
    assert markdown.code == 0
    assert "**Unmanaged:** 2 auth files are on the server" in markdown.out
    assert STRAY[1].replace("_", "\\_") in markdown.out

    applied = cli("apply", project.desired, "--auto-approve")
    assert applied.code == 0, applied.text
    assert mutating(emu) == []
    assert {p.name for p in emu.auth_dir.iterdir()} >= {KEPT, *STRAY}


def test_with_prune_on_nothing_is_unmanaged(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    for name in (KEPT, *STRAY):
        emu.write_auth_file(name, auth_source(name.split("-", 1)[1].removesuffix(".json")))
    project.write(desired_doc(files=[{"name": KEPT}], prune=True, protect=[STRAY[0]]))

    plan = cli("plan", project.desired, "--json").json()
    assert plan["unmanaged"] == [] and plan["summary"]["unmanaged"] == 0
    assert [r["address"] for r in plan["resource_changes"]] == [f"auth-file/{STRAY[1]}"]
    text = cli("plan", project.desired)
    assert "Unmanaged:" not in text.out


def test_many_unmanaged_files_are_counted_and_the_text_names_the_first_twenty(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    names = [f"codex-u{i:02d}@example.com.json" for i in range(25)]
    for name in names:
        emu.write_auth_file(name, auth_source(name.removeprefix("codex-").removesuffix(".json")))
    project.write(desired_doc(config={"debug": True}))

    text = cli("plan", project.desired, "--detailed-exitcode")
    assert text.code == 2  # the config change, not the unmanaged files
    line = next(x for x in text.out.splitlines() if x.startswith("Unmanaged:"))
    assert line.startswith("Unmanaged: 25 auth files are on the server")
    assert line.endswith(f"{names[19]} and 5 more")
    assert names[20] not in line
    assert len(cli("plan", project.desired, "--json").json()["unmanaged"]) == 25
