"""No secret value reaches any output, plan file, backup manifest or log (must-show 7).

Secrets are planted everywhere a real desired state holds them: ``${env:}`` references (the
management key, client and provider keys, a proxy URL with a password), a ``${file:}``
reference, literal secrets under secret keys (a provider ``api-key``, ``headers``), tokens in
auth-file sources, and secrets already on the server (old client keys, an auth file that prune
deletes). Then every command runs in every output format, on success and on failure, and each
text is searched for every planted value.

Decisions recorded here:

* Backups are the one place that must hold secrets (they are what ``restore`` puts back): the
  test checks that they do, and that they are 0600 inside a 0700 directory; their manifest
  holds none.
* Log records of the client (``caplog`` at DEBUG) count as output.
"""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest
from e2e_helpers import (
    EXAMPLE_ENV,
    KEY,
    Cli,
    Project,
    auth_source,
    dump_yaml,
    planted_in,
    web_ui_put,
)

from reconciler.emulator import Emulator

FILE_SECRET = "file-secret-PLANTED-e3f4"
LITERAL_SECRET = "sk-literal-PLANTED-0f0f"
HEADER_SECRET = "hdr-token-PLANTED-5a5a"
LIVE_OLD_KEY = "live-old-client-PLANTED-1111"
LIVE_PROVIDER_KEY = "live-gemini-PLANTED-2222"
EXTRA = (FILE_SECRET, LITERAL_SECRET, HEADER_SECRET, LIVE_OLD_KEY, LIVE_PROVIDER_KEY)

LIVE_CONFIG_EXTRA = f"""\
gemini-api-key:
  - api-key: {LIVE_PROVIDER_KEY}
    headers:
      X-Old-Token: old-header-PLANTED-6b6b
"""


def _desired(project: Project) -> Path:
    project.source("secrets/team-c.key", FILE_SECRET + "\n")
    alice = project.source("auth/alice.json", auth_source("alice@example.com"))
    bob = project.source("auth/bob.json", auth_source("bob@example.com", "claude"))
    doc = {
        "target": {"management-key": "${env:CPA_MANAGEMENT_KEY}"},
        "config": {
            "debug": True,
            "proxy-url": "${env:BOB_PROXY_URL}",
            "api-keys": ["${env:CLIENT_KEY_TEAM_A}", "${file:secrets/team-c.key}"],
            "remote-management": {"secret-key": "${env:CPA_MANAGEMENT_KEY}"},
            "claude-api-key": [{"api-key": "${env:ANTHROPIC_API_KEY}", "priority": 1}],
            "codex-api-key": [
                {
                    "api-key": LITERAL_SECRET,
                    "base-url": "https://api.openai.com/v1",
                    "headers": {"X-Team-Token": HEADER_SECRET},
                }
            ],
        },
        "config-policy": {"prune": True},
        "auth-files": {
            "prune": True,
            "files": [
                {
                    "name": "codex-alice@example.com.json",
                    "source": alice,
                    "fields": {"proxy_url": "${env:BOB_PROXY_URL}", "note": "team-a"},
                },
                {"name": "claude-bob@example.com.json", "source": bob, "disabled": True},
            ],
        },
    }
    return project.write(dump_yaml(doc))


def _disturb_live(emu: Emulator) -> None:
    text = emu.config_yaml().replace('  - "test-api-key"', f"  - {LIVE_OLD_KEY}")
    emu.set_config_yaml(text + LIVE_CONFIG_EXTRA)
    emu.write_auth_file("codex-old@example.com.json", auth_source("old@example.com"))


def _assert_clean(what: str, text: str) -> None:
    assert planted_in(text, EXTRA) == [], f"{what} shows a secret"


def test_no_secret_in_any_output(
    project: Project,
    target_env: Emulator,
    cli: Cli,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    emu = target_env
    _disturb_live(emu)
    desired = _desired(project)
    planfile = project.root / "plan.json"
    texts: dict[str, str] = {}

    def run(label: str, *argv: str | Path, code: int = 0) -> None:
        result = cli(*argv)
        assert result.code == code, f"{label}: {result.text}"
        texts[label] = result.text

    run("validate", "validate", desired)
    run("plan", "plan", desired)
    run("plan --json", "plan", desired, "--json")
    run("plan --markdown", "plan", desired, "--markdown")
    run("plan --out", "plan", desired, "--out", planfile)
    texts["plan file"] = planfile.read_text()
    assert stat.S_IMODE(planfile.stat().st_mode) == 0o600
    run("apply --plan", "apply", desired, "--plan", planfile)
    assert "Apply complete" in texts["apply --plan"]
    run("plan after apply", "plan", desired, "--json", "--detailed-exitcode")
    run("export", "export", "--url", emu.url)
    exported = project.root / "exported.yaml"
    run("export -o", "export", "--url", emu.url, "-o", exported)
    texts["exported file"] = exported.read_text()

    (backup,) = project.backups()
    texts["backup manifest"] = (backup / "manifest.json").read_text()
    manifest = json.loads(texts["backup manifest"])
    assert {item["name"] for item in manifest["items"]} == {
        "config.yaml",
        "codex-old@example.com.json",
    }
    held = (backup / "auth-files" / "codex-old@example.com.json").read_text()
    held += (backup / "config.yaml").read_text()
    assert "rt-old-PLANTED-3c4d" in held and LIVE_PROVIDER_KEY in held, "backups hold secrets"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    for path in backup.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

    run("restore", "restore", backup, "--yes")
    run(
        "restore latest",
        "restore",
        "--yes",
        "latest",
        "--state-dir",
        project.state_dir,
        "--overwrite",
    )

    # failures print server and file context; still no secret
    web_ui_put(emu, "debug", False)
    run("stale apply", "apply", desired, "--plan", planfile, code=3)
    monkeypatch.setenv("NEW_KEY", "rotated-PLANTED-9999")
    lockout = project.write(
        desired.read_text().replace(
            "secret-key: ${env:CPA_MANAGEMENT_KEY}", "secret-key: ${env:NEW_KEY}"
        ),
        "lockout.yaml",
    )
    run("lockout", "apply", lockout, "--auto-approve", "--allow-mass-delete", code=4)
    monkeypatch.setenv("CPA_MANAGEMENT_KEY", "wrong-PLANTED-8888")
    run("wrong key", "plan", desired, code=1)

    for label, text in texts.items():
        _assert_clean(label, text)
    _assert_clean("log", "\n".join(r.getMessage() for r in caplog.records))
    assert len(texts) >= 16


def test_the_scan_finds_what_it_looks_for() -> None:
    """The check above can fail: each planted value is found when present."""
    for value in (*EXAMPLE_ENV.values(), KEY, *EXTRA):
        assert planted_in(f"x {value} y", EXTRA) != []
    assert planted_in("a PLANTED b") == ["PLANTED"]
