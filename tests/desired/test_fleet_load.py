"""Loading a fleet file (``targets:``): the model it builds, and every refusal naming file:line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.desired import fleet as fleet_loader
from reconciler.desired.loader import LoadedDesired
from reconciler.errors import DesiredStateError

ENV = {"K1": "key-one", "K2": "key-two", "K3": "key-three", "PROXY": "http://u:p@egress:3128"}

BASE = """\
targets:
  eu-1:
    url: http://127.0.0.1:1001
    management-key: ${env:K1}
  eu-2:
    url: http://127.0.0.1:1002
    management-key: ${env:K2}
    max-deletions: 9
  us-1:
    url: http://127.0.0.1:1003
    management-key: ${env:K3}
    weight: 2
config:
  debug: false
  routing: {strategy: round-robin}
  api-keys: [a, b]
target-config:
  us-1:
    proxy-url: ${env:PROXY}
    routing: {session-affinity: true}
    api-keys: [c]
auth-files:
  placement: spread
  max-deletions: 3
  files:
    - name: alice.json
      source: auth/alice.json
      target: eu-1
    - name: bob.json
      source: auth/bob.json
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "auth").mkdir(exist_ok=True)
    for who in ("alice", "bob"):
        (tmp_path / "auth" / f"{who}.json").write_text(json.dumps({"type": "claude", "email": who}))
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return path


def test_fleet_file_is_loaded_into_per_target_states(tmp_path: Path) -> None:
    loaded = fleet_loader.load_any(write(tmp_path, BASE), environ=ENV)
    assert isinstance(loaded, fleet_loader.LoadedFleet)
    f = loaded.fleet
    assert f.names == ("eu-1", "eu-2", "us-1") and f.target("us-1").weight == 2
    assert f.pins == {"alice.json": "eu-1"} and f.placement == "spread"
    us = f.states["us-1"].config
    assert us == {
        "debug": False,
        "routing": {"strategy": "round-robin", "session-affinity": True},
        "api-keys": ["c"],
        "proxy-url": ENV["PROXY"],
    }
    assert f.states["eu-1"].config == {
        "debug": False,
        "routing": {"strategy": "round-robin"},
        "api-keys": ["a", "b"],
    }
    assert ("proxy-url",) in f.states["us-1"].secret_paths
    assert ("proxy-url",) not in f.states["eu-1"].secret_paths
    assert f.states["eu-2"].auth_policy.max_deletions == 9
    assert f.states["eu-1"].auth_policy.max_deletions == 3
    assert loaded.endpoints["eu-2"].management_key == "key-two"
    assert "key-two" not in repr(loaded.endpoints)


def test_single_target_file_goes_to_the_loader(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text("target:\n  url: http://127.0.0.1:1\n# targets: only a comment\n")
    assert isinstance(fleet_loader.load_any(path, environ={}), LoadedDesired)


def refusal(words: str, *edits: tuple[str, str], at: str | None = None) -> Any:
    """A case of BASE made wrong by ``edits`` (old, new), refused with ``words`` at the line
    of ``at`` (by default the first line of the first edit's new text)."""
    where = at if at is not None else edits[0][1].splitlines()[0]
    return pytest.param(edits, where, words, id=words)


@pytest.mark.parametrize(
    ("edits", "at", "words"),
    [
        refusal(
            "target and targets are both set",
            ("targets:", "target: {url: http://127.0.0.1:9}\ntargets:"),
        ),
        refusal("unknown target 'eu-9'", ("target: eu-1", "target: eu-9")),
        refusal("unknown target 'us-9'", ("  us-1:\n    proxy", "  us-9:\n    proxy")),
        refusal(
            "drains",
            ("    weight: 2", "    weight: 2\n    drain: true"),
            ("target: eu-1", "target: us-1"),
            at="target: us-1",
        ),
        refusal("has no target", ("  placement: spread\n", ""), at="name: bob.json"),
        refusal(
            "duplicate auth-file name",
            ("name: bob.json", "name: alice.json"),
            at="name: alice.json\n      source: auth/bob",
        ),
        refusal("same server as target eu-1", ("http://127.0.0.1:1002", "http://127.0.0.1:1001/")),
        refusal("greater than 0", ("    weight: 2", "    weight: 0")),
        refusal("is a reference", ("url: http://127.0.0.1:1001", "url: ${env:K1}")),
        refusal("not a valid target name", ("  eu-2:", "  'eu 2':")),
    ],
)
def test_refusals_name_file_and_line(
    tmp_path: Path, edits: tuple[tuple[str, str], ...], at: str, words: str
) -> None:
    text = BASE
    for old, new in edits:
        text = text.replace(old, new)
    assert text != BASE
    line = text[: text.index(at)].count("\n") + 1 + at[: at.index(at.strip()[0])].count("\n")
    path = write(tmp_path, text)
    with pytest.raises(DesiredStateError) as err:
        fleet_loader.load_any(path, environ=ENV)
    shown = str(err.value)
    assert words in shown
    assert f"fleet.yaml:{line}:" in shown
    assert "key-one" not in shown and "key-two" not in shown


def test_the_fleet_example_loads() -> None:
    example = Path(__file__).parents[2] / "examples" / "fleet" / "desired-state.yaml"
    env = dict.fromkeys(("CPA_KEY_EU_1", "CPA_KEY_EU_2", "CPA_KEY_US_1"), "x-PLANTED")
    env["US_EGRESS_PROXY"] = "http://egress.us:3128"
    loaded = fleet_loader.load_any(example, environ=env)
    assert isinstance(loaded, fleet_loader.LoadedFleet)
    assert loaded.fleet.names == ("eu-1", "eu-2", "us-1")
    placed = loaded.fleet.placed()
    assert placed["codex-alice@example.com-plus.json"] == "eu-1"
    assert set(placed) == {f.name for f in loaded.fleet.files}


def test_the_published_schema_takes_a_fleet_file() -> None:
    from reconciler.desired.loader import desired_state_schema

    schema = desired_state_schema()
    defs = schema["$defs"]
    targets = schema["properties"]["targets"]
    assert targets["additionalProperties"]["$ref"] == "#/$defs/FleetTargetSpec"
    assert {"url", "management-key", "weight", "drain", "max-deletions"} <= set(
        defs["FleetTargetSpec"]["properties"]
    )
    assert defs["FleetTargetSpec"]["required"] == ["url", "management-key"]
    assert defs["AuthFilesSpec"]["properties"]["placement"]["enum"] == ["spread", "pinned"]
    assert "target" in defs["AuthFileEntrySpec"]["properties"]
    assert schema["not"] == {"required": ["target", "targets"]}
