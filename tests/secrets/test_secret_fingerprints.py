"""A plan that changes a list of secrets says which one left and which came, without showing them.

``- api-keys[]: *** (a1b2c3)``: a short HMAC of the value under a key derived from the
management key (as the plan file's fingerprints). The same value gives the same fingerprint
in every run and every output (text, Markdown, JSON); two values give two; neither the value
nor a plain hash of it is ever shown.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler import cli
from reconciler.emulator import Emulator

KEY = "fp-mgmt-key-0000"
STAYS, LEAVES, COMES = "sk-stays-Fp41", "sk-leaves-Fp42", "sk-comes-Fp43"
Plan = Callable[..., str]
ROW = re.compile(r"^\W*([+-]) +api-keys\[\]: \*\*\* \(([0-9a-f]{6})\)$", re.MULTILINE)


def live_config(auth_dir: Path, key: str) -> str:
    return (
        f'host: "127.0.0.1"\nport: 8317\nauth-dir: "{auth_dir}"\n'
        f'remote-management:\n  allow-remote: false\n  secret-key: "{key}"\n'
        f'api-keys:\n  - "{STAYS}"\n  - "{LEAVES}"\n'
    )


@pytest.fixture
def run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Plan:
    monkeypatch.setenv("NO_COLOR", "1")
    desired = tmp_path / "desired-state.yaml"

    def plan(key: str, *flags: str) -> str:
        monkeypatch.setenv("CPA_MANAGEMENT_KEY", key)
        with Emulator(management_key=None, config_yaml=live_config(tmp_path / "auths", key)) as emu:
            desired.write_text(
                json.dumps({"target": {"url": emu.url}, "config": {"api-keys": [STAYS, COMES]}}),
                encoding="utf-8",
            )
            code = cli.main(["plan", str(desired), *flags])
        printed = capsys.readouterr()
        assert code == 0, printed.err
        return printed.out

    return plan


def rows(text: str) -> dict[str, str]:
    return dict(ROW.findall(text))


def test_the_key_that_left_and_the_key_that_came_show_different_fingerprints(run: Plan) -> None:
    text = run(KEY)
    found = rows(text)
    assert set(found) == {"-", "+"}, text
    assert found["-"] != found["+"]


def test_fingerprints_are_stable_across_runs_and_outputs(run: Plan) -> None:
    first, second = rows(run(KEY)), rows(run(KEY))
    assert first == second
    markdown = rows(run(KEY, "--markdown"))
    assert markdown == first
    doc = json.loads(run(KEY, "--json"))
    [config] = [r for r in doc["resource_changes"] if r["kind"] == "config"]
    by_side = {
        "-" if "before_fingerprint" in c else "+": c.get("before_fingerprint")
        or c.get("after_fingerprint")
        for c in config["changes"]
        if c["path"] == "api-keys"
    }
    assert {sign: fp.split(":")[1][:6] for sign, fp in by_side.items()} == first


def test_another_management_key_gives_other_fingerprints(run: Plan) -> None:
    assert rows(run(KEY)).keys() == rows(run("fp-other-key-1111")).keys()
    assert set(rows(run(KEY)).values()).isdisjoint(rows(run("fp-other-key-1111")).values())


def test_neither_the_value_nor_a_plain_hash_of_it_is_shown(run: Plan) -> None:
    everything = run(KEY) + run(KEY, "--markdown") + run(KEY, "--json")
    for value in (STAYS, LEAVES, COMES):
        assert value not in everything
        for text in (value, json.dumps(value), json.dumps(value, separators=(",", ":"))):
            for algorithm in ("sha256", "sha1", "md5"):
                digest = hashlib.new(algorithm, text.encode()).hexdigest()
                assert digest[:6] not in everything, (value, algorithm)
