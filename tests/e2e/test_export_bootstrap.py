"""``reconciler export`` as a real bootstrap: variable names that say what each secret is and do
not shift when an entry is removed, ``--env-file`` holding their current values (0600) so the
first plan in a shell that loads it has no changes, and CPA's self-appended defaults left out
unless ``--all``."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_helpers import KEY, Cli, Project, planted_in, web_ui_put
from ruamel.yaml import YAML

from reconciler.commands.export import APPENDED_ON_SAVE
from reconciler.emulator import Emulator
from reconciler.emulator.defaults import APPENDED_DEFAULTS

PROVIDERS = """\
claude-api-key:
  - api-key: sk-ant-one-PLANTED
    base-url: https://claude-one.example.com/v1
  - api-key: sk-ant-two-PLANTED
    base-url: https://claude-two.example.com
  - api-key: sk-ant-three-PLANTED
  - api-key: 5555512345
openai-compatibility:
  - name: openrouter
    base-url: https://openrouter.ai/api/v1
    api-key-entries:
      - api-key: sk-or-PLANTED-a
      - api-key: sk-or-PLANTED-b
"""
TRICKY = 'it\'s "quoted" $HOME `x` \\ end-PLANTED'


def _live(emu: Emulator, extra: str) -> None:
    text = emu.config_yaml().replace(
        '  - "test-api-key"',
        f"  - client-a-PLANTED\n  - client-b-PLANTED\n  - 98765432101234\n  - {_yaml_quote(TRICKY)}",
    )
    emu.set_config_yaml(text + extra)


def _yaml_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _names(text: str) -> dict[str, str]:
    """Exported variable name -> the dotted place it stands at."""
    found: dict[str, str] = {}

    def walk(value: object, path: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")
        elif isinstance(value, str) and (m := re.fullmatch(r"\$\{env:([^}]*)\}", value)):
            found[m.group(1)] = path

    walk(YAML(typ="safe").load(text), "")
    return found


def test_names_say_what_the_entry_is_and_survive_a_removal(
    project: Project, target_env: Emulator, cli: Cli
) -> None:
    emu = target_env
    _live(emu, PROVIDERS)
    first = cli("export")
    assert first.code == 0, first.text
    names = _names(first.out)
    assert len(names) == len(set(names)) == 11  # the key + 4 api-keys + 4 claude + 2 openrouter
    for name in names:
        assert re.fullmatch(r"[A-Z_][A-Z0-9_]*", name), name
    assert names["CPA_CLAUDE_API_KEY_CLAUDE_ONE_EXAMPLE_COM_API_KEY"] == (
        "config.claude-api-key[0].api-key"
    )
    assert names["CPA_CLAUDE_API_KEY_CLAUDE_TWO_EXAMPLE_COM_API_KEY"] == (
        "config.claude-api-key[1].api-key"
    )
    fingerprinted = [n for n in names if re.fullmatch(r"CPA_API_KEYS_[0-9A-F]{6}", n)]
    assert len(fingerprinted) == 4
    assert any(n.startswith("CPA_OPENAI_COMPATIBILITY_OPENROUTER_API_KEY_ENTRIES_") for n in names)

    # remove the first entry of every list: nothing else is renamed
    text = emu.config_yaml()
    text = text.replace("  - client-a-PLANTED\n", "", 1)
    text = re.sub(r"  - api-key: sk-ant-one-PLANTED\n    base-url: [^\n]*\n", "", text)
    text = text.replace("      - api-key: sk-or-PLANTED-a\n", "")
    emu.set_config_yaml(text)
    second = cli("export")
    assert second.code == 0, second.text
    after = _names(second.out)
    assert len(after) == 8
    kept = {n for n in names if n in after}
    assert kept == set(after)  # every remaining variable kept its name
    assert "CPA_CLAUDE_API_KEY_CLAUDE_ONE_EXAMPLE_COM_API_KEY" not in after
    assert planted_in(first.text + second.text) == []


def _sourced(env_file: Path, env: dict[str, str]) -> dict[str, str]:
    """The environment a POSIX shell has after ``set -a; . FILE; set +a``."""
    done = subprocess.run(
        ["sh", "-c", 'set -a; . "$1"; set +a; exec env -0', "sh", str(env_file)],
        env=env,
        capture_output=True,
        check=True,
    )
    pairs = [item.split(b"=", 1) for item in done.stdout.split(b"\0") if b"=" in item]
    return {k.decode(): v.decode() for k, v in pairs}


def test_env_file_makes_the_first_plan_work_at_once(
    project: Project, target_env: Emulator, cli: Cli, tmp_path: Path
) -> None:
    emu = target_env
    _live(emu, PROVIDERS)
    web_ui_put(emu, "debug", True)
    exported = project.root / "desired-state.yaml"
    env_file = tmp_path / "cpa.env"
    result = cli("export", "-o", exported, "--env-file", env_file)
    assert result.code == 0, result.text
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "set -a; . " in result.err and planted_in(result.text) == []
    assert KEY not in env_file.read_text()  # the key stays where it was

    # a shell that loads the file, and only the management key from before: no change
    base = {k: v for k, v in os.environ.items() if not k.startswith("CPA_")}
    for name in ("CLIENT_KEY_TEAM_A", "ANTHROPIC_API_KEY"):
        base.pop(name, None)
    base["CPA_MANAGEMENT_KEY"] = KEY
    loaded = _sourced(env_file, base)
    assert loaded[next(n for n in _names(exported.read_text()) if "API_KEYS" in n)]
    assert TRICKY in loaded.values() and "98765432101234" in loaded.values()
    plan = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", str(exported), "--detailed-exitcode"],
        env=loaded,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert planted_in(plan.stdout + plan.stderr) == []


def test_env_file_is_not_overwritten_without_force(
    project: Project, target_env: Emulator, cli: Cli, tmp_path: Path
) -> None:
    env_file = tmp_path / "cpa.env"
    env_file.write_text("KEEP=me\n")
    env_file.chmod(0o644)
    refused = cli("export", "--env-file", env_file)
    assert refused.code == 1
    assert "exists; pass --force" in refused.err and refused.out == ""
    assert env_file.read_text() == "KEEP=me\n"
    assert target_env.requests() == []  # refused before any request
    assert cli("export", "--env-file", env_file, "--force").code == 0
    assert "KEEP=me" not in env_file.read_text()
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


def test_appended_defaults_are_left_out_unless_all(
    project: Project, target_env: Emulator, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = target_env
    web_ui_put(emu, "debug", True)  # CPA appends ws-auth, credential-concurrency, ... here
    live = YAML(typ="safe").load(emu.config_yaml())
    assert {k for k, _ in APPENDED_DEFAULTS} == set(APPENDED_ON_SAVE) <= set(live)
    lean = cli("export")
    assert lean.code == 0, lean.text
    config = YAML(typ="safe").load(lean.out)["config"]
    assert not set(APPENDED_ON_SAVE) & set(config)
    assert config["debug"] is True
    full = cli("export", "--all")
    assert set(APPENDED_ON_SAVE) <= set(YAML(typ="safe").load(full.out)["config"])
    for name in _names(lean.out):
        if name != "CPA_MANAGEMENT_KEY":
            monkeypatch.setenv(name, "test-api-key")  # the emulator's one api-key
    for text in (lean.out, full.out):
        exported = project.write(text)
        assert cli("plan", exported, "--detailed-exitcode").code == 0

    # a value that differs from CPA's default is the operator's: kept
    emu.set_config_yaml(emu.config_yaml().replace("ws-auth: true", "ws-auth: false"))
    config = YAML(typ="safe").load(cli("export").out)["config"]
    assert config["ws-auth"] is False and "credential-concurrency" not in config
