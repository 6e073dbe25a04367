"""Run one measured job in a fresh subprocess and count the requests it made.

The emulator lives in this process (or each in a process of its own, ``bench.served``); the
job talks to it over loopback HTTP from its own process, so the job's clock and memory are its
own. Two kinds of job:

* ``run_job``: a function of ``bench.worker`` (imports done before its clock starts);
* ``run_command``: a whole command as a user runs it (``reconciler plan ...``, the minimal
  script), spawned and timed by ``bench.launch``, start-up and imports included.

Requests are counted from the emulator's request log (a served one's read over its control
pipe), which is reset before the job starts. A
job that fails, or a request the server answered with an error, stops the benchmark: a figure
from a failed run would be a lie.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from bench.fixtures import MANAGEMENT_KEY

ROOT = Path(__file__).resolve().parent.parent
TWO_GETS = ROOT / "bench" / "two_gets.py"


class BenchError(RuntimeError):
    """A job failed; the message says which and why (never with a secret: they are fake)."""


class Logged(Protocol):
    """A request of a server's log, as much as the runner reads of it."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def status(self) -> int: ...


class Server(Protocol):
    """A server a job talks to: an ``Emulator`` in this process or a ``ServedEmulator``."""

    @property
    def url(self) -> str: ...
    def reset_requests(self) -> None: ...
    def requests(self) -> Sequence[Logged]: ...


def reconciler_command() -> list[str]:
    """``reconciler`` as a user runs it: the console script installed beside this Python, or
    ``python -m reconciler`` when it is not installed."""
    script = Path(sys.executable).parent / "reconciler"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("reconciler")
    return [found] if found else [sys.executable, "-m", "reconciler"]


def imports_command() -> list[str]:
    """Python's start-up and the imports of ``reconciler plan`` (the parser built as ``main``
    builds it), nothing run: the part of the whole command spent before it starts working."""
    code = "from reconciler import cli; cli.build_parser(only='plan')"
    return [sys.executable, "-c", code]


def two_gets_command(*urls: str) -> list[str]:
    """The minimal script: Python, ``import httpx``, the two GETs (``bench/two_gets.py``), of
    each server at once when there are several."""
    return [sys.executable, str(TWO_GETS), *urls]


@functools.cache
def bytecode_cache() -> str:
    """A private folder for the jobs' compiled bytecode, removed when the benchmark ends.

    An installed package carries its ``.pyc`` files and a clone writes them on the first run,
    so a user's command does not compile its modules each time; with
    ``PYTHONDONTWRITEBYTECODE`` set (as in some containers) every run of a command from a
    clone would, and the figures would be of the compiler. Jobs write and read their bytecode
    here (``PYTHONPYCACHEPREFIX``), the working tree untouched, and each scenario runs its
    commands once unmeasured first.
    """
    folder = tempfile.mkdtemp(prefix="bench-pycache-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _run(
    label: str, argv: list[str], emulators: Sequence[Server], *, path: bool = True
) -> dict[str, Any]:
    env = {**os.environ, "CPA_MANAGEMENT_KEY": MANAGEMENT_KEY, "CPA_URL": emulators[0].url}
    env["NO_COLOR"] = "1"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = bytecode_cache()
    if path:  # the worker imports bench.*; a user's command runs without it (bench.launch
        # finds itself as `python -m` puts the working directory first on sys.path)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    for emulator in emulators:
        emulator.reset_requests()
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    logs = [emulator.requests() for emulator in emulators]
    if proc.returncode != 0 or not proc.stdout.strip():
        raise BenchError(f"job {label} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    answer: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if answer.get("rc", 0) != 0:
        raise BenchError(f"job {label}: the command exited {answer['rc']}:\n{proc.stderr[-4000:]}")
    failed = [
        f"{r.method} {r.path} -> {r.status}"
        for log in logs
        for r in log
        if not 200 <= r.status < 300
    ]
    if failed:
        raise BenchError(f"job {label}: the server refused requests: {failed[:5]}")
    answer["requests_each"] = [len(log) for log in logs]
    answer["requests"] = sum(answer["requests_each"])
    return answer


def _servers(emulator: Server | Sequence[Server]) -> Sequence[Server]:
    return emulator if isinstance(emulator, Sequence) else [emulator]


def run_job(job: str, spec: dict[str, Any], emulator: Server | Sequence[Server]) -> dict[str, Any]:
    """The answer of ``bench.worker`` job ``job``, plus ``requests``: how many requests the
    emulator saw (several emulators: their sum, and ``requests_each``, one count per server)."""
    argv = [sys.executable, "-m", "bench.worker", job, json.dumps(spec)]
    return _run(job, argv, _servers(emulator))


def run_command(
    label: str, command: list[str], emulator: Server | Sequence[Server]
) -> dict[str, Any]:
    """A whole command's exit status, wall time and peak RSS (``bench.launch``), plus
    ``requests`` (and ``requests_each``, as ``run_job``). Exit status 0 is required (``plan
    --detailed-exitcode``: no changes)."""
    spec = json.dumps({"argv": command})
    argv = [sys.executable, "-m", "bench.launch", spec]
    return _run(label, argv, _servers(emulator), path=False)
