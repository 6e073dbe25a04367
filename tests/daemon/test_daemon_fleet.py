"""``reconciler daemon`` on a fleet file (``targets:``), over real HTTP on three emulators.

Cycles are driven one at a time in-process (``FleetReconciler.tick``, its events in memory and
its own metrics registry) where the test needs to say "in one cycle"; the command runs as a
subprocess where the endpoints (/readyz, /metrics) and the flags are the point.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from daemon_helpers import Lines, StartDaemon, assert_no_secrets, start_daemon, wait_until
from prometheus_client import CollectorRegistry

from reconciler.client.management import ManagementClient
from reconciler.daemon.cycle import DaemonConfig
from reconciler.daemon.events import EventSink
from reconciler.daemon.fleet import FleetReconciler
from reconciler.daemon.metrics import Metrics
from reconciler.emulator import Emulator

NAMES = ("eu-1", "eu-2", "us-1")
N_FILES = 9


def key_of(name: str) -> str:
    return f"fleet-key-{name}-PLANTED"


def env_of(name: str) -> str:
    return "CPA_KEY_" + name.upper().replace("-", "_")


def file_name(i: int) -> str:
    return f"claude-user{i:02d}@example.com.json"


@dataclass
class Fleet:
    """Three emulators and a fleet file spreading ``N_FILES`` credentials over them."""

    root: Path
    emus: dict[str, Emulator]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def desired(self) -> Path:
        return self.root / "desired-state.yaml"

    @property
    def state_dir(self) -> Path:
        return self.root / ".reconciler"

    def write(self, *, drain: tuple[str, ...] = (), debug: bool = False) -> Path:
        targets: dict[str, Any] = {}
        for name, emu in self.emus.items():
            targets[name] = {"url": emu.url, "management-key": "${env:" + env_of(name) + "}"}
            if name in drain:
                targets[name]["drain"] = True
        files = [{"name": file_name(i), "source": f"auth/{file_name(i)}"} for i in range(N_FILES)]
        doc = {
            "targets": targets,
            "config": {"debug": debug},
            "auth-files": {"placement": "spread", "max-deletions": 20, "files": files},
        }
        tmp = self.desired.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
        os.replace(tmp, self.desired)
        return self.desired

    def where(self) -> dict[str, list[str]]:
        """File name -> the servers holding it (read from their auth directories)."""
        out: dict[str, list[str]] = {}
        for name, emu in self.emus.items():
            for path in sorted(emu.auth_dir.glob("*.json")):
                out.setdefault(path.name, []).append(name)
        return out

    def client(self, name: str) -> ManagementClient:
        return ManagementClient(self.emus[name].url, key_of(name))


@pytest.fixture
def fleet(
    tmp_path: Path, emulator_factory: Callable[..., Emulator], monkeypatch: pytest.MonkeyPatch
) -> Fleet:
    root = tmp_path / "repo"
    (root / "auth").mkdir(parents=True)
    for i in range(N_FILES):
        user = f"user{i:02d}"
        data = {
            "type": "claude",
            "email": f"{user}@example.com",
            "access_token": f"at-{user}-PLANTED",
            "refresh_token": f"rt-{user}-PLANTED",
        }
        (root / "auth" / file_name(i)).write_text(json.dumps(data))
    emus = {name: emulator_factory(management_key=key_of(name)) for name in NAMES}
    env = {env_of(name): key_of(name) for name in NAMES}
    for variable in list(os.environ):
        if variable.startswith(("CPA_", "RECONCILER_")):
            monkeypatch.delenv(variable)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    world = Fleet(root, emus, env)
    world.write()
    return world


@dataclass
class Rig:
    """A ``FleetReconciler`` with its events in memory and its own registry."""

    reconciler: FleetReconciler
    out: Lines
    registry: CollectorRegistry
    seen: int = 0

    def tick(self) -> list[dict[str, Any]]:
        """One cycle; the events it emitted."""
        self.reconciler.tick()
        events = self.out.events()
        new, self.seen = events[self.seen :], len(events)
        return new

    def sample(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)

    def text(self) -> str:
        return self.out.getvalue() + self.reconciler.metrics.exposition().decode()


@pytest.fixture
def rig(fleet: Fleet) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def make(**settings: Any) -> Rig:
        config = DaemonConfig(
            desired=str(fleet.desired),
            state_dir=fleet.state_dir,
            listen=None,
            summary_interval=0,
            **settings,
        )
        out = Lines()
        registry = CollectorRegistry()
        metrics = Metrics(registry, targets=[])
        sink = EventSink(out)
        reconciler = FleetReconciler(config, sink, metrics, threading.Event(), dict(fleet.env))
        made.append(Rig(reconciler, out, registry))
        return made[-1]

    yield make
    for r in made:
        assert_no_secrets(r.text())


def named(events: list[dict[str, Any]], event: str, **match: Any) -> list[dict[str, Any]]:
    return [
        e for e in events if e["event"] == event and all(e.get(k) == v for k, v in match.items())
    ]


def test_drift_on_two_targets_is_healed_in_one_cycle(fleet: Fleet, rig: Callable[..., Rig]) -> None:
    r = rig(mode="heal", interval=60)
    first = r.tick()
    assert {e["target"] for e in named(first, "apply.succeeded")} == set(NAMES)
    where = fleet.where()
    assert sorted(where) == [file_name(i) for i in range(N_FILES)]
    assert all(len(on) == 1 for on in where.values())  # each on exactly one server
    assert r.tick() == []  # converged: a quiet cycle

    with fleet.client("eu-1") as eu1:
        eu1.set_setting("debug", True)
    gone = next(f for f, on in where.items() if on == ["us-1"])
    with fleet.client("us-1") as us1:
        us1.delete_auth_files([gone])
    for emu in fleet.emus.values():
        emu.reset_requests()

    events = r.tick()
    detected = named(events, "drift.detected")
    assert {(e["target"], e["kind"], e.get("path") or e["name"]) for e in detected} == {
        ("eu-1", "config", "debug"),
        ("us-1", "auth-file", gone),
    }
    assert all(e["url"] == fleet.emus[e["target"]].url for e in detected)
    applied = {e["target"]: e for e in named(events, "apply.succeeded")}
    assert set(applied) == {"eu-1", "us-1"}
    assert applied["eu-1"]["actions"] == ["update config/config.yaml"]
    assert applied["us-1"]["actions"] == [f"create auth-file/{gone}"]
    resolved = named(events, "drift.resolved", resolved_by="apply")
    assert {e["target"] for e in resolved} == {"eu-1", "us-1"}
    assert not fleet.emus["eu-2"].mutating_requests()  # nothing to do there
    assert "debug: false" in fleet.emus["eu-1"].config_yaml()
    assert fleet.where()[gone] == ["us-1"]

    for name in NAMES:
        assert r.sample("reconciler_cycles_total", target=name, result="success") == 3
        assert r.sample("reconciler_drift_items", target=name, kind="config") == 0
        assert r.sample("reconciler_last_success_timestamp_seconds", target=name)
    assert r.sample("reconciler_applies_total", target="eu-1", result="success") == 2
    assert r.sample("reconciler_applies_total", target="eu-2", result="success") == 1
    assert r.sample("reconciler_cycles_total", result="success") is None  # always labelled
    ready, body = r.reconciler.readiness()
    assert ready and body["targets_ready"] == 3


@pytest.mark.parametrize("how", ["down", "401"])
def test_one_target_down_the_others_are_reconciled_it_alone_backs_off(
    fleet: Fleet, rig: Callable[..., Rig], how: str
) -> None:
    r = rig(mode="heal", interval=60, ban_backoff=3600)
    r.tick()
    if how == "down":
        fleet.emus["eu-2"].stop()
    else:
        r.reconciler.environ = {**fleet.env, "CPA_KEY_EU_2": "wrong-key-PLANTED"}
    with fleet.client("eu-1") as eu1:
        eu1.set_setting("debug", True)

    events = r.tick()
    failed = named(events, "reconcile.error", target="eu-2")
    assert failed and all(e["target"] == "eu-2" for e in named(events, "reconcile.error"))
    if how == "401":
        assert failed[0]["stage"] == "auth"
        assert named(events, "auth.backoff", target="eu-2")[0]["hold_seconds"] == 3600
        assert r.sample("reconciler_auth_backoff", target="eu-2") == 1
    else:
        assert failed[0]["stage"] == "plan" and failed[0]["retry_in"] == 120
    assert named(events, "drift.resolved", target="eu-1", resolved_by="apply")
    assert "debug: false" in fleet.emus["eu-1"].config_yaml()
    assert r.sample("reconciler_auth_backoff", target="eu-1") == 0

    if how == "401":
        fleet.emus["eu-2"].reset_requests()
    for _ in range(3):  # the others go on at their interval; eu-2 waits out its backoff
        events = r.tick()
        assert not named(events, "reconcile.error")
    assert r.sample("reconciler_cycles_total", target="eu-1", result="success") == 5
    assert r.sample("reconciler_cycles_total", target="us-1", result="success") == 5
    assert r.sample("reconciler_cycles_total", target="eu-2", result="skipped") == 3
    assert r.sample("reconciler_cycles_total", target="eu-2", result="error") == 1
    if how == "401":
        assert fleet.emus["eu-2"].requests() == []  # not one more attempt with the bad key
    ready, body = r.reconciler.readiness()
    assert ready and body["targets_ready"] == 2 and body["targets_total"] == 3
    assert body["targets"]["eu-2"]["ready"] is False
    assert body["targets"]["eu-1"]["ready"] is True


def test_a_key_refused_on_a_write_holds_that_target(fleet: Fleet, rig: Callable[..., Rig]) -> None:
    """A 401 on one target's own write during heal: that target's apply.failed and its auth
    hold; its next cycles send nothing, the other targets go on."""
    r = rig(mode="heal", interval=60, ban_backoff=3600)
    r.tick()
    with fleet.client("eu-1") as eu1:
        eu1.set_setting("debug", True)
    with fleet.client("eu-2") as eu2:
        eu2.set_setting("debug", True)
    fleet.emus["eu-1"].inject_fault(
        "PUT", "/v0/management/config.yaml", status=401, body={"error": "invalid"}
    )
    events = r.tick()
    (failed,) = named(events, "apply.failed")
    assert failed["target"] == "eu-1" and failed["not_done"] == ["update config/config.yaml"]
    (hold,) = named(events, "auth.backoff")
    assert hold["target"] == "eu-1" and hold["hold_seconds"] == 3600
    assert r.sample("reconciler_auth_backoff", target="eu-1") == 1
    assert named(events, "apply.succeeded", target="eu-2")
    fleet.emus["eu-1"].reset_requests()
    r.tick()
    assert fleet.emus["eu-1"].requests() == []  # held: not one more attempt with that key
    assert r.sample("reconciler_auth_backoff", target="eu-2") == 0


def test_heal_moves_a_drained_target_only_with_allow_moves(
    fleet: Fleet, rig: Callable[..., Rig]
) -> None:
    r = rig(mode="heal", interval=60)
    r.tick()
    before = {f: on[0] for f, on in fleet.where().items()}
    on_eu2 = sorted(f for f, t in before.items() if t == "eu-2")
    assert on_eu2
    fleet.write(drain=("eu-2",))

    observe = rig(mode="observe", interval=60)
    pending = named(observe.tick(), "move.pending")
    assert sorted(e["name"] for e in pending) == on_eu2
    assert all(e["from"] == "eu-2" and e["target"] is None for e in pending)
    assert all(e["waiting"].startswith("observe mode") for e in pending)

    mutations = sum(len(e.mutating_requests()) for e in fleet.emus.values())
    events = r.tick()
    waiting = named(events, "move.pending")
    assert sorted(e["name"] for e in waiting) == on_eu2
    assert all("--allow-moves" in e["waiting"] for e in waiting)
    assert not named(events, "move.done")
    assert sum(len(e.mutating_requests()) for e in fleet.emus.values()) == mutations
    assert {f: on[0] for f, on in fleet.where().items()} == before
    assert r.sample("reconciler_fleet_moves") == len(on_eu2)
    assert r.tick() == []  # announced once

    mover = rig(mode="heal", interval=60, allow_moves=True)
    events = mover.tick()
    assert len(named(events, "move.done")) == len(on_eu2)
    assert sorted(e["name"] for e in named(events, "move.resolved", resolved_by="apply")) == (
        on_eu2
    )
    after = fleet.where()
    assert sorted(after) == sorted(before) and all(len(on) == 1 for on in after.values())
    assert not [f for f, on in after.items() if on == ["eu-2"]]
    assert {f for f in before if after[f] != [before[f]]} == set(on_eu2)
    assert not list((fleet.state_dir / "moves").glob("*.json"))  # every journal entry closed
    backed_up = sorted(p.name for p in fleet.state_dir.glob("backups/*/auth-files/*"))
    assert backed_up == on_eu2
    assert mover.sample("reconciler_moves_total", result="done") == len(on_eu2)
    assert mover.sample("reconciler_fleet_moves") == 0
    assert mover.tick() == []


def test_a_duplicate_is_reported_in_observe_mode(fleet: Fleet, rig: Callable[..., Rig]) -> None:
    rig(mode="heal", interval=60).tick()
    name = file_name(0)
    holder = fleet.where()[name][0]
    other = next(n for n in NAMES if n != holder)
    copy = json.loads((fleet.emus[holder].auth_dir / name).read_text())
    fleet.emus[other].write_auth_file("claude-copy.json", copy)
    fleet.emus[other].reset_requests()
    r = rig(mode="observe", interval=60)
    dup = named(r.tick(), "duplicate.detected")
    assert len(dup) == 1
    assert dup[0]["identity"] == "claude:user00@example.com"
    assert sorted(c["target"] for c in dup[0]["copies"]) == sorted([holder, other])
    assert dup[0]["severity"] == "error"
    assert r.sample("reconciler_fleet_duplicates") == 1
    assert fleet.emus[other].mutating_requests() == []


def test_the_daemon_command_on_a_fleet_one_server_down(
    fleet: Fleet, daemon: StartDaemon, rig: Callable[..., Rig]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CPA_", "RECONCILER_"))}
    env.update(fleet.env, PYTHONUNBUFFERED="1")
    rig(mode="heal", interval=60).tick()  # converged
    fleet.emus["us-1"].stop()
    d = daemon(fleet.desired, "--interval", "0.3", "--target", "eu-1", "--target", "us-1", env=env)
    started = d.wait_for("daemon.started")
    assert started["fleet"] is True and started["targets"] == ["eu-1", "us-1"]
    down = d.wait_for("reconcile.error", target="us-1")
    assert down["stage"] == "plan" and down["url"].startswith("http://127.0.0.1:")
    wait_until(
        lambda: d.metric('reconciler_cycles_total{result="success",target="eu-1"}') >= 3,
        "eu-1 reconciled while us-1 is down",
    )
    ready = d.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["targets_total"] == 2 and set(body["targets"]) == {"eu-1", "us-1"}
    assert body["targets"]["us-1"]["ready"] is False
    metrics = d.metrics()
    assert metrics['reconciler_failures_total{stage="plan",target="us-1"}'] >= 1
    assert metrics['reconciler_failures_total{stage="plan",target="eu-1"}'] == 0
    assert metrics['reconciler_cycles_total{result="success",target="eu-2"}'] >= 1  # read too
    assert not d.all("drift.detected", target="eu-2")  # not reconciled: outside --target
    exposition = d.get("/metrics").text
    assert d.terminate() == 0
    assert_no_secrets(d.output() + d.stderr + exposition)


def test_every_target_down_is_not_ready(fleet: Fleet, daemon: StartDaemon) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CPA_", "RECONCILER_"))}
    env.update(fleet.env, PYTHONUNBUFFERED="1")
    for emu in fleet.emus.values():
        emu.stop()
    d = daemon(fleet.desired, "--interval", "0.3", env=env)
    for name in NAMES:
        d.wait_for("reconcile.error", target=name)
    wait_until(lambda: d.get("/readyz").status_code == 503, "not ready")
    assert d.get("/readyz").json()["reason"] == "no target is ready"
    assert d.terminate() == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--target", "nowhere"), "--target nowhere: no such target"),
        (("--url", "http://127.0.0.1:1"), "is a fleet file"),
        (("--quota-interval", "60"), "--quota-interval does not take a fleet file"),
    ],
)
def test_bad_fleet_flags_exit_1_before_starting(
    fleet: Fleet, flags: tuple[str, ...], message: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CPA_", "RECONCILER_"))}
    env.update(fleet.env)
    d = start_daemon(fleet.desired, *flags, env=env)
    code = d.proc.wait(timeout=30)
    d.terminate()
    assert code == 1
    assert message in d.stderr
    assert not d.events


PROXY = "http://user:proxy-pw-PLANTED@127.0.0.1:9"  # nothing listens on the discard port


@pytest.mark.parametrize("kind", ["single", "fleet"])
def test_the_start_event_names_the_proxy_a_target_is_reached_through(
    fleet: Fleet, kind: str
) -> None:
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    env = {k: v for k, v in env.items() if not k.startswith(("CPA_", "RECONCILER_"))}
    env.update(fleet.env, HTTP_PROXY=PROXY, PYTHONUNBUFFERED="1")
    remote = "http://cpa.invalid:8317"
    if kind == "single":
        fleet.desired.write_text("config:\n  debug: false\n")
        env.update(CPA_URL=remote, CPA_MANAGEMENT_KEY=key_of("eu-1"))
        expected = {"url": remote, "proxy": "http://***@127.0.0.1:9", "from": "HTTP_PROXY"}
    else:
        doc = yaml.safe_load(fleet.desired.read_text())
        doc["targets"]["us-1"]["url"] = remote
        fleet.desired.write_text(yaml.safe_dump(doc))
        expected = {
            "target": "us-1",
            "url": remote,
            "proxy": "http://***@127.0.0.1:9",
            "from": "HTTP_PROXY",
        }
    d = start_daemon(fleet.desired, "--interval", "600", "--allow-insecure-http", env=env)
    try:
        started = d.wait_for("daemon.started")
        assert started["proxies"] == [expected]  # the loopback targets go direct: not listed
        assert started.get("fleet") is (True if kind == "fleet" else None)
    finally:
        d.terminate()
    assert_no_secrets(d.output() + d.stderr)


def test_a_move_cut_short_is_completed_by_the_next_heal_from_the_journal(
    fleet: Fleet, rig: Callable[..., Rig]
) -> None:
    rig(mode="heal", interval=60).tick()
    before = {f: on[0] for f, on in fleet.where().items()}
    on_eu2 = sorted(f for f, t in before.items() if t == "eu-2")
    fleet.write(drain=("eu-2",))
    for name in ("eu-1", "us-1"):  # every upload of a moved credential fails once
        fleet.emus[name].inject_fault("POST", "/v0/management/auth-files", status=500)
    mover = rig(mode="heal", interval=60, allow_moves=True)

    events = mover.tick()
    assert named(events, "move.failed")
    assert not named(events, "move.done")
    journal = sorted((fleet.state_dir / "moves").glob("*.json"))
    assert journal  # what was taken off eu-2 and not put anywhere yet
    where = fleet.where()
    assert all(len(on) == 1 for on in where.values())  # never on two servers

    events = mover.tick()  # the next heal ends every move
    assert named(events, "move.done", from_journal=True)
    after = fleet.where()
    assert sorted(after) == sorted(before) and all(len(on) == 1 for on in after.values())
    assert not [f for f in on_eu2 if after[f] == ["eu-2"]]
    assert not list((fleet.state_dir / "moves").glob("*.json"))
    assert mover.tick() == []
