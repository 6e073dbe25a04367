"""``reconciler export`` bootstraps a desired state from a live server: the file it writes
validates and, with the variables it lists set, plans with no changes.

Decisions recorded here:

* The operator sets each listed variable to the secret it stands for; the test reads those
  values from the live config.yaml at the place of each ``${env:...}`` reference (and the
  management key for ``CPA_MANAGEMENT_KEY``, whose live form is a hash).
* The exported file names its target, so CPA_URL is unset for the round trip.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import KEY, Cli, Project, auth_source, planted_in, web_ui_put
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.resolver import VersionedResolver

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
    assert doc["config"]["remote-management"]["secret-key"] == "${management-key}"
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
    It is exported as a reference like any other; ``${env:}`` yields a string, and CPA reads
    the bare number as that string too (yaml.v3 puts a bare scalar's text into a string
    field), so the plan with the variables set to the numbers as written has no changes."""
    emu = target_env
    text = emu.config_yaml().replace('  - "test-api-key"', "  - 98765432101234")
    emu.set_config_yaml(text + "claude-api-key:\n  - api-key: 5555512345\n")

    result = cli("export")

    assert result.code == 0, result.text
    assert "98765432101234" not in result.text and "5555512345" not in result.text
    listed = re.findall(r"^\s+([A-Z][A-Z0-9_]+)\s+\(", result.err, flags=re.MULTILINE)
    assert sorted(listed) == sorted(set(listed))
    api_key = [n for n in listed if n.startswith("CPA_API_KEYS_")]
    claude = [n for n in listed if n.startswith("CPA_CLAUDE_API_KEY_")]
    assert len(api_key) == len(claude) == 1 and len(listed) == 3, listed
    assert re.fullmatch(r"CPA_CLAUDE_API_KEY_[0-9A-F]{6}_API_KEY", claude[0])
    exported = project.root / "desired-state.yaml"
    exported.write_text(result.out)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(api_key[0], "98765432101234")
        mp.setenv(claude[0], "5555512345")
        plan = cli("plan", exported, "--detailed-exitcode")
        assert plan.code == 0, plan.out
        # the same number with another value is a change (the rule is not "any number")
        mp.setenv(claude[0], "5555512346")
        assert cli("plan", exported, "--detailed-exitcode").code == 2


# -- property: export -> plan is empty, whatever the scalars look like ------------------------


@dataclass(frozen=True)
class Bare:
    """A scalar written without quotes in config.yaml: CPA's string fields read it as ``text``."""

    text: str


_RESOLVER = VersionedResolver()


class _LiveRepresenter(RoundTripRepresenter):
    """Writes a ``Bare`` as the plain scalar it is, and strings quoted as ruamel sees fit."""


def _represent_bare(representer: RoundTripRepresenter, value: Bare) -> Any:
    tag = _RESOLVER.resolve(ScalarNode, value.text, (True, False))
    return representer.represent_scalar(tag, value.text)


_LiveRepresenter.add_representer(Bare, _represent_bare)

# Strings that read as something else when written bare, or that mean something to the
# desired-state loader (references, escapes).
LOOKALIKES = (
    *("0123", "12345678", "true", "False", "yes", "on", "y", "~", "null", "Null", "1:20"),
    *("2024-01-01", "2024-01-01T10:00:00Z", "1e3", "0x1F", "0o17", "0b101", "1_000", "+5"),
    *("-0", ".inf", ".nan", "a${b}", "$${x}", "${env:HOME}", "$", "#x", "- x", "x: y"),
    *(" padded ", "two\nlines", "<<", "=", "'", '"', "!x", "*a", "&a", "? k", "%x", "@x"),
)
STRINGS = st.one_of(
    st.sampled_from(LOOKALIKES),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
        max_size=16,
    ),
)
BARE_SPELLINGS = (
    *("0x1F", "0o17", "0b101", "1_000", "+5", "-0", "0123", "1e3", "1.50", ".5", "5.", "-.inf"),
    *(".NaN", "2024-01-01", "2024-01-01T10:00:00Z", "2001-12-14 21:59:43.10 -5"),
    *("true", "false", "~", "null"),
)


