"""Every unresolvable reference at once (validate), ``validate --no-references``, and where
``target.management-key`` is resolved: only when no key comes from a flag or the environment."""

from __future__ import annotations

import pytest
from desired_helpers import SECRETS, Project

from reconciler.cli import main
from reconciler.desired.loader import resolve_target
from reconciler.errors import DesiredStateError, ReferenceError_

DESIRED = """
target:
  url: http://127.0.0.1:8317
  management-key: ${env:CPA_MANAGEMENT_KEY}
config-file: cpa-config.yaml
auth-files:
  files:
    - name: a.json
      source: ${env:A_SOURCE}
      fields:
        note: ${env:NOTE_A}
        proxy_url: ${file:secrets/proxy}
    - name: b.json
      source: auth/b.json
"""

CONFIG_FILE = """
debug: false
api-keys:
  - ${env:CLIENT_KEY_1}
  - ${env:CLIENT_KEY_9}
"""


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CPA_URL", "CPA_MANAGEMENT_KEY_FILE", "A_SOURCE", "NOTE_A", "CLIENT_KEY_9"):
        monkeypatch.delenv(name, raising=False)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def test_validate_lists_every_unset_variable_and_missing_file(
    project: Project, environ: None, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("desired.yaml", DESIRED)
    project.write("cpa-config.yaml", CONFIG_FILE)
    assert main(["validate", "desired.yaml"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "error: cpa-config.yaml:4: api-keys[1]: ${env:CLIENT_KEY_9} is not set",
        "desired.yaml:8: auth-files.files[0].source: ${env:A_SOURCE} is not set",
        "desired.yaml:10: auth-files.files[0].fields.note: ${env:NOTE_A} is not set",
        "desired.yaml:11: auth-files.files[0].fields.proxy_url: ${file:secrets/proxy}: the file "
        "does not exist",
        "(4 references cannot be resolved)",
    ]
    for secret in SECRETS.values():
        assert secret not in err


def test_the_error_names_the_unset_variables(project: Project, environ: None) -> None:
    project.write("desired.yaml", DESIRED)
    project.write("cpa-config.yaml", CONFIG_FILE)
    with pytest.raises(ReferenceError_) as caught:
        project.load(DESIRED, environ={"CLIENT_KEY_1": "x"})
    assert caught.value.unset_env == ("CLIENT_KEY_9", "A_SOURCE", "NOTE_A")
    assert caught.value.missing_files == ("secrets/proxy",)


def test_unset_management_key_variable_counts_only_without_a_key_outside(
    project: Project,
    environ: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = "target:\n  management-key: ${env:CPA_MANAGEMENT_KEY}\nconfig:\n  debug: false\n"
    project.write("desired.yaml", text)
    monkeypatch.delenv("CPA_MANAGEMENT_KEY")
    assert main(["validate", "desired.yaml"]) == 1
    assert capsys.readouterr().err == (
        "error: desired.yaml:2: target.management-key: ${env:CPA_MANAGEMENT_KEY} is not set\n"
    )
    key_file = project.write("key", "from-the-file\n")
    monkeypatch.setenv("CPA_MANAGEMENT_KEY_FILE", str(key_file))
    assert main(["validate", "desired.yaml"]) == 0


def test_a_key_from_a_flag_or_the_environment_wins_without_resolving_the_file(
    project: Project,
) -> None:
    loaded = project.load(
        "target:\n  url: http://127.0.0.1:8317\n  management-key: ${env:UNSET_KEY}\n",
        environ={},
    )
    key_file = project.write("key", "flag-key\n")
    env_file = project.write("env-key", "env-file-key\n")
    assert resolve_target(loaded, key_file=key_file, environ={})[1] == "flag-key"
    assert resolve_target(loaded, key_arg="arg-key", environ={})[1] == "arg-key"
    both = {"CPA_MANAGEMENT_KEY_FILE": str(env_file), "CPA_MANAGEMENT_KEY": "env-key"}
    assert resolve_target(loaded, environ=both)[1] == "env-file-key"
    assert resolve_target(loaded, environ={"CPA_MANAGEMENT_KEY": "env-key"})[1] == "env-key"
    with pytest.raises(ReferenceError_, match=r"desired.yaml:3: target.management-key: "):
        resolve_target(loaded, environ={})


def test_no_references_checks_structure_without_any_variable(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    project.write("desired.yaml", DESIRED)
    project.write("cpa-config.yaml", CONFIG_FILE)  # auth/b.json does not exist: not read
    assert main(["validate", "desired.yaml", "--no-references"]) == 0
    assert capsys.readouterr().out == (
        "desired.yaml: valid (2 auth files, config: 2 keys; structure and types only, "
        "references not resolved)\n"
    )
    project.write("desired.yaml", DESIRED.replace("  files:", "  max-deletions: five\n  files:"))
    assert main(["validate", "desired.yaml", "--no-references"]) == 1
    assert "desired.yaml:6: auth-files.max-deletions: expected an integer, got 'five'" in (
        capsys.readouterr().err
    )
    project.write("desired.yaml", DESIRED.replace("${env:NOTE_A}", "${env:NOTE-A}"))
    assert main(["validate", "desired.yaml", "--no-references"]) == 1
    assert "invalid reference '${env:...}'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("config:\n  api-keys: ['${management-key}']\n", 2),
        ("target:\n  management-key: ${management-key}\n", 2),
        ("config:\n  remote-management:\n    secret-key: x-${management-key}\n", 3),
    ],
)
def test_management_key_reference_only_as_the_secret_key(
    project: Project, text: str, line: int
) -> None:
    with pytest.raises(DesiredStateError) as caught:
        project.load(text)
    assert str(caught.value).startswith(f"desired.yaml:{line}: ")
    assert "${management-key}" in str(caught.value)


def test_management_key_reference_is_bound_to_the_key_in_use(project: Project) -> None:
    loaded = project.load("config:\n  remote-management:\n    secret-key: ${management-key}\n")
    assert loaded.state.config == {"remote-management": {"secret-key": "${management-key}"}}
    assert ("remote-management", "secret-key") in loaded.state.secret_paths
    bound = loaded.with_management_key("the-key")
    assert bound.state.config == {"remote-management": {"secret-key": "the-key"}}
    assert loaded.state.config["remote-management"]["secret-key"] == "${management-key}"
    project.write("cpa.yaml", "remote-management:\n  secret-key: ${management-key}\n")
    from_file = project.load("config-file: cpa.yaml\n").with_management_key("k2")
    assert from_file.state.config == {"remote-management": {"secret-key": "k2"}}
