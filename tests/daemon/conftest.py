"""Fixtures for the daemon tests: an emulator with the desired state applied, daemons that
are always stopped at the end of a test, and in-process reconcilers driven one cycle at a time
(``rig``)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_helpers import (
    CLIENT_KEY,
    KEY,
    Daemon,
    Rig,
    StartDaemon,
    base_env,
    start_daemon,
    write_workspace,
)
from prometheus_client import CollectorRegistry

from reconciler import cli
from reconciler.daemon.cycle import DaemonConfig, Reconciler
from reconciler.daemon.events import EventSink
from reconciler.daemon.metrics import Metrics
from reconciler.emulator import Emulator
from reconciler.pipeline import planning


@pytest.fixture
def cpa() -> Iterator[Emulator]:
    with Emulator(management_key=KEY) as emulator:
        yield emulator


@pytest.fixture
def desired(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "repo")


@pytest.fixture
def converged(
    cpa: Emulator,
    desired: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Emulator:
    """The emulator after ``reconciler apply`` of the desired state, request log cleared."""
    monkeypatch.setenv("CPA_URL", cpa.url)
    monkeypatch.setenv("CPA_MANAGEMENT_KEY", KEY)
    monkeypatch.setenv("CLIENT_KEY", CLIENT_KEY)
    assert cli.main(["apply", str(desired), "--auto-approve"]) == 0
    capsys.readouterr()
    cpa.reset_requests()
    return cpa


@pytest.fixture
def daemon(cpa: Emulator) -> Iterator[StartDaemon]:
    """``daemon(desired, *flags, env=None)`` starts one; every one is stopped at teardown."""
    started: list[Daemon] = []

    def start(desired: Path, *flags: str, env: dict[str, str] | None = None) -> Daemon:
        proc = start_daemon(desired, *flags, env=env if env is not None else base_env(cpa.url))
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.close()


@pytest.fixture
def rig(cpa: Emulator, tmp_path: Path) -> Iterator[Any]:
    """``rig(desired_text, **config)``: a Reconciler on a workspace holding that desired state."""

    def make(text: str, **config: Any) -> Rig:
        desired = write_workspace(tmp_path / "repo", text)
        settings: dict[str, Any] = {
            "desired": str(desired),
            "state_dir": tmp_path / "state",
            "target": planning.TargetOptions(url=cpa.url),
            "interval": 60.0,
            "listen": None,
            **config,
        }
        (tmp_path / "state").mkdir(exist_ok=True)
        out = io.StringIO()
        registry = CollectorRegistry()
        env = {"CPA_MANAGEMENT_KEY": KEY, "CLIENT_KEY": CLIENT_KEY}
        sink = EventSink(out)
        reconciler = Reconciler(
            DaemonConfig(**settings), sink, Metrics(registry), threading.Event(), env
        )
        return Rig(reconciler, out, registry, env)

    yield make
