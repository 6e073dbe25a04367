"""Which auth-file sources ``plan`` and ``apply`` read on a fleet file, against three emulators
over real HTTP (as ``test_deferred_sources`` for one server).

A source is what a credential is first uploaded from; once a server holds it, CPA rotates its
tokens and the source is history. So a fleet plan reads the source of a file only when no
server that was read holds it (a create) or the entry has ``replace: true``; a move carries
the live file, never its source. ``validate`` checks every source.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from e2e_helpers import Cli, Project, dump_yaml
from fleet_world import FleetWorld

from reconciler.emulator import Emulator

NEW = "claude-new@example.com.json"


@pytest.fixture
def world(
    project: Project, emulator_factory: Callable[..., Emulator], monkeypatch: pytest.MonkeyPatch
) -> FleetWorld:
    return FleetWorld.create(project, emulator_factory, monkeypatch, n_files=12)


def _applied(world: FleetWorld, cli: Cli) -> dict[str, str]:
    """The fleet applied from its sources: file -> the target holding it."""
    applied = cli("apply", world.write(), "--auto-approve")
    assert applied.code == 0, applied.text
    return {f: t[0] for f, t in world.where().items()}


def _break_sources(world: FleetWorld, text: str | None = "{ not json") -> None:
    """Every source broken (``text``) or deleted (None), as after a clean-up of the repo."""
    for name in world.files:
        path = world.project.root / "auth" / name
        if text is None:
            path.unlink()
        else:
            path.write_text(text)


def test_apply_creates_each_file_from_its_source_read_after_the_listings(
    world: FleetWorld, cli: Cli
) -> None:
    placed = _applied(world, cli)
    for name, target in placed.items():
        source = json.loads((world.project.root / "auth" / name).read_text())
        assert world.content(target, name)["email"] == source["email"]
    assert cli("plan", world.write(), "--detailed-exitcode").code == 0


def test_a_no_change_plan_reads_no_source_and_validate_reads_every_one(
    world: FleetWorld, cli: Cli
) -> None:
    _applied(world, cli)
    _break_sources(world)
    desired = world.write()

    planned = cli("plan", desired, "--detailed-exitcode")
    assert planned.code == 0, planned.text

    validated = cli("validate", desired)
    assert validated.code == 1
    assert "desired-state.yaml:" in validated.err
    assert "auth-files.files[0].source" in validated.err and "is not valid JSON" in validated.err


def test_a_drain_moves_credentials_whose_sources_are_gone(world: FleetWorld, cli: Cli) -> None:
    before = _applied(world, cli)
    _break_sources(world, None)
    drained = world.write(drain=["eu-2"])
    on_eu2 = {f for f, t in before.items() if t == "eu-2"}
    assert on_eu2

    planfile = world.project.root / "fleet.plan.json"
    saved = cli("plan", drained, "--out", planfile)
    assert saved.code == 0, saved.text
    applied = cli("apply", drained, "--plan", planfile, "--allow-moves")
    assert applied.code == 0, applied.text
    after = world.where()
    assert all(len(t) == 1 and t != ["eu-2"] for t in after.values())
    assert {f for f in before if after[f] != [before[f]]} == on_eu2
    # A retried CI job: the moved files are held now; the plan still fingerprints the same.
    again = cli("apply", drained, "--plan", planfile, "--allow-moves")
    assert again.code == 0, again.text
    assert "was already applied" in again.out
    assert cli("plan", drained, "--detailed-exitcode").code == 0


def test_a_broken_source_of_a_file_to_create_stops_plan_and_apply_before_any_write(
    world: FleetWorld, cli: Cli
) -> None:
    _applied(world, cli)
    mutations = world.mutations()
    world.files.append(NEW)  # declared, its source never written
    desired = world.write(config={"debug": True})  # a change on every target besides
    for argv in (("plan",), ("apply", "--auto-approve")):
        result = cli(argv[0], desired, *argv[1:])
        assert result.code == 1, result.text
        assert "desired-state.yaml:" in result.err
        assert f"auth-files.files[{len(world.files) - 1}].source" in result.err
        assert f"auth/{NEW} does not exist" in result.err
    assert world.mutations() == mutations  # the config changes waited too
    assert all("debug: true" not in e.config_yaml() for e in world.emus.values())


def test_replace_true_reads_the_source_of_a_file_a_server_holds(
    world: FleetWorld, cli: Cli
) -> None:
    _applied(world, cli)
    (world.project.root / "auth" / world.files[0]).write_text("[]")
    doc: dict[str, Any] = world.doc()
    doc["auth-files"]["files"][0]["replace"] = True
    desired = world.project.write(dump_yaml(doc))

    planned = cli("plan", desired)

    assert planned.code == 1, planned.text
    assert f"auth/{world.files[0]} is not a JSON object" in planned.err


def test_an_unfinished_move_needs_no_source(
    project: Project,
    emulator_factory: Callable[..., Emulator],
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    world = FleetWorld.create(project, emulator_factory, monkeypatch, n_files=1)
    name = world.files[0]
    assert cli("apply", world.write(pins={name: "eu-1"}), "--auto-approve").code == 0
    desired = world.write(pins={name: "us-1"})
    world.emus["us-1"].inject_fault("POST", "/auth-files", nth=1, times=1, status=500)
    failed = cli("apply", desired, "--auto-approve", "--allow-moves")
    assert failed.code == 1, failed.text
    assert name not in world.where()  # in the journal (and a backup) only
    _break_sources(world, None)

    planned = cli("plan", desired, "--detailed-exitcode")
    assert planned.code == 2, planned.text  # the move, completed from the journal
    assert "does not exist" not in planned.err
    done = cli("apply", desired, "--auto-approve", "--allow-moves")
    assert done.code == 0, done.text
    assert world.where()[name] == ["us-1"]
