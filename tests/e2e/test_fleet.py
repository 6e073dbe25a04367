"""A fleet on three emulators, end to end through the CLI: spread, drain and back (must-show 1),
refreshed tokens carried by a move (2), a duplicate account (4), one server down or 401 (5)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from e2e_helpers import Cli, Project
from fleet_world import FleetWorld

from reconciler.emulator import Emulator


@pytest.fixture
def world(
    project: Project, emulator_factory: Callable[..., Emulator], monkeypatch: pytest.MonkeyPatch
) -> FleetWorld:
    return FleetWorld.create(project, emulator_factory, monkeypatch)


def test_spread_drain_and_back(world: FleetWorld, cli: Cli) -> None:
    desired = world.write()
    first = cli("plan", desired, "--detailed-exitcode")
    assert first.code == 2, first.text
    assert cli("apply", desired, "--auto-approve").code == 0
    where = world.where()
    assert sorted(where) == sorted(world.files)
    assert all(len(t) == 1 for t in where.values())
    before = {f: t[0] for f, t in where.items()}
    assert set(before.values()) == set(world.emus)  # every target got some
    again = cli("plan", desired, "--detailed-exitcode")
    assert again.code == 0, again.text

    drained = world.write(drain=["eu-2"])
    on_eu2 = {f for f, t in before.items() if t == "eu-2"}
    plan = cli("plan", drained, "--json", "--detailed-exitcode")
    assert plan.code == 2
    moves = plan.json()["moves"]
    assert {m["name"] for m in moves} == on_eu2
    assert all(m["from"]["target"] == "eu-2" and m["to"]["target"] != "eu-2" for m in moves)
    assert 3 <= len(on_eu2) <= 18  # about a third of 30

    mutations = world.mutations()
    refused = cli("apply", drained, "--auto-approve")
    assert refused.code == 4, refused.text
    assert "--allow-moves" in refused.text
    assert world.mutations() == mutations
    assert {f: t[0] for f, t in world.where().items()} == before

    moved = cli("apply", drained, "--auto-approve", "--allow-moves")
    assert moved.code == 0, moved.text
    during = world.where()
    assert all(len(t) == 1 for t in during.values()) and sorted(during) == sorted(world.files)
    assert not [f for f, t in during.items() if t == ["eu-2"]]
    assert {f for f in world.files if during[f] != [before[f]]} == on_eu2
    assert cli("plan", drained, "--detailed-exitcode").code == 0
    assert not list((world.project.state_dir / "moves").glob("*.json"))

    desired = world.write()  # drain removed
    back = cli("apply", desired, "--auto-approve", "--allow-moves")
    assert back.code == 0, back.text
    assert {f: t[0] for f, t in world.where().items()} == before
    assert cli("plan", desired, "--detailed-exitcode").code == 0
    assert cli("plan", desired, "--json").code == 0
    for result in cli.results:  # keys and tokens never shown, in text or JSON
        assert "PLANTED" not in result.text


def test_a_move_carries_the_tokens_refreshed_since_the_plan(world: FleetWorld, cli: Cli) -> None:
    name = world.files[0]
    desired = world.write(pins={name: "eu-1"})
    assert cli("apply", desired, "--auto-approve").code == 0
    moved = world.write(pins={name: "us-1"})
    plan = cli("plan", moved, "--json")
    assert [m["name"] for m in plan.json()["moves"]] == [name]
    world.emus["eu-1"].refresh_auth_file(name)  # CPA refreshes it between plan and apply
    refreshed = world.content("eu-1", name)
    assert refreshed["refresh_token"] != world.project.root.joinpath("auth", name).read_text()
    assert cli("apply", moved, "--auto-approve", "--allow-moves").code == 0
    assert world.where()[name] == ["us-1"]
    arrived = world.content("us-1", name)
    assert arrived["refresh_token"] == refreshed["refresh_token"]
    assert arrived["access_token"] == refreshed["access_token"]


def test_same_account_on_two_servers_is_a_duplicate_kept_newest(
    world: FleetWorld, cli: Cli
) -> None:
    name = world.files[0]
    world.files[:] = [name]
    desired = world.write(pins={name: "eu-1"})
    assert cli("apply", desired, "--auto-approve").code == 0
    world.emus["eu-1"].set_auth_state(name, last_refresh="2026-01-01T00:00:00Z")
    copy = dict(world.content("eu-1", name), refresh_token="rt-newer-PLANTED")
    world.emus["us-1"].write_auth_file("claude-copy.json", copy)
    world.emus["us-1"].set_auth_state("claude-copy.json", last_refresh="2026-02-01T00:00:00Z")

    plan = cli("plan", desired, "--detailed-exitcode")
    assert plan.code == 2
    assert "! duplicate credential claude:user00@example.com on eu-1" in plan.out
    dup = cli("plan", desired, "--json").json()["duplicates"][0]
    assert dup["keep"] == {
        "target": "us-1",
        "name": "claude-copy.json",
        "last_refresh": dup["keep"]["last_refresh"],
    }

    assert cli("apply", desired, "--auto-approve").code == 4
    applied = cli("apply", desired, "--auto-approve", "--allow-moves")
    assert applied.code == 0, applied.text
    assert world.where() == {name: ["eu-1"]}
    assert world.content("eu-1", name)["refresh_token"] == "rt-newer-PLANTED"
    backed_up = sorted(p.name for p in world.project.state_dir.glob("backups/*/auth-files/*"))
    assert backed_up == sorted([name, "claude-copy.json"])
    assert cli("plan", desired, "--detailed-exitcode").code == 0


@pytest.mark.parametrize("how", ["down", "401"])
def test_one_server_down_the_others_are_planned_and_applied(
    world: FleetWorld, cli: Cli, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    desired = world.write(config={"debug": True})
    if how == "down":
        world.emus["eu-2"].stop()
    else:
        monkeypatch.setenv("CPA_KEY_EU_2", "wrong-key-PLANTED")
    plan = cli("plan", desired, "--detailed-exitcode")
    assert plan.code == 1
    assert "target eu-2 was not read" in plan.err
    assert "== target eu-1 ==" in plan.out and "== target us-1 ==" in plan.out
    # spread files whose copy may sit on eu-2 are not created elsewhere meanwhile
    assert "Deferred:" in plan.out
    applied = cli("apply", desired, "--auto-approve")
    assert applied.code == 1
    assert "target eu-2 was not read" in applied.err
    assert "target eu-1: 1 action(s) done." in applied.out, applied.out
    assert "target us-1: 1 action(s) done." in applied.out
    for name in ("eu-1", "us-1"):
        assert "debug: true" in world.emus[name].config_yaml()
    assert "wrong-key-PLANTED" not in applied.text


def test_validate_a_fleet_file(world: FleetWorld, cli: Cli) -> None:
    ok = cli("validate", world.write())
    assert ok.code == 0, ok.text
    assert "valid fleet (3 targets, 30 auth files placed eu-1:" in ok.out
    bad = cli("validate", world.write(pins={world.files[0]: "nowhere"}))
    assert bad.code == 1
    assert "desired-state.yaml:" in bad.err and "unknown target 'nowhere'" in bad.err
    assert world.mutations() == 0 and not any(e.requests() for e in world.emus.values())
