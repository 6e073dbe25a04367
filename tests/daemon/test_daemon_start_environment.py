"""A daemon whose desired state references unset environment variables refuses to start (exit
1, every one listed): its environment cannot change while it runs. A missing ``${file:}`` is
not fatal: a mounted secret may appear after the start, and the next cycle picks it up."""

from __future__ import annotations

from pathlib import Path

from daemon_helpers import DESIRED, KEY, StartDaemon, base_env, rewrite, wait_until

from reconciler.emulator import Emulator

WITH_UNSET = DESIRED.replace(
    "    - ${env:CLIENT_KEY}\n", "    - ${env:CLIENT_KEY}\n    - ${env:TEAM_B_KEY}\n"
).replace("      fields:\n", "      fields:\n        note: ${env:NOTE_UNSET}\n")


def test_unset_variables_stop_the_daemon_at_once(
    cpa: Emulator, desired: Path, daemon: StartDaemon
) -> None:
    rewrite(desired, WITH_UNSET)
    proc = daemon(desired)
    assert proc.proc.wait(timeout=20) == 1
    proc.terminate()
    assert proc.events == []  # nothing started, no cycle
    err = proc.stderr
    assert "references 2 environment variable(s) that are not set: TEAM_B_KEY, NOTE_UNSET" in err
    assert "desired-state.yaml:7: config.api-keys[1]: ${env:TEAM_B_KEY} is not set" in err
    assert "${env:NOTE_UNSET} is not set" in err
    assert cpa.requests() == []


def test_unset_management_key_variable_stops_it_unless_a_key_is_given(
    cpa: Emulator, desired: Path, daemon: StartDaemon, tmp_path: Path
) -> None:
    rewrite(desired, "target:\n  management-key: ${env:MY_CPA_KEY}\n" + DESIRED)
    proc = daemon(desired, env=base_env(cpa.url, key=None))
    assert proc.proc.wait(timeout=20) == 1
    proc.terminate()
    assert "MY_CPA_KEY" in proc.stderr
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    running = daemon(desired, "--management-key-file", str(key_file), env=base_env(cpa.url, None))
    running.wait_for("desired.loaded")
    name = 'reconciler_cycles_total{result="success"}'
    wait_until(lambda: running.metric(name) >= 1, "a successful cycle")
    assert running.terminate() == 0


def test_a_missing_file_reference_is_waited_for(
    cpa: Emulator, desired: Path, daemon: StartDaemon
) -> None:
    rewrite(desired, DESIRED.replace("${env:CLIENT_KEY}", "${file:mounted/client-key}"))
    proc = daemon(desired, "--interval", "0.5", "--jitter", "0")
    error = proc.wait_for("reconcile.error", stage="desired-state")
    assert "${file:mounted/client-key}: the file does not exist" in error["reason"]
    (desired.parent / "mounted").mkdir()
    (desired.parent / "mounted" / "client-key").write_text("from-the-mount\n")
    proc.wait_for("desired.loaded")
    assert proc.terminate() == 0
