"""Bad input of every kind ends with one clear message naming the place, exit 1, and no
mutating request (must-show 4 of issue 3).

Decisions recorded here:

* A desired-state problem (YAML, schema, reference, name) is found before any connection is
  opened, so ``plan`` and ``apply`` send no request at all, and ``validate`` reports the same
  message offline. A broken auth-file ``source`` is the exception: ``plan`` and ``apply`` read a
  source only once the listing shows its file missing (tests/e2e/test_deferred_sources.py), so
  they send the two reads first; ``validate`` finds it offline.
* "The place" is ``<desired file>:<line>`` plus the dotted path in the file for a desired-state
  problem, and the method, endpoint and server for a server problem.
* A wrong key costs exactly one request: the client stops at the first 401 (CPA bans an IP
  after 5 failures), so neither plan nor apply ever sends a second one.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from e2e_helpers import KEY, Cli, Project, auth_source, described, management, settled

from reconciler.emulator import Emulator

HEAD = "target:\n  management-key: ${env:CPA_MANAGEMENT_KEY}\n"


@dataclass(frozen=True)
class Case:
    text: str
    line: int
    expected: tuple[str, ...]
    after_listing: bool = False  # a source: plan and apply read the listing first


def _entry(*lines: str) -> str:
    return HEAD + "auth-files:\n  files:\n" + "".join(f"    {line}\n" for line in lines)


CASES = {
    "yaml-syntax": Case(
        HEAD + "config:\n  debug: true\n  api-keys: [a, b\nauth-files: {}\n",
        6,
        ("YAML syntax error", "started at line 5"),
    ),
    "unknown-top-level-key": Case(
        HEAD + "config-polcy:\n  prune: true\n",
        3,
        ("unknown key 'config-polcy'", "did you mean 'config-policy'"),
    ),
    "unknown-entry-key": Case(
        _entry("- name: a.json", "  sorce: auth/alice.json"),
        6,
        ("unknown key 'sorce' in auth-files.files[0]", "did you mean 'source'"),
    ),
    "wrong-type-integer": Case(
        HEAD + "auth-files:\n  max-deletions: five\n",
        4,
        ("auth-files.max-deletions: expected an integer, got 'five'",),
    ),
    "wrong-type-boolean": Case(
        _entry("- name: a.json", "  source: auth/alice.json", "  disabled: maybe"),
        7,
        ("auth-files.files[0].disabled: expected true or false",),
    ),
    "unresolved-env": Case(
        HEAD + "config:\n  api-keys:\n    - ${env:NOT_SET_ANYWHERE}\n",
        5,
        ("config.api-keys[0]", "${env:NOT_SET_ANYWHERE} is not set"),
    ),
    "missing-source": Case(
        _entry("- name: a.json", "  source: auth/nope.json"),
        6,
        ("auth-files.files[0].source", "auth/nope.json does not exist"),
        after_listing=True,
    ),
    "malformed-source": Case(
        _entry("- name: a.json", "  source: auth/broken.json"),
        6,
        ("auth-files.files[0].source", "auth/broken.json is not valid JSON"),
        after_listing=True,
    ),
    "source-not-an-object": Case(
        _entry("- name: a.json", "  source: auth/list.json"),
        6,
        ("auth/list.json is not a JSON object",),
        after_listing=True,
    ),
    "name-with-a-slash": Case(
        _entry("- name: ../evil.json", "  source: auth/alice.json"),
        5,
        ("auth-files.files[0].name", "'../evil.json' is not a valid auth-file name"),
    ),
    "name-without-json": Case(
        _entry("- name: no-suffix", "  source: auth/alice.json"),
        5,
        ("'no-suffix' is not a valid auth-file name", "must end in .json"),
    ),
}


@pytest.fixture(scope="module")
def quiet_emu() -> Iterator[Emulator]:
    """One emulator for the module: these tests only check that nothing reaches it."""
    with Emulator(management_key=KEY) as emulator:
        yield emulator


@pytest.fixture
def target_env(monkeypatch: pytest.MonkeyPatch, quiet_emu: Emulator) -> Emulator:
    quiet_emu.unban()
    quiet_emu.reset_requests()
    monkeypatch.setenv("CPA_URL", quiet_emu.url)
    monkeypatch.setenv("CPA_MANAGEMENT_KEY", KEY)
    return quiet_emu


@pytest.fixture
def bad_project(project: Project) -> Project:
    project.source("auth/alice.json", auth_source("alice@example.com"))
    project.source("auth/broken.json", '{"type": "codex", "access_token": "at-PLANTED-x",')
    project.source("auth/list.json", json.dumps(["at-PLANTED-y"]))
    return project


@pytest.mark.parametrize("command", ["validate", "plan", "apply"])
@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_desired_state(
    case: Case, command: str, bad_project: Project, target_env: Emulator, cli: Cli
) -> None:
    bad_project.write(case.text)
    argv = [command, str(bad_project.desired)]
    if command == "apply":
        argv.append("--auto-approve")

    result = cli(*argv)

    assert result.code == 1, result.text
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(f"error: {bad_project.desired}:{case.line}: "), lines[0]
    for fragment in case.expected:
        assert fragment in lines[0]
    assert "PLANTED" not in result.err
    seen = settled(target_env)
    if case.after_listing and command != "validate":
        assert described(seen) == ["GET /v0/management/auth-files -> 200"]
    else:
        assert seen == [], "a desired-state error is found before any request"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_unreachable_server(
    command: str, bad_project: Project, target_env: Emulator, cli: Cli
) -> None:
    bad_project.write(HEAD + "config:\n  debug: true\n")
    url = f"http://127.0.0.1:{_closed_port()}"
    argv = [command, str(bad_project.desired), "--url", url]
    result = cli(*argv, *(["--auto-approve"] if command == "apply" else []))

    assert result.code == 1, result.text
    assert f"no answer from {url}" in result.err
    assert "GET /v0/management/config.yaml" in result.err
    assert "Connection refused" in result.err
    assert settled(target_env) == []


@pytest.mark.parametrize("command", ["plan", "apply", "export"])
def test_wrong_key_costs_exactly_one_request(
    command: str,
    bad_project: Project,
    target_env: Emulator,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emu = target_env
    bad_project.write(HEAD + "config:\n  debug: true\n")
    monkeypatch.setenv("CPA_MANAGEMENT_KEY", "wrong-key-PLANTED-0000")
    argv = {
        "plan": ["plan", str(bad_project.desired)],
        "apply": ["apply", str(bad_project.desired), "--auto-approve"],
        "export": ["export"],
    }[command]
    result = cli(*argv)

    assert result.code == 1, result.text
    assert "401" in result.err and "management key" in result.err
    assert "PLANTED" not in result.text
    log = management(emu)
    assert len(log) == 1, described(log)
    assert (log[0].status, log[0].authenticated) == (401, False)

    monkeypatch.setenv("CPA_MANAGEMENT_KEY", KEY)
    assert cli("plan", bad_project.desired).code == 0, "one failure does not ban the IP"
