"""One desired-state file for cron, CI and the daemon (issue 11, C.5): the key comes from a
file in cron, from a secret variable in CI, from either for the daemon; ``target.management-key``
is resolved only when neither is given, and ``remote-management.secret-key: ${management-key}``
is the key in use, whichever it is. Checked with ``examples/desired-state`` and with the file
``reconciler export`` writes, through the real cron scripts and the CI workflow's commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import start_daemon, wait_until
from test_unattended_examples import CRON, run_step, step

from reconciler.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "desired-state"
KEY = "one-file-mgmt-key-PLANTED"
SUCCESS = 'reconciler_cycles_total{result="success"}'
EXAMPLE_VALUES = {
    "CLIENT_KEY_TEAM_A": "sk-team-a-PLANTED",
    "CLIENT_KEY_TEAM_B": "sk-team-b-PLANTED",
    "ANTHROPIC_API_KEY": "sk-ant-PLANTED",
    "OPENAI_API_KEY": "sk-openai-PLANTED",
    "GEMINI_API_KEY": "AIza-PLANTED",
    "BOB_PROXY_URL": "socks5://bob:pw-PLANTED@127.0.0.1:1080",
}


@pytest.fixture
def cpa() -> Iterator[Emulator]:
    with Emulator(management_key=KEY) as emulator:
        yield emulator


def clean_env() -> dict[str, str]:
    """The runner's environment without any CPA_ or reconciler variable, the tool on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CPA_", "RECONCILER_"))}
    for name in EXAMPLE_VALUES:
        env.pop(name, None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cron_env(cpa: Emulator, tmp_path: Path, values: dict[str, str] | None = None) -> dict[str, str]:
    """What the crontab gives the wrappers: the env file (no key in it) and the key file."""
    env_file = tmp_path / "cron.env"
    lines = [f"CPA_URL={cpa.url}", f"RECONCILER_STATE_DIR={tmp_path / 'state'}"]
    lines += [f"{k}='{v}'" for k, v in (EXAMPLE_VALUES if values is None else values).items()]
    env_file.write_text("\n".join(lines) + "\n")
    key_file = tmp_path / "management-key"
    key_file.write_text(KEY + "\n")
    env = clean_env()
    env["RECONCILER_ENV_FILE"] = str(env_file)
    env["CPA_MANAGEMENT_KEY_FILE"] = str(key_file)
    return env


def cron(script: str, desired: Path, env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        [str(CRON / script), str(desired)], env=env, capture_output=True, text=True, timeout=60
    )
    return done.returncode, done.stdout + done.stderr


def ci_env(cpa: Emulator, desired: Path, work: Path) -> dict[str, str]:
    """The workflow's env: CPA_URL and the key as a secret variable, plus the runner's files."""
    env = clean_env()
    env.update(EXAMPLE_VALUES)
    env.update(
        CPA_URL=cpa.url,
        CPA_MANAGEMENT_KEY=KEY,
        DESIRED=str(desired),
        GITHUB_STEP_SUMMARY=str(work / "summary.md"),
        GITHUB_OUTPUT=str(work / "output"),
        RUNNER_TEMP=str(work / "temp"),
    )
    return env


@pytest.fixture
def example(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "repo")
    return tmp_path / "repo" / "desired-state.yaml"


def test_the_example_serves_cron_ci_and_the_daemon(
    cpa: Emulator, example: Path, tmp_path: Path
) -> None:
    # cron: the key in a file, CPA_MANAGEMENT_KEY set nowhere
    env = cron_env(cpa, tmp_path)
    code, out = cron("converge.sh", example, env)
    assert code == 0, out
    assert "Apply complete" in out and "PLANTED" not in out
    assert cron("drift-alarm.sh", example, env) == (0, "")

    # CI: the key in a secret variable; the same file validates, plans no change
    work = tmp_path / "runner"
    work.mkdir()
    ci = ci_env(cpa, example, work)
    assert run_step(step("plan", "Validate (offline, no request to CPA)"), ci, work) == 0
    assert run_step(step("plan", "Plan"), ci, work) == 0
    assert "changes=false" in (work / "output").read_text()

    # the daemon: the key from a file (as in cron) and from the variable (as in a container)
    for flags, extra in (
        (("--management-key-file", env["CPA_MANAGEMENT_KEY_FILE"]), {}),
        ((), {"CPA_MANAGEMENT_KEY": KEY}),
    ):
        denv = {**clean_env(), **EXAMPLE_VALUES, "CPA_URL": cpa.url, **extra}
        daemon = start_daemon(example, *flags, "--listen", "127.0.0.1:0", env=denv)
        try:
            wait_until(lambda d=daemon: d.metric(SUCCESS) >= 1, "a successful cycle")
            assert daemon.all("drift.detected") == []
        finally:
            assert daemon.terminate() == 0
    assert "PLANTED" not in daemon.output() + daemon.stderr


def test_the_exported_file_serves_cron_and_ci(cpa: Emulator, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    exported = repo / "desired-state.yaml"
    env_file = tmp_path / "exported.env"
    key_file = tmp_path / "management-key"
    key_file.write_text(KEY + "\n")
    done = subprocess.run(
        [
            "reconciler",
            "export",
            "--url",
            cpa.url,
            "--management-key-file",
            str(key_file),
            "-o",
            str(exported),
            "--env-file",
            str(env_file),
            "--state-dir",
            str(tmp_path / "s"),
        ],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "secret-key: ${management-key}" in exported.read_text()

    # cron: the env file export wrote, plus CPA_URL and the state dir; the key in its file
    env = cron_env(cpa, tmp_path, values={})
    with Path(env["RECONCILER_ENV_FILE"]).open("a") as fh:
        fh.write(env_file.read_text())
    assert cron("drift-alarm.sh", exported, env) == (0, "")
    code, out = cron("converge.sh", exported, env)
    assert (code, out) == (0, ""), out  # nothing to do: quiet

    # CI: the same values as secret variables, the key as CPA_MANAGEMENT_KEY
    work = tmp_path / "runner"
    work.mkdir()
    ci = ci_env(cpa, exported, work)
    for line in env_file.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            ci[name] = subprocess.run(
                ["sh", "-c", f"printf %s {value}"], capture_output=True, text=True, check=True
            ).stdout
    assert run_step(step("plan", "Validate (offline, no request to CPA)"), ci, work) == 0
    assert run_step(step("plan", "Plan"), ci, work) == 0
    assert "changes=false" in (work / "output").read_text()


def test_a_fork_pull_request_validates_without_any_secret(example: Path, tmp_path: Path) -> None:
    """The workflow's fork job: no variable, no key, no request; a broken file still fails."""
    work = tmp_path / "runner"
    work.mkdir()
    env = {**clean_env(), "DESIRED": str(example)}
    script = step("validate-fork", "Validate without secrets")
    assert "--no-references" in script
    assert run_step(script, env, work) == 0
    example.write_text(example.read_text().replace("max-deletions: 5", "max-deletions: five"))
    assert run_step(script, env, work) == 1
