"""``plan`` starts its two reads while the desired file loads, with a key known to work only
(``pipeline.prefetch``), against the emulator over real HTTP.

What must hold: the plan is the same as without the early reads; a first run (or any run after
a failed attempt) sends nothing before the desired file is checked; with a known-good key a
bad desired file costs at most the two reads, never a write; a key changed on the server
meanwhile is recorded, so that runs with a bad file still never bring CPA near a ban.
"""

from __future__ import annotations

import json
from typing import Any

from e2e_helpers import (
    KEY,
    Cli,
    Project,
    auth_source,
    desired_doc,
    dump_yaml,
    management,
    rehash_secret,
)

from reconciler.emulator import Emulator
from reconciler.statedir import auth_record

LIVE = "codex-live@example.com.json"
READS = ["GET /v0/management/auth-files", "GET /v0/management/config.yaml"]


def _reads(emu: Emulator) -> list[str]:
    return sorted(f"{r.method} {r.path}" for r in management(emu))


def _broken_at_the_end(doc: dict[str, Any]) -> str:
    """``doc`` with an entry at its very end that the loader refuses (a name with a slash)."""
    doc["auth-files"]["files"].append({"name": "../escape.json", "disabled": True})
    return dump_yaml(doc)


def test_known_key_reads_early_and_plans_the_same(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    emu.write_auth_file(LIVE, auth_source("live@example.com"))
    project.write(desired_doc(config={"debug": True}, files=[{"name": LIVE, "disabled": True}]))

    first = cli("plan", project.desired, "--json")  # no record yet: reads after the load
    assert first.code == 0, first.text
    emu.reset_requests()
    second = cli("plan", project.desired, "--json")  # the key passed: reads while loading
    assert second.code == 0, second.text
    assert _reads(emu) == READS
    one, two = first.json(), second.json()
    one.pop("created_at")
    two.pop("created_at")
    assert one == two


def test_a_config_file_is_read_after_the_load(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    """``config-file`` names the config only when the load is done: the listing was read early,
    config.yaml is read then, once."""
    emu = target_env
    project.write({"debug": True}, name="config.yaml")
    doc = desired_doc(files=[])
    doc["config-file"] = "config.yaml"
    project.write(doc)
    assert cli("plan", project.desired).code == 0
    emu.reset_requests()
    planned = cli("plan", project.desired, "--detailed-exitcode")
    assert planned.code == 2, planned.text  # debug: false -> true
    assert "debug" in planned.out
    assert _reads(emu) == READS


def test_a_bad_desired_file_sends_nothing_on_a_first_run_and_only_reads_after(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    emu.write_auth_file(LIVE, auth_source("live@example.com"))
    good = desired_doc(config={"debug": False}, files=[{"name": LIVE}])
    project.write(_broken_at_the_end(json.loads(json.dumps(good))))

    refused = cli("plan", project.desired)
    assert refused.code == 1 and "desired-state.yaml:" in refused.err
    assert management(emu) == []  # no record: nothing sent before the file is checked

    project.write(good)
    assert cli("plan", project.desired).code == 0  # the key passes: recorded
    project.write(_broken_at_the_end(json.loads(json.dumps(good))))
    emu.reset_requests()
    refused = cli("plan", project.desired)
    assert refused.code == 1 and "desired-state.yaml:" in refused.err
    assert _reads(emu) == READS  # the two reads went out while loading, nothing else


def test_a_key_changed_on_the_server_is_recorded_even_when_the_file_is_bad(
    project: Project, target_env: Emulator, cli: Cli, monkeypatch: Any
) -> None:
    """The early reads meet 401 while the load fails: the record is still told (the plan
    waits for the reads before it exits), so the next runs send nothing early and the
    failed attempts stay below CPA's ban."""
    emu = target_env
    good = desired_doc(config={"debug": False}, files=[])
    project.write(good)
    assert cli("plan", project.desired).code == 0
    rehash_secret(emu, "rotated-PLANTED-key-0b1e")
    project.write(_broken_at_the_end(json.loads(json.dumps(good))))
    emu.reset_requests()
    for _ in range(5):
        assert cli("plan", project.desired).code == 1
    statuses = [r.status for r in management(emu)]
    assert statuses == [401, 401]  # the first run's two early reads, then nothing
    record = json.loads((project.state_dir / auth_record.RECORD).read_text())
    (entry,) = record["targets"].values()
    assert len(entry["failures"]) == 2 and "good" not in entry
    assert KEY not in json.dumps(record)


def test_early_reads_go_where_the_flags_say(
    project: Project, target_env: Emulator, cli: Cli, emulator_factory: Any
) -> None:
    """The early reads go to the target the plan is for, decided as ever (``--url`` over
    ``CPA_URL`` over ``target.url``): never to another server."""
    other = emulator_factory(management_key=KEY)
    emu = target_env
    doc = desired_doc(config={"debug": False}, files=[])
    project.write(doc)
    assert cli("plan", project.desired).code == 0
    assert cli("plan", project.desired, "--url", other.url).code == 0
    emu.reset_requests()
    other.reset_requests()
    planned = cli("plan", project.desired, "--url", other.url, "--json")
    assert planned.code == 0, planned.text
    assert planned.json()["target"]["url"] == other.url
    assert management(emu) == [] and _reads(other) == READS
