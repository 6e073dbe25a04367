"""The commands a single-target file has, on a fleet file: plan --out / apply --plan (stale per
target, moves and duplicates part of the saved plan), plan --markdown, status, export, and
inside the file ${management-key}, config-file and the config-key check."""

from __future__ import annotations

import json
from collections.abc import Callable

import bcrypt
import pytest
import yaml
from e2e_helpers import Cli, Project, dump_yaml, secret_key_line
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


# ---------------------------------------------------------------------------------------------
# plan --out / apply --plan, plan --markdown


def test_saved_fleet_plan_with_moves_is_applied(world: FleetWorld, cli: Cli) -> None:
    assert cli("apply", world.write(), "--auto-approve").code == 0
    before = {f: t[0] for f, t in world.where().items()}
    drained = world.write(drain=["eu-2"], config={"debug": True})
    planfile = world.project.root / "fleet.plan.json"
    saved = cli("plan", drained, "--out", planfile)
    assert saved.code == 0, saved.text
    assert f"--plan {planfile} --allow-moves" in saved.out
    assert planfile.stat().st_mode & 0o777 == 0o600
    doc = json.loads(planfile.read_text())
    assert doc["kind"] == "fleet" and doc["moves"]
    for section in doc["targets"].values():
        assert section["plan"]["desired_fingerprint"] and section["plan"]["live_fingerprint"]
    assert "PLANTED" not in planfile.read_text()

    mutations = world.mutations()
    refused = cli("apply", drained, "--plan", planfile)  # moves still need --allow-moves
    assert refused.code == 4 and world.mutations() == mutations
    applied = cli("apply", drained, "--plan", planfile, "--allow-moves")
    assert applied.code == 0, applied.text
    after = world.where()
    assert all(len(t) == 1 for t in after.values()) and "eu-2" not in {t[0] for t in after.values()}
    assert {f for f in before if after[f] != [before[f]]} == {
        f for f, t in before.items() if t == "eu-2"
    }
    for emu in world.emus.values():
        assert "debug: true" in emu.config_yaml()
    again = cli("apply", drained, "--plan", planfile, "--allow-moves")  # a retried CI job
    assert again.code == 0, again.text
    assert "was already applied" in again.out
    assert cli("plan", drained, "--detailed-exitcode").code == 0


def test_a_fleet_plan_whose_moves_changed_is_stale(world: FleetWorld, cli: Cli) -> None:
    assert cli("apply", world.write(), "--auto-approve").code == 0
    drained = world.write(drain=["eu-2"])
    planfile = world.project.root / "fleet.plan.json"
    assert cli("plan", drained, "--out", planfile).code == 0
    moved = json.loads(planfile.read_text())["moves"][0]
    # someone deletes a credential that the plan moves, on its source
    (world.emus["eu-2"].auth_dir / moved["name"]).unlink()
    mutations = world.mutations()
    stale = cli("apply", drained, "--plan", planfile, "--allow-moves")
    assert stale.code == 3, stale.text
    assert "is stale" in stale.err and "the moves" in stale.err
    assert world.mutations() == mutations


def test_a_fleet_plan_is_stale_when_the_desired_state_changed(world: FleetWorld, cli: Cli) -> None:
    planfile = world.project.root / "fleet.plan.json"
    assert cli("plan", world.write(), "--out", planfile).code == 0
    changed = world.write(config={"debug": True})
    stale = cli("apply", changed, "--plan", planfile)
    assert stale.code == 3 and "the desired state changed" in stale.err, stale.text
    assert world.mutations() == 0


def test_wrong_plan_files_are_refused_before_any_request(
    world: FleetWorld, cli: Cli, emulator: Emulator
) -> None:
    desired = world.write()
    planfile = world.project.root / "fleet.plan.json"
    assert cli("plan", desired, "--out", planfile, "--target", "eu-1").code == 0
    for emu in world.emus.values():
        emu.reset_requests()
    other = cli("apply", desired, "--plan", planfile)  # planned for eu-1 only
    assert other.code == 1 and "Give the same --target" in other.err, other.text
    single = world.project.write(
        dump_yaml({"target": {"url": emulator.url, "management-key": "x"}}), "single.yaml"
    )
    as_single = cli("apply", single, "--plan", planfile)
    assert as_single.code == 1 and "is the plan of a fleet" in as_single.err
    assert not any(e.requests() for e in world.emus.values())


def test_plan_markdown_on_a_fleet(world: FleetWorld, cli: Cli) -> None:
    assert cli("apply", world.write(), "--auto-approve").code == 0
    md = cli("plan", world.write(drain=["eu-2"], config={"debug": True}), "--markdown")
    assert md.code == 0, md.text
    for name in world.emus:
        assert f"### target {name}" in md.out
    assert "#### cpa-reconciler:" in md.out
    assert "**Moves (apply needs --allow-moves)**" in md.out
    assert "Fleet: " in md.out and "PLANTED" not in md.out


# ---------------------------------------------------------------------------------------------
# status


