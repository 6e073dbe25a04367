"""A value that came from ``${env:}`` or ``${file:}`` never comes out, wherever it was used.

One distinctive value, ``PLANTED-7f3a9``, is planted (inside each resolved value) in every place
a reference is allowed: the management key, config values at secret and at ordinary keys, a
whole value and part of one, a ``config-file``'s values, auth-file ``fields`` values and an
auth-file ``source`` path. Every output is then searched for it: ``validate``, ``plan`` as text,
``--json``, ``--markdown`` and the ``--out`` plan file, ``apply``, the plan after it, the backup
manifest, error messages that name a referenced value, and ``export`` for the values it can
classify. The places where a reference is refused (an auth-file name, ``target.url``,
``config-file``, ``protect``, ``ignore``) are refused without showing the value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler import cli
from reconciler.emulator import Emulator

PLANT = "PLANTED-7f3a9"
KEY = f"mgmt-{PLANT}-key"
ENV = {
    "CPA_MANAGEMENT_KEY": KEY,
    "CLIENT_KEY": f"sk-{PLANT}-client",
    "PROXY_HOST": f"relay-{PLANT}.internal",  # an ordinary key: masked only as a reference
    "MODEL": f"model-{PLANT}",
    "NOTE": f"note-{PLANT}",
    "TEAM": f"team-{PLANT}",
    "CODEX_KEY": f"sk-codex-{PLANT}",
    "SOURCE": f"auth/alice-{PLANT}.json",
    "NAME": f"alice-{PLANT}.json",
    "URL": f"http://127.0.0.1:9/{PLANT}",
}
FILE_SECRET = f"prefix-{PLANT}"

DESIRED = """\
target:
  management-key: ${env:CPA_MANAGEMENT_KEY}
config:
  api-keys: ["${env:CLIENT_KEY}", literal-client-key]
  proxy-url: http://${env:PROXY_HOST}:3128
  gpt-image-2-base-model: ${env:MODEL}
  remote-management:
    allow-remote: false
    secret-key: ${env:CPA_MANAGEMENT_KEY}
auth-files:
  files:
    - name: alice.json
      source: ${env:SOURCE}
      fields:
        note: ${env:NOTE}
        prefix: ${file:secrets/prefix.txt}
        headers.X-Team: team ${env:TEAM}
"""
CONFIG_FILE = """\
codex-api-key:
  - api-key: ${env:CODEX_KEY}
    base-url: https://api.openai.com/v1
gpt-image-2-base-model: "${env:MODEL}"
remote-management:
  allow-remote: false
  secret-key: ${env:CPA_MANAGEMENT_KEY}
