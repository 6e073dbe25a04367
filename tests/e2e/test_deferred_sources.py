"""Which auth-file sources ``plan`` and ``apply`` read, against the emulator over real HTTP.

A source is what a credential is first uploaded from; once it is on the server, CPA rotates its
tokens and the source is history (many teams delete it from git then). So ``plan`` and ``apply``
read the source of a file only when the listing shows the file missing (a create) or the entry
has ``replace: true`` (a re-seed check); ``validate`` checks every source.
"""

from __future__ import annotations

from e2e_helpers import Cli, Project, auth_source, desired_doc, mutating

from reconciler.emulator import Emulator

LIVE = "codex-live@example.com.json"
NEW = "codex-new@example.com.json"


def test_a_broken_source_of_a_file_the_server_holds_is_not_read_by_plan(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    emu.write_auth_file(LIVE, auth_source("live@example.com"))
    broken = project.source("auth/live.json", "{ not json")
    project.write(desired_doc(files=[{"name": LIVE, "source": broken}]))

    planned = cli("plan", project.desired, "--detailed-exitcode")
    assert planned.code == 0, planned.text  # nothing to do: the source is not needed

    validated = cli("validate", project.desired)
    assert validated.code == 1
    assert "desired-state.yaml:" in validated.err and "auth/live.json is not valid JSON" in (
        validated.err
    )


def test_a_broken_source_of_a_file_to_create_stops_plan_and_apply_before_any_write(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    emu.write_auth_file(LIVE, auth_source("live@example.com"))
    good = project.source("auth/live.json", auth_source("live@example.com"))
    missing = "auth/new.json"  # never written
    files = [{"name": LIVE, "source": good, "disabled": True}, {"name": NEW, "source": missing}]
    project.write(desired_doc(files=files))

    for argv in (("plan",), ("apply", "--auto-approve")):
        result = cli(*argv[:1], project.desired, *argv[1:])
        assert result.code == 1, result.text
        assert "desired-state.yaml:" in result.err
        assert "auth-files.files[1].source" in result.err and "auth/new.json does not exist" in (
            result.err
        )
    assert mutating(emu) == []  # the update of LIVE waits too: the plan was never made
    assert emu.read_auth_file(LIVE).get("disabled") is not True


def test_apply_creates_from_a_source_read_after_the_listing(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    source = project.source("auth/new.json", auth_source("new@example.com"))
    project.write(desired_doc(files=[{"name": NEW, "source": source}]))

    applied = cli("apply", project.desired, "--auto-approve")

    assert applied.code == 0, applied.text
    assert emu.read_auth_file(NEW)["email"] == "new@example.com"
    assert cli("plan", project.desired, "--detailed-exitcode").code == 0


def test_replace_true_reads_the_source_of_a_file_the_server_holds(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    emu.write_auth_file(LIVE, auth_source("live@example.com"))
    broken = project.source("auth/live.json", "[]")
    project.write(desired_doc(files=[{"name": LIVE, "source": broken, "replace": True}]))

    planned = cli("plan", project.desired)

    assert planned.code == 1, planned.text
    assert "auth/live.json is not a JSON object" in planned.err


def test_a_saved_plan_with_a_create_applied_twice_is_already_applied(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    """The plan read the new file's source (a create); a retried apply of the same plan file
    finds the file on the server and needs no source: the desired state fingerprints the same,
    so the plan is "already applied", not stale."""
    emu = target_env
    emu.write_auth_file(LIVE, auth_source("live@example.com"))
    live_source = project.source("auth/live.json", auth_source("live@example.com"))
    new_source = project.source("auth/new.json", auth_source("new@example.com"))
    files = [{"name": LIVE, "source": live_source}, {"name": NEW, "source": new_source}]
    project.write(desired_doc(files=files))
    plan_file = str(project.root / "plan.json")

    assert cli("plan", project.desired, "--out", plan_file).code == 0
    first = cli("apply", project.desired, "--plan", plan_file)
    assert first.code == 0, first.text
    assert emu.read_auth_file(NEW)["email"] == "new@example.com"

    again = cli("apply", project.desired, "--plan", plan_file)

    assert again.code == 0, again.text
    assert "already applied" in again.out