def test_status_on_a_fleet_is_grouped_by_target(world: FleetWorld, cli: Cli) -> None:
    desired = world.write()
    assert cli("apply", desired, "--auto-approve").code == 0
    where = {f: t[0] for f, t in world.where().items()}
    mutations = world.mutations()
    text = cli("status", desired)
    assert text.code == 0, text.text
    for name, emu in world.emus.items():
        assert f"== target {name} ==" in text.out
        assert f"Credentials on {emu.url}" in text.out
    doc = cli("status", desired, "--json").json()
    assert doc["kind"] == "fleet" and list(doc["targets"]) == list(world.emus)
    for name, section in doc["targets"].items():
        assert section["error"] is None
        rows = section["status"]["credentials"]
        assert {r["name"] for r in rows} == {f for f, t in where.items() if t == name}
        assert all(r["declared"] == "declared" for r in rows)
    assert doc["summary"]["credentials"] == len(world.files)
    only = cli("status", desired, "--json", "--target", "us-1").json()
    assert list(only["targets"]) == ["us-1"]
    assert world.mutations() == mutations
    for result in cli.results:
        assert "PLANTED" not in result.text


def test_status_names_the_server_that_is_down_after_the_others(world: FleetWorld, cli: Cli) -> None:
    desired = world.write()
    assert cli("apply", desired, "--auto-approve").code == 0
    world.emus["eu-2"].stop()
    text = cli("status", desired, "--detailed-exitcode")
    assert text.code == 1
    assert "error: target eu-2 was not read" in text.err
    assert "== target eu-1 ==" in text.out and "== target us-1 ==" in text.out
    assert "Credentials on " + world.emus["us-1"].url in text.out
    doc = cli("status", desired, "--json")
    assert doc.code == 1
    data = doc.json()
    assert data["summary"]["failed_targets"] == ["eu-2"]
    assert data["targets"]["eu-2"]["status"] is None and data["targets"]["eu-2"]["error"]
    assert data["targets"]["eu-1"]["status"]["credentials"]


# ---------------------------------------------------------------------------------------------
# export


def test_export_a_fleet_round_trips(
    world: FleetWorld, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = {"remote-management": {"secret-key": "${management-key}"}}
    desired = world.write(
        config={"debug": True, "request-retry": 2, "api-keys": ["${env:CLIENT_KEY}"], **secret},
        **{
            "target-config": {
                "us-1": {"request-retry": 5, "proxy-url": "http://egress.us:3128"},
                "eu-2": {"api-keys": ["${env:EU2_CLIENT_KEY}"]},
            }
        },
    )
    monkeypatch.setenv("CLIENT_KEY", "client-key-PLANTED")
    monkeypatch.setenv("EU2_CLIENT_KEY", "eu2-client-key-PLANTED")
    assert cli("apply", desired, "--auto-approve").code == 0, cli.results[-1].text
    where = {f: t[0] for f, t in world.where().items()}

    bootstrap = world.project.write(
        dump_yaml({"targets": world.doc()["targets"]}), "bootstrap.yaml"
    )
    exported = world.project.root / "exported.yaml"
    env_file = world.project.root / "exported.env"
    result = cli("export", bootstrap, "--output", exported, "--env-file", env_file)
    assert result.code == 0, result.text
    text = exported.read_text()
    assert "PLANTED" not in text and "PLANTED" not in result.text
    doc = yaml.safe_load(text)
    assert list(doc["targets"]) == list(world.emus)
    assert doc["targets"]["eu-1"]["management-key"] == "${env:CPA_KEY_EU_1}"
    # shared: what every server has; each override: what differs (request-retry is 2 on two
    # servers and 5 on the third, so it is not shared)
    assert doc["config"]["debug"] is True and "request-retry" not in doc["config"]
    assert doc["config"]["remote-management"]["secret-key"] == "${management-key}"
    overrides = doc["target-config"]  # (port and auth-dir differ: each emulator has its own)
    assert overrides["us-1"]["request-retry"] == 5 and overrides["eu-1"]["request-retry"] == 2
    assert overrides["us-1"]["proxy-url"] == "http://egress.us:3128"
    assert overrides["eu-1"].get("proxy-url", "") == ""
    assert overrides["eu-1"]["api-keys"][0].startswith("${env:CPA_EU_1_")
    assert overrides["eu-2"]["api-keys"][0].startswith("${env:CPA_EU_2_")
    files = {f["name"]: f["target"] for f in doc["auth-files"]["files"]}
    assert files == where
    for line in env_file.read_text().splitlines():
        if not line.startswith("#"):
            name, _, value = line.partition("=")
            monkeypatch.setenv(name, value.strip("'"))
    mutations = world.mutations()
    plan = cli("plan", exported, "--detailed-exitcode")
    assert plan.code == 0, plan.text
    assert world.mutations() == mutations


def test_export_takes_only_a_fleet_file_and_needs_every_target(
    world: FleetWorld, cli: Cli, emulator: Emulator
) -> None:
    single = world.project.write(
        dump_yaml({"target": {"url": emulator.url, "management-key": "x"}}), "single.yaml"
    )
    refused = cli("export", single)
    assert refused.code == 1 and "is not a fleet file" in refused.err
    desired = world.write()
    world.emus["us-1"].stop()
    out = world.project.root / "exported.yaml"
    down = cli("export", desired, "--output", out)
    assert down.code == 1 and "target us-1 could not be read" in down.err, down.text
    assert not out.exists()
