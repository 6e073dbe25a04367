"""The record of failed authentications (statedir/auth_record.py) holds a lock per target across
a first request: two targets' first requests are in flight together (a fleet's servers are not
asked one after another), two runs against the same target still one at a time (never two
failed attempts at once against one server)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from hostile_server import HostileServer, Reply, Seen

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.statedir.auth_record import RECORD, AuthRecord

HOLD = 0.4  # how long the server keeps each request


class InFlight:
    """Counts the requests a server is answering at once, over all its handler threads."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1


def _run(url: str, state: Path, key: str, start: threading.Barrier, out: list[str]) -> None:
    """One run: a fresh client and record (as a new process has), one listing."""
    record = AuthRecord(state, url)
    with ManagementClient(url, key, timeout=10, auth_guard=record) as client:
        start.wait(timeout=10)
        try:
            client.list_auth_file_summaries()
            out.append("ok")
        except errors.ApiError as exc:
            out.append(str(exc.status))


def _together(*runs: tuple[str, Path, str]) -> list[str]:
    start = threading.Barrier(len(runs))
    out: list[str] = []
    threads = [threading.Thread(target=_run, args=(*run, start, out)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(out)


def test_two_targets_first_requests_are_in_flight_at_once(tmp_path: Path) -> None:
    both = threading.Barrier(2)  # passes only when both servers hold a request at once
    met: list[bool] = []

    def handler(req: Seen) -> Reply:
        try:
            both.wait(timeout=5)
            met.append(True)
        except threading.BrokenBarrierError:
            met.append(False)
        return Reply.json({"files": []})

    with HostileServer(handler) as one, HostileServer(handler) as two:
        out = _together((one.url, tmp_path, "key"), (two.url, tmp_path, "key"))
    assert out == ["ok", "ok"]
    assert met == [True, True]  # neither first request waited for the other's answer


def test_two_runs_against_one_target_send_one_attempt_at_a_time(tmp_path: Path) -> None:
    flight = InFlight()

    def handler(req: Seen) -> Reply:
        with flight:
            time.sleep(HOLD)
        return Reply.json({"error": "invalid management key"}, 401)

    with HostileServer(handler) as srv:
        out = _together(*[(srv.url, tmp_path, "wrong-key")] * 3)
    assert out == ["401"] * 3
    assert len(srv.requests) == 3 and flight.most == 1
    # each run read the failures before it: the record holds all three
    (entry,) = json.loads((tmp_path / RECORD).read_text())["targets"].values()
    assert len(entry["failures"]) == 3


def test_a_target_lock_is_named_by_no_url(tmp_path: Path) -> None:
    def handler(req: Seen) -> Reply:
        return Reply.json({"files": []})

    with HostileServer(handler) as srv:
        assert _together((srv.url, tmp_path, "key")) == ["ok"]
    locks = sorted(p.name for p in tmp_path.glob("auth-record*.lock"))
    assert len(locks) == 2 and "auth-record.lock" in locks
    assert not any("127.0.0.1" in name or "http" in name for name in locks)


def _read_both(url: str, state: Path, key: str, start: threading.Barrier, out: list[str]) -> None:
    """One run of a plan's two reads (``together``): a fresh client and record."""
    with ManagementClient(url, key, timeout=10, auth_guard=AuthRecord(state, url)) as client:
        start.wait(timeout=10)
        try:
            client.together(client.get_config_yaml, client.list_auth_file_summaries)
            out.append("ok")
        except errors.ApiError as exc:
            out.append(str(exc.status))


def test_reads_sent_together_hold_the_target_lock_across_both(tmp_path: Path) -> None:
    """A key that passed last time sends its two reads at once, under the target's lock: runs
    started together against a server that changed its key meanwhile still bring at most N
    failed attempts (two at once from the first run, then one, then none)."""
    flight = InFlight()
    refuse = threading.Event()

    def handler(req: Seen) -> Reply:
        with flight:
            time.sleep(HOLD)
        if refuse.is_set():
            return Reply.json({"error": "invalid management key"}, 401)
        if req.path.endswith("/config.yaml"):
            return Reply.text("debug: false\n", **{"Content-Type": "application/yaml"})
        return Reply.json({"files": []})

    with HostileServer(handler) as srv:
        for _ in range(2):  # the first run probes alone; the second knows the key
            flight.most = 0
            start = threading.Barrier(1)
            out: list[str] = []
            _read_both(srv.url, tmp_path, "key", start, out)
            assert out == ["ok"]
        assert flight.most == 2 and len(srv.requests) == 4
        refuse.set()
        flight.most = 0
        start = threading.Barrier(3)
        out = []
        runs = [
            threading.Thread(target=_read_both, args=(srv.url, tmp_path, "key", start, out))
            for _ in range(3)
        ]
        for thread in runs:
            thread.start()
        for thread in runs:
            thread.join(timeout=30)
    assert sorted(out) == ["401", "401", "None"]
    assert len(srv.requests) == 4 + 3 and flight.most == 2
    (entry,) = json.loads((tmp_path / RECORD).read_text())["targets"].values()
    assert len(entry["failures"]) == 3 and "good" not in entry
