"""``reconciler validate DESIRED`` through the real command line, offline."""

from __future__ import annotations

import pytest
from desired_helpers import SECRETS, Project

from reconciler.cli import main

GOOD = """
target:
  url: http://127.0.0.1:8317
  management-key: ${env:CPA_MANAGEMENT_KEY}
config:
  debug: false
  api-keys: ["${env:CLIENT_KEY_1}"]
auth-files:
  files:
    - name: a.json
      source: auth/a.json
    - name: b.json
"""


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The process environment the command reads, with the test secrets set."""
    for name in ("CPA_URL", *SECRETS):
        monkeypatch.delenv(name, raising=False)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return dict(SECRETS)


def test_valid_file(
    project: Project, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    project.source("auth/a.json")
    project.write("desired.yaml", GOOD)
    assert main(["validate", "desired.yaml"]) == 0
    out, err = capsys.readouterr()
    assert out == "desired.yaml: valid (2 auth files, config: 2 keys)\n"
    assert err == ""


def test_config_not_managed(
    project: Project, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("desired.yaml", "auth-files:\n  prune: false\n")
    assert main(["validate", "desired.yaml"]) == 0
    assert capsys.readouterr().out == "desired.yaml: valid (0 auth files, config: not managed)\n"


def test_unset_environment_variable_is_invalid(
    project: Project,
    environ: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("CLIENT_KEY_1")
    project.source("auth/a.json")
    project.write("desired.yaml", GOOD)
    assert main(["validate", "desired.yaml"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "error: desired.yaml:6: config.api-keys[0]: ${env:CLIENT_KEY_1} is not set\n"


def test_invalid_file(
    project: Project, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("desired.yaml", "auth-files:\n  max-deletions: five\n")
    assert main(["validate", "desired.yaml"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "error: desired.yaml:2: auth-files.max-deletions: expected an integer, got 'five'\n"
    )


def test_bad_source_never_prints_its_content(
    project: Project, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("auth/a.json", '{"access_token": "S3CRET-in-source",}')
    project.write("desired.yaml", GOOD)
    assert main(["validate", "desired.yaml"]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("error: desired.yaml:10: auth-files.files[0].source: auth/a.json ")
    for secret in ("S3CRET-in-source", *SECRETS.values()):
        assert secret not in out + err


def test_missing_file(
    project: Project, environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "nope.yaml"]) == 1
    assert capsys.readouterr().err == "error: nope.yaml: file not found\n"


def test_validate_sends_no_request(
    project: Project, environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A target nobody listens on: validate must not notice, because it never connects.
    monkeypatch.setenv("CPA_URL", "http://127.0.0.1:9")
    project.source("auth/a.json")
    project.write("desired.yaml", GOOD)
    assert main(["validate", "desired.yaml"]) == 0
