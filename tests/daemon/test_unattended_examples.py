"""examples/cron and examples/ci run for real against the emulator: the cron wrappers are
quiet unless something matters, and the workflow's plan and apply steps (their own shell
scripts, with GitHub's environment files) plan, report and apply exactly the saved plan."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import DESIRED, KEY, base_env, rewrite
from ruamel.yaml import YAML

from reconciler import cli
from reconciler.emulator import Emulator
from reconciler.statedir.lock import state_lock

REPO = Path(__file__).resolve().parents[2]
CRON = REPO / "examples" / "cron"
WORKFLOW = REPO / "examples" / "ci" / "cpa-reconciler.yml"


def tool_env(cpa: Emulator, tmp_path: Path) -> dict[str, str]:
    """What cron would give the wrappers: the env file and the key file, the tool on PATH."""
    env_file = tmp_path / "env"
    env_file.write_text(
        f"CPA_URL={cpa.url}\nNO_COLOR=1\nRECONCILER_STATE_DIR={tmp_path / 'state'}\n"
    )
    key_file = tmp_path / "management-key"
    key_file.write_text(KEY + "\n")
    env = base_env("unused", key=None)
    del env["CPA_URL"]
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["RECONCILER_ENV_FILE"] = str(env_file)
    env["CPA_MANAGEMENT_KEY_FILE"] = str(key_file)
    return env


def run(script: Path, desired: Path, env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        [str(script), str(desired)], env=env, capture_output=True, text=True, timeout=60
    )
    return done.returncode, done.stdout + done.stderr


def test_cron_wrappers(converged: Emulator, desired: Path, tmp_path: Path) -> None:
    env = tool_env(converged, tmp_path)
    assert run(CRON / "drift-alarm.sh", desired, env) == (0, "")  # converged: silent

    rewrite(desired, DESIRED.replace("request-retry: 3", "request-retry: 5"))
    code, out = run(CRON / "drift-alarm.sh", desired, env)
    assert code == 2
    assert "DRIFT" in out and "request-retry" in out

    with state_lock(tmp_path / "state"):  # the daemon is healing: this run is skipped quietly
        assert run(CRON / "converge.sh", desired, env) == (0, "")
    assert converged.mutating_requests() == []

    code, out = run(CRON / "converge.sh", desired, env)
    assert code == 0
    assert "applied" in out and "Apply complete" in out
    assert "PLANTED" not in out


def test_crontab_jobs_call_what_exists() -> None:
    lines = [ln.lstrip("#") for ln in (CRON / "crontab").read_text().splitlines()]
    jobs = [ln for ln in lines if re.match(r"^[*0-9]", ln)]
    assert len(jobs) >= 4
    for job in jobs:
        command = " ".join(job.split()[5:])
        assert "%" not in command  # cron turns % into a newline
        for word in ("drift-alarm.sh", "converge.sh"):
            if word in command:
                assert (CRON / word).stat().st_mode & 0o111
        if "reconciler " in command:
            argv = shlex.split(command.split("reconciler ", 1)[1].replace('"$', '"X'))
            cli.build_parser().parse_args(argv)  # every flag exists


def workflow() -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(WORKFLOW.read_text())
    return data


def step(job: str, name: str) -> str:
    for item in workflow()["jobs"][job]["steps"]:
        if item.get("name") == name:
            return str(item["run"])
    raise AssertionError(f"no step {name!r} in job {job}")


def test_workflow_shape() -> None:
    data = workflow()
    plan_steps = data["jobs"]["plan"]["steps"]
    uses = [s.get("uses", "") for s in plan_steps]
    assert any(u.startswith("actions/github-script") for u in uses)  # the PR comment
    assert any(u.startswith("actions/upload-artifact") for u in uses)
    apply_job = data["jobs"]["apply"]
    assert "refs/heads/main" in apply_job["if"] and apply_job["environment"]
    assert any(
        s.get("uses", "").startswith("actions/download-artifact") for s in apply_job["steps"]
    )
    assert "--plan plan.json" in step("apply", "Apply the plan")
    assert "$GITHUB_STEP_SUMMARY" in step("plan", "Plan")


@pytest.mark.parametrize("name", ["Plan", "Validate (offline, no request to CPA)"])
def test_workflow_commands_parse(name: str) -> None:
    for line in step("plan", name).splitlines():
        if line.strip().startswith("reconciler "):
            words = shlex.split(line.split(">", 1)[0].replace('"$', '"X'))
            cli.build_parser().parse_args(words[1:])


def run_step(script: str, env: dict[str, str], cwd: Path) -> int:
    return subprocess.run(["bash", "-e", "-c", script], env=env, cwd=cwd, timeout=60).returncode


def test_workflow_plan_and_apply_steps(converged: Emulator, desired: Path, tmp_path: Path) -> None:
    rewrite(desired, DESIRED.replace("debug: false", "debug: true"))
    work = tmp_path / "runner"
    work.mkdir()
    env = base_env(converged.url)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        DESIRED=str(desired),
        NO_COLOR="1",
        GITHUB_STEP_SUMMARY=str(work / "summary.md"),
        GITHUB_OUTPUT=str(work / "output"),
        RUNNER_TEMP=str(tmp_path / "runner-temp"),
    )

    assert run_step(step("plan", "Plan"), env, work) == 0
    assert "changes=true" in (work / "output").read_text()
    summary = (work / "summary.md").read_text()
    assert "debug" in summary and "PLANTED" not in summary
    assert (work / "plan.json").exists()

    assert run_step(step("apply", "Apply the plan"), env, work) == 0
    assert [r.path for r in converged.mutating_requests()] == ["/v0/management/config.yaml"]
    assert list((tmp_path / "runner-temp" / "cpa-reconciler" / "backups").iterdir())

    (work / "output").write_text("")
    assert run_step(step("plan", "Plan"), env, work) == 0
    assert "changes=false" in (work / "output").read_text()
