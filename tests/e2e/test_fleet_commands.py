"""The commands a single-target file has, on a fleet file: plan --out / apply --plan (stale per
target, moves and duplicates part of the saved plan), plan --markdown, status, export, and
inside the file ${management-key}, config-file and the config-key check."""

from __future__ import annotations

from collections.abc import Callable

import bcrypt
import pytest
from e2e_helpers import Cli, Project, secret_key_line
from fleet_world import FleetWorld, key_of

from reconciler.emulator import Emulator


@pytest.fixture
def world(
    project: Project, emulator_factory: Callable[..., Emulator], monkeypatch: pytest.MonkeyPatch
) -> FleetWorld:
    return FleetWorld.create(project, emulator_factory, monkeypatch, n_files=6)


# ---------------------------------------------------------------------------------------------
# Inside the file: ${management-key}, config-file, the config-key check


def test_management_key_is_each_targets_own_key(world: FleetWorld, cli: Cli) -> None:
    secret = {"remote-management": {"secret-key": "${management-key}"}}
    desired = world.write(config={"debug": True, **secret})
    plan = cli("plan", desired, "--json", "--detailed-exitcode")
    assert plan.code == 2, plan.text
    assert cli("apply", desired, "--auto-approve").code == 0
    for name, emu in world.emus.items():  # each server holds a hash of its own key
        hashed = secret_key_line(emu.config_yaml()).split(":", 1)[1].strip().strip('"')
        for other in world.emus:
            opens = bcrypt.checkpw(key_of(other).encode(), hashed.encode())
            assert opens == (other == name)
    assert cli("plan", desired, "--detailed-exitcode").code == 0
    for result in cli.results:
        assert "PLANTED" not in result.text


def test_config_file_is_shared_and_overridden_per_target(world: FleetWorld, cli: Cli) -> None:
    world.project.write("debug: true\nrequest-retry: 2\n", "cpa-config.yaml")
    desired = world.write(
        **{"config-file": "cpa-config.yaml", "target-config": {"us-1": {"request-retry": 5}}}
    )
    assert cli("apply", desired, "--auto-approve").code == 0
    assert "request-retry: 2" in world.emus["eu-1"].config_yaml()
    assert "request-retry: 5" in world.emus["us-1"].config_yaml()
    assert cli("plan", desired, "--detailed-exitcode").code == 0


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"config": {"reqest-retry": 3}}, "config.reqest-retry: unknown key (did you mean"),
        (
            {"target-config": {"us-1": {"debgu": True}}},
            "target-config.us-1.debgu: unknown key (did you mean 'debug'?)",
        ),
        (
            {"target-config": {"us-1": {"request-retry": "three"}}},
            "target-config.us-1.request-retry:",
        ),
    ],
)
def test_config_keys_are_checked_offline(
    world: FleetWorld, cli: Cli, extra: dict[str, object], says: str
) -> None:
    bad = cli("plan", world.write(**extra))
    assert bad.code == 1
    assert "desired-state.yaml:" in bad.err and says in bad.err, bad.err
    assert not any(e.requests() for e in world.emus.values())
    allowed = world.write(
        **extra, **{"config-policy": {"allow-unknown-keys": ["debgu", "reqest-retry"]}}
    )
    if "three" not in str(extra):
        assert cli("validate", allowed).code == 0


def test_management_key_elsewhere_is_refused(world: FleetWorld, cli: Cli) -> None:
    bad = cli("plan", world.write(config={"proxy-url": "${management-key}"}))
    assert bad.code == 1
    assert "allowed only at config.remote-management.secret-key" in bad.err, bad.err
    assert not any(e.requests() for e in world.emus.values())
