"""``reconciler export`` bootstraps a desired state from a live server: the file it writes
validates and, with the variables it lists set, plans with no changes.

Decisions recorded here:

* The operator sets each listed variable to the secret it stands for; the test reads those
  values from the live config.yaml at the place of each ``${env:...}`` reference (and the
  management key for ``CPA_MANAGEMENT_KEY``, whose live form is a hash).
* The exported file names its target, so CPA_URL is unset for the round trip.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from e2e_helpers import KEY, Cli, Project, auth_source, planted_in, web_ui_put
from ruamel.yaml import YAML

from reconciler.emulator import Emulator

REFERENCE = re.compile(r"^\$\{env:([A-Z0-9_]+)\}$")


def _references(value: Any, path: tuple[Any, ...] = ()) -> dict[str, tuple[Any, ...]]:
    found: dict[str, tuple[Any, ...]] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            found.update(_references(v, (*path, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found.update(_references(v, (*path, i)))
    elif isinstance(value, str) and (match := REFERENCE.match(value)):
        found[match.group(1)] = path
    return found


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _listed_variables(stderr: str) -> set[str]:
    return set(re.findall(r"^\s+([A-Z][A-Z0-9_]+)\s+\(", stderr, flags=re.MULTILINE))


def test_export_round_trips_to_a_plan_without_changes(
    example: Project,
    project: Project,
    target_env: Emulator,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = target_env
    assert cli("apply", example.desired, "--auto-approve").code == 0
    exported = project.root / "desired-state.yaml"

    result = cli("export", "--url", emu.url, "-o", exported)

    assert result.code == 0, result.text
    text = exported.read_text()
    assert planted_in(text + result.text) == []
    doc = YAML(typ="safe").load(text)
    files = {f["name"]: f for f in doc["auth-files"]["files"]}
    assert sorted(files) == [
        "antigravity-carol@example.com.json",
        "claude-bob@example.com.json",
        "codex-alice@example.com.json",
    ]
    assert files["antigravity-carol@example.com.json"]["disabled"] is True
    assert files["codex-alice@example.com.json"]["fields"] == {"priority": 7, "note": "team-a"}
    assert all("source" not in f for f in files.values())

    references = _references(doc)
    assert set(references) == _listed_variables(result.err)
    live = YAML(typ="safe").load(emu.config_yaml())
    for name in list(references):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CPA_URL")
    for name, path in references.items():
        value = KEY if name == "CPA_MANAGEMENT_KEY" else _at(live, path[1:])
        monkeypatch.setenv(name, str(value))

    assert cli("validate", exported).code == 0
    plan = cli("plan", exported, "--detailed-exitcode")
    assert plan.code == 0, plan.out
    assert planted_in(plan.text) == []


RICH_CONFIG = """\
openai-compatibility:
  - name: openrouter
    base-url: https://openrouter.ai/api/v1
    api-key-entries:
      - api-key: sk-or-PLANTED-aa11
        proxy-url: socks5://u:pw-PLANTED-bb22@10.0.0.2:1080
    headers:
      X-Title: cpa
    models:
      - name: anthropic/claude-sonnet
        alias: sonnet
gemini-api-key:
  - api-key: AIza-PLANTED-cc33
    excluded-models: [gemini-1.5-flash, Gemini-1.5-Flash]
    headers:
      X-Goog-Token: tok-PLANTED-dd44
payload:
  default:
    - models:
        - name: gpt-5
      params:
        reasoning.effort: high
"""


def test_export_of_a_server_edited_by_hand_and_in_the_web_ui(
    project: Project, target_env: Emulator, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Provider lists with nested secrets, a payload block, CPA's appended defaults (the web
    UI save), and auth files with a zero priority and no policy at all."""
    emu = target_env
    emu.set_config_yaml(emu.config_yaml() + RICH_CONFIG)
    web_ui_put(emu, "debug", True)
    emu.write_auth_file("codex-zed@example.com.json", auth_source("zed@example.com", priority=0))
    emu.write_auth_file("claude-yan@example.com.json", auth_source("yan@example.com", "claude"))
    exported = project.root / "desired-state.yaml"

    result = cli("export", "-o", exported)

    assert result.code == 0, result.text
    text = exported.read_text()
    assert planted_in(text + result.text) == []
    references = _references(YAML(typ="safe").load(text))
    # the key, the client key, four provider secrets, and the whole `headers` of openrouter
    assert len(references) == 7, sorted(references)
    live = YAML(typ="safe").load(emu.config_yaml())
    monkeypatch.delenv("CPA_URL")
    for name, path in references.items():
        value = KEY if name == "CPA_MANAGEMENT_KEY" else _at(live, path[1:])
        monkeypatch.setenv(name, str(value))
    plan = cli("plan", exported, "--detailed-exitcode")
    assert plan.code == 0, plan.out


def test_export_hides_numeric_secrets_and_lists_each_variable_once(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    """A key written without quotes (``- 987654321``) is a YAML number but still a secret.
    Decision: it is exported as a reference like any other; ``${env:}`` yields a string, so
    the first plan shows it as changed and one apply writes it quoted (CPA reads both as the
    same string)."""
    emu = target_env
    text = emu.config_yaml().replace('  - "test-api-key"', "  - 98765432101234")
    emu.set_config_yaml(text + "claude-api-key:\n  - api-key: 5555512345\n")

    result = cli("export")

    assert result.code == 0, result.text
    assert "98765432101234" not in result.text and "5555512345" not in result.text
    listed = re.findall(r"^\s+([A-Z][A-Z0-9_]+)\s+\(", result.err, flags=re.MULTILINE)
    assert (
        sorted(listed)
        == sorted(set(listed))
        == [
            "CPA_API_KEYS_0",
            "CPA_CLAUDE_API_KEY_0_API_KEY",
            "CPA_MANAGEMENT_KEY",
        ]
    )