"""


def make_repo(root: Path) -> None:
    (root / "auth").mkdir(parents=True)
    (root / "secrets").mkdir()
    (root / "secrets" / "prefix.txt").write_text(FILE_SECRET + "\n")
    source = {"type": "codex", "email": "alice@example.com", "access_token": "at-x"}
    (root / ENV["SOURCE"]).write_text(json.dumps(source))
    (root / "desired-state.yaml").write_text(DESIRED)
    (root / "cpa-config.yaml").write_text(CONFIG_FILE)
    head, tail = DESIRED.split("config:")[0], DESIRED.split("auth-files:")[1]
    with_file = f"{head}config-file: cpa-config.yaml\nauth-files:{tail}"
    (root / "with-config-file.yaml").write_text(with_file)


class Outputs:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.seen: list[tuple[str, str]] = []

    def run(self, *argv: str | Path, expect: int = 0) -> str:
        self.capsys.readouterr()
        code = cli.main([str(a) for a in argv])
        printed = self.capsys.readouterr()
        text = printed.out + printed.err
        self.seen.append((" ".join(str(a) for a in argv[:2]), text))
        assert code == expect, text
        return text

    def add(self, where: str, text: str) -> None:
        self.seen.append((where, text))

    def assert_clean(self) -> None:
        leaks = [
            f"{where}: {line}" for where, t in self.seen for line in t.splitlines() if PLANT in line
        ]
        assert not leaks, "a referenced value got out:\n" + "\n".join(leaks[:20])


@pytest.fixture
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    repo = tmp_path / "repo"
    make_repo(repo)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(repo)
    with Emulator(management_key=KEY) as emu:
        monkeypatch.setenv("CPA_URL", emu.url)
        yield repo, emu, Outputs(capsys)


@pytest.mark.parametrize("desired", ["desired-state.yaml", "with-config-file.yaml"])
def test_no_referenced_value_in_any_output(world: Any, desired: str) -> None:
    repo, emu, out = world
    out.run("validate", desired)
    assert "alice.json" in out.run("plan", desired)
    out.run("plan", desired, "--markdown")
    doc = json.loads(out.run("plan", desired, "--json"))
    assert doc["summary"]["has_changes"]
    out.run("plan", desired, "--out", "saved.plan")
    out.add("the plan file", (repo / "saved.plan").read_text())
    out.run("apply", desired, "--plan", "saved.plan")
    assert "team " + ENV["TEAM"] == emu.read_auth_file("alice.json")["headers"]["X-Team"]
    assert ENV["MODEL"] in emu.config_yaml()  # the values were applied
    out.run("plan", desired, "--detailed-exitcode")
    for manifest in repo.rglob("manifest.json"):
        out.add(str(manifest), manifest.read_text())
    exported = out.run("export")
    # export reads the server, not the desired state: it hides what it can classify as secret
    # (keys, tokens, headers, user-info); a referenced value at an ordinary key (a model name)
    # is, to it, an ordinary value.
    for value in (KEY, ENV["CLIENT_KEY"], ENV["CODEX_KEY"]):
        assert value not in exported
    out.seen.pop()
    out.assert_clean()


def test_errors_about_a_referenced_value_name_the_reference(world: Any) -> None:
    repo, _emu, out = world
    bad = DESIRED.replace("prefix: ${file:secrets/prefix.txt}", "weight: ${env:TEAM}")
    (repo / "bad-weight.yaml").write_text(bad)
    text = out.run("plan", "bad-weight.yaml", expect=1)
    assert "${env:TEAM}" in text
    padded = DESIRED.replace("headers.X-Team: team ${env:TEAM}", 'headers.X-Team: " ${env:TEAM}"')
    (repo / "bad-header.yaml").write_text(padded)
    assert "${env:TEAM}" in out.run("plan", "bad-header.yaml", expect=1)
    missing = DESIRED.replace("${env:SOURCE}", "${env:SOURCE}.missing")
    (repo / "bad-source.yaml").write_text(missing)
    assert "${env:SOURCE}" in out.run("plan", "bad-source.yaml", expect=1)
    out.assert_clean()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("- name: alice.json", "- name: ${env:NAME}"),
        ("management-key:", "url: ${env:URL}\n  management-key:"),
        ("auth-files:\n", "auth-files:\n  protect: ['${env:NAME}']\n"),
        ("auth-files:\n", "config-policy:\n  ignore: ['${env:MODEL}']\nauth-files:\n"),
    ],
    ids=["auth-file name", "target.url", "protect", "config-policy.ignore"],
)
def test_a_reference_in_an_identifier_is_refused_without_its_value(
    world: Any, old: str, new: str
) -> None:
    repo, emu, out = world
    (repo / "bad.yaml").write_text(DESIRED.replace(old, new, 1))
    for command in ("validate", "plan"):
        text = out.run(command, "bad.yaml", expect=1)
        assert "bad.yaml:" in text and "reference" in text and "literally" in text
    assert not [r for r in emu.requests() if r.is_management]
    out.assert_clean()


def test_a_config_file_path_from_a_reference_is_refused_without_its_value(world: Any) -> None:
    repo, _emu, out = world
    text = DESIRED.split("config:")[0] + "config-file: ${env:SOURCE}\n"
    (repo / "bad.yaml").write_text(text)
    assert "config-file: '${env:SOURCE}' is a reference" in out.run("plan", "bad.yaml", expect=1)
    out.assert_clean()