def _float_text(f: float) -> str:
    if math.isnan(f):
        return ".nan"
    if math.isinf(f):
        return ".inf" if f > 0 else "-.inf"
    return repr(f)


# Bare scalars the live loader builds as numbers, timestamps, booleans or null.
BARE = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats().map(_float_text),
    st.sampled_from(BARE_SPELLINGS),
).map(Bare)
SCALARS = st.one_of(STRINGS, BARE)


def _hidden(value: str | Bare) -> bool:
    """Whether export replaces this secret by a reference: not a bare boolean or null."""
    return not isinstance(value, Bare) or value.text not in ("true", "false", "~", "null")


@st.composite
def exportable_configs(
    draw: st.DrawFn,
) -> tuple[dict[str, Any], dict[tuple[Any, ...], Bare | None]]:
    """Live config keys to add, and the secrets among them that export must hide (by their
    path in the exported file): a bare one with its text, a string (quoted) as None."""
    config: dict[str, Any] = {f"x-note-{i}": v for i, v in enumerate(draw(st.lists(SCALARS)))}
    config["x-notes"] = {"list": draw(st.lists(SCALARS, max_size=3)), "one": draw(SCALARS)}
    config["api-keys"] = draw(st.lists(SCALARS, min_size=1, max_size=3))
    config["claude-api-key"] = [
        {"api-key": draw(SCALARS), "headers": {"X-Key": draw(SCALARS)}}
        for _ in range(draw(st.integers(min_value=1, max_value=2)))
    ]
    secrets: dict[tuple[Any, ...], str | Bare] = {
        ("api-keys", i): v for i, v in enumerate(config["api-keys"])
    }
    for i, entry in enumerate(config["claude-api-key"]):
        secrets[("claude-api-key", i, "api-key")] = entry["api-key"]
        secrets[("claude-api-key", i, "headers", "X-Key")] = entry["headers"]["X-Key"]
    hidden = {
        ("config", *p): v if isinstance(v, Bare) else None for p, v in secrets.items() if _hidden(v)
    }
    return config, hidden


def _live_config_yaml(base: str, extra: dict[str, Any]) -> str:
    yaml = YAML()
    yaml.Representer = _LiveRepresenter
    doc = yaml.load(base)
    doc.update(extra)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


@pytest.fixture(scope="module")
def shared_emu() -> Iterator[tuple[Emulator, str]]:
    """One emulator for every example, and its first config.yaml to start each one from."""
    with Emulator(management_key=KEY) as emu:
        yield emu, emu.config_yaml()


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=exportable_configs())
def test_export_then_plan_is_empty_whatever_the_values_look_like(
    tmp_path: Path,
    shared_emu: tuple[Emulator, str],
    cli: Cli,
    case: tuple[dict[str, Any], dict[tuple[Any, ...], Bare | None]],
) -> None:
    """Strings that read as numbers, booleans, null or dates when bare, strings holding
    ``${``, and secrets written bare as numbers or dates (CPA reads them as their text): the
    exported file, with each listed variable set to the secret as config.yaml spells it, plans
    no change. Every secret that is text to CPA is a reference in the file."""
    extra, hidden = case
    emu, first_config = shared_emu
    emu.set_config_yaml(_live_config_yaml(first_config, extra))
    live = YAML(typ="safe").load(emu.config_yaml())
    exported = tmp_path / "desired-state.yaml"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CPA_MANAGEMENT_KEY", KEY)
        result = cli("export", "--url", emu.url, "-o", exported)
        assert result.code == 0, result.text
        references = _references(YAML(typ="safe").load(exported.read_text()))
        found = {path: name for name, path in references.items() if path[:1] != ("target",)}
        assert set(found) == set(hidden)
        for path, name in found.items():
            # the secret as config.yaml spells it: a bare one as written, else its string
            bare = hidden[path]
            mp.setenv(name, bare.text if bare else _at(live, path[1:]))
        plan = cli("plan", exported, "--detailed-exitcode")
    assert plan.code == 0, plan.out + "\n--- exported ---\n" + exported.read_text()
