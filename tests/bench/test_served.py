"""The emulators the fleet row serves each from a process of its own (``bench.served``): seeded
as in-process ones are, their requests counted from each one's own log, and never outliving
the benchmark, however it ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from bench.fixtures import MANAGEMENT_KEY, api_keys, file_name
from bench.runner import run_job
from bench.served import ServeSpec, served_emulators

ROOT = Path(__file__).resolve().parents[2]
HEADERS = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}


def _get(url: str, path: str) -> httpx.Response:
    answer = httpx.get(f"{url}/v0/management{path}", headers=HEADERS, timeout=30)
    answer.raise_for_status()
    return answer


def _listed(url: str) -> list[str]:
    return sorted(entry["name"] for entry in _get(url, "/auth-files").json()["files"])


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaped, as an orphan may be in a container, has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (alive := [pid for pid in pids if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def test_each_is_seeded_as_asked_in_its_own_process_and_counts_its_own_requests() -> None:
    specs = [ServeSpec(0, 3, 0.0, (1, 4)), ServeSpec(2, 3, 0.0)]
    with served_emulators(specs) as (placed, first_two):
        assert len({placed.pid, first_two.pid, os.getpid()}) == 3
        assert placed.url != first_two.url and placed.url.startswith("http://127.0.0.1:")
        assert _listed(placed.url) == [file_name(1), file_name(4)]
        assert _listed(first_two.url) == [file_name(0), file_name(1)]
        config = _get(placed.url, "/config.yaml").text
        assert all(f'"{key}"' in config for key in api_keys(3))
        # the seeding's warm-up read is not counted; the reads above are, each on its server
        assert [(r.method, r.path, r.status) for r in first_two.requests()] == [
            ("GET", "/v0/management/auth-files", 200)
        ]
        assert len(placed.requests()) == 2
        placed.reset_requests()
        assert placed.requests() == []
        assert len(first_two.requests()) == 1


def test_run_job_counts_the_requests_of_each_served_emulator() -> None:
    with served_emulators([ServeSpec(1, 1, 0.0), ServeSpec(2, 1, 0.0)]) as servers:
        servers[0].requests()  # a log read before the job does not count in it
        _get(servers[1].url, "/config.yaml")  # nor a request: run_job resets the logs first
        answer = run_job("fleet-floor", {"urls": [s.url for s in servers]}, servers)
    assert answer["files"] == 3
    assert answer["requests_each"] == [2, 2]


def test_the_children_end_when_the_block_fails() -> None:
    pids: list[int] = []
    specs = [ServeSpec(0, 0, 0.0), ServeSpec(0, 0, 0.0)]
    with pytest.raises(RuntimeError, match="a job failed"), served_emulators(specs) as servers:
        pids += [server.pid for server in servers]
        raise RuntimeError("a job failed")
    assert len(pids) == 2
    assert _wait_gone(pids, timeout=0.0) == []  # killed and reaped before the error goes on


_HOLDER = textwrap.dedent(
    """
    import json, sys, time
    from bench.served import ServeSpec, served_emulators

    with served_emulators([ServeSpec(1, 1, 0.0), ServeSpec(1, 1, 0.0)]) as servers:
        print(json.dumps([s.pid for s in servers]), flush=True)
        time.sleep(120)
    """
)


@pytest.mark.parametrize("how", ["ctrl-c", "killed"])
def test_no_child_outlives_the_benchmark(how: str) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) and a SIGKILL of the
    benchmark alone: either way the served emulators end."""
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stderr is not None
            pids = json.loads(holder.stdout.readline())
            assert all(_alive(pid) for pid in pids)
            if how == "ctrl-c":
                os.killpg(holder.pid, signal.SIGINT)
                assert holder.wait(timeout=15) != 0
                assert "KeyboardInterrupt" in holder.stderr.read()  # after the clean-up
            else:
                holder.kill()
                holder.wait(timeout=15)
            assert _wait_gone(pids) == []
        finally:
            if holder.poll() is None:
                holder.kill()
