"""The run loop driven in-process (the stop flag is a parameter), the event line formats, the
webhook fed by the daemon, and the command's flag checks."""

from __future__ import annotations

import argparse
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import CLIENT_KEY, KEY, Lines, Receiver, wait_until
from prometheus_client import CollectorRegistry

from reconciler import cli, errors
from reconciler.client.management import ManagementClient
from reconciler.commands import daemon as daemon_command
from reconciler.daemon import service as daemon
from reconciler.daemon.events import EVENTS, EventSink, format_text
from reconciler.daemon.webhook import verify
from reconciler.emulator import Emulator
from reconciler.pipeline import planning

SECRET = b"webhook-secret-PLANTED"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def test_run_in_process_with_a_webhook(
    converged: Emulator, desired: Path, receiver: Receiver, tmp_path: Path
) -> None:
    config = daemon.DaemonConfig(
        desired=str(desired),
        state_dir=tmp_path / "state",
        target=planning.TargetOptions(url=converged.url),
        interval=0.3,
        listen=None,
        webhook_url=receiver.url,
        webhook_secret=SECRET,
    )
    stop = threading.Event()
    out = Lines()
    registry = CollectorRegistry()
    outcome: list[daemon.Outcome] = []
    env = {"CPA_MANAGEMENT_KEY": KEY, "CLIENT_KEY": CLIENT_KEY}
    thread = threading.Thread(
        target=lambda: outcome.append(
            daemon.run(config, stop, stdout=out, environ=env, registry=registry)
        )
    )
    thread.start()
    try:
        wait_until(
            lambda: registry.get_sample_value("reconciler_cycles_total", {"result": "success"}),
            "a cycle",
        )
        with ManagementClient(converged.url, KEY) as client:
            client.set_setting("debug", True)
        headers, body = receiver.got.get(timeout=20)
        assert verify(body, SECRET, headers["x-signature"])
        sent = json.loads(body)
        assert (sent["event"], sent["path"]) == ("drift.detected", "debug")
        assert registry.get_sample_value("reconciler_drift_items", {"kind": "config"}) == 1
    finally:
        stop.set()
        thread.join(timeout=20)
    assert outcome == [daemon.Outcome(0, abandoned_cycle=False)]
    names = [e["event"] for e in out.events()]
    assert names[0] == "daemon.started" and names[-1] == "daemon.stopped"
    assert "drift.detected" in names
    assert converged.mutating_requests()[-1].path.endswith("/debug")  # observe: only ours


def test_event_lines() -> None:
    out = io.StringIO()
    sink = EventSink(out, target="http://user:pw-PLANTED@cpa:8317", clock=lambda: "T")
    sink.emit("drift.detected", kind="config", path="debug", before=True, after=False, none=None)
    record = json.loads(out.getvalue())
    assert record == {
        "event": "drift.detected",
        "time": "T",
        "severity": "info",
        "target": "http://***@cpa:8317",
        "kind": "config",
        "path": "debug",
        "before": True,
        "after": False,
    }
    text = format_text({**record, "reason": "two words", "severity": "error"})
    assert text.startswith("T ERROR drift.detected ")
    assert 'reason="two words"' in text and "path=debug" in text and "before=true" in text
    with pytest.raises(ValueError):
        sink.emit("not.an.event")
    assert {
        "drift.detected",
        "drift.resolved",
        "apply.succeeded",
        "apply.failed",
        "reconcile.error",
    } <= set(EVENTS)


def test_text_log_format(desired: Path) -> None:
    out = io.StringIO()
    sink = EventSink(out, log_format="text", clock=lambda: "T")
    sink.emit("reconcile.error", stage="desired-state", reason=f"{desired}:6: bad")
    assert out.getvalue().startswith(
        "T ERROR reconcile.error target=null stage=desired-state reason="
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--interval", "0"], "must be more than 0"),
        (["--jitter", "2"], "between 0 and 1"),
        (["--summary-interval", "-1"], "must be 0 or more"),
        (["--mode", "fix"], "invalid choice"),
        (["--listen", "nowhere"], "expected HOST:PORT"),
        (["--url", "http://cpa.example.com"], "plain http"),
        (["--webhook-url", "ftp://hooks"], "not an http"),
    ],
)
def test_bad_flags_exit_1_before_starting(
    desired: Path,
    flags: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLIENT_KEY", "k")  # an unset variable is refused first, on its own
    try:
        code = cli.main(["daemon", str(desired), *flags])
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    assert code == 1
    captured = capsys.readouterr()
    assert message in captured.err
    assert "daemon.started" not in captured.out


def test_listen_on_a_busy_port_is_a_usage_error(desired: Path, tmp_path: Path) -> None:
    config = daemon.DaemonConfig(desired=str(desired), state_dir=tmp_path, listen="127.0.0.1:0")
    with daemon_server(config) as address:
        busy = daemon.DaemonConfig(desired=str(desired), state_dir=tmp_path, listen=address)
        with pytest.raises(errors.UsageError, match="cannot listen"):
            daemon.run(busy, threading.Event(), stdout=io.StringIO(), environ={})


class daemon_server:  # a context manager used like a function
    """A daemon running in a thread (no target reachable); yields its listen address."""

    def __init__(self, config: daemon.DaemonConfig) -> None:
        self.config, self.stop, self.out = config, threading.Event(), Lines()

    def __enter__(self) -> str:
        self.thread = threading.Thread(
            target=daemon.run,
            args=(self.config, self.stop),
            kwargs={"stdout": self.out, "environ": {}},
        )
        self.thread.start()
        started = wait_until(
            lambda: [e for e in self.out.events() if e["event"] == "daemon.started"], "start"
        )
        return str(started[0]["listen"])

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=20)


def test_heal_refuses_to_start_without_a_usable_state_dir(desired: Path, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    config = daemon.DaemonConfig(
        desired=str(desired), state_dir=not_a_dir / "state", mode="heal", listen=None
    )
    with pytest.raises(errors.UsageError, match="--state-dir"):
        daemon.run(config, threading.Event(), stdout=io.StringIO(), environ={})


def test_summary_interval_reaches_the_config(desired: Path) -> None:
    parser = argparse.ArgumentParser()
    daemon_command.add_arguments(parser)
    default = daemon_command.config_from(parser.parse_args([str(desired)]), {})
    assert default.summary_interval == 3600.0
    off = daemon_command.config_from(
        parser.parse_args([str(desired), "--summary-interval", "0"]), {}
    )
    assert off.summary_interval == 0.0
