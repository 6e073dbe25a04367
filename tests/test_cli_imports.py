"""Each command imports only what it needs (issue: a fast ``plan``).

``reconciler --help`` builds no command; ``reconciler plan`` against a live emulator runs to the
end without importing the daemon, the scheduler, prometheus-client, the webhook or the emulator.
Checked in a fresh interpreter, after the command ran, from ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler import cli
from reconciler.emulator import Emulator

NOT_FOR_PLAN = (
    "apscheduler",
    "prometheus_client",
    "reconciler.daemon",
    "reconciler.emulator",
    "reconciler.commands.daemon",
    "reconciler.commands.demo",
)

PROBE = """
import json, sys
from reconciler.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def run_probe(*args: str, env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    last = result.stdout.strip().splitlines()[-1]
    data = json.loads(last)
    return data["code"], data["modules"]


def loaded(modules: list[str], prefix: str) -> list[str]:
    return [m for m in modules if m == prefix or m.startswith(prefix + ".")]


def test_plan_imports_no_daemon_scheduler_metrics_or_emulator(tmp_path: Path) -> None:
    with Emulator(management_key="k-imports") as emu:
        desired = tmp_path / "desired-state.yaml"
        desired.write_text(f"target:\n  url: {emu.url}\nconfig:\n  debug: false\n")
        code, modules = run_probe("plan", str(desired), env={"CPA_MANAGEMENT_KEY": "k-imports"})
    assert code in (0, 2)
    for prefix in NOT_FOR_PLAN:
        assert not loaded(modules, prefix), f"plan imported {loaded(modules, prefix)}"


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_help_and_version_import_no_command(argv: list[str]) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\nfrom reconciler.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('reconciler.', 'httpx', 'pydantic'))))",
            *argv,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    imported = result.stdout.strip().splitlines()[-1]
    assert "reconciler.commands." not in imported
    assert "httpx" not in imported
    assert "pydantic" not in imported


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_command_builds_and_is_summarised_in_lower_case(name: str) -> None:
    parser = cli.build_parser(only=name)
    summary = cli.COMMANDS[name]
    assert summary[0].islower(), f"{name}: summaries start in lower case, like the others"
    assert not summary.endswith("."), f"{name}: summaries do not end with a full stop"
    help_text = parser.format_help()
    assert name in help_text
