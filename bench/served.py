"""Seeded emulators each in a process of its own, as real servers are on their own machines.

``served_emulators(specs)`` starts one child ``python -m bench.served`` per spec, all at once,
and yields a :class:`ServedEmulator` for each once every one is ready. A child builds exactly
the emulator ``fixtures.seeded_emulator`` builds in this process (the same seeding, api-keys,
auth cost and warm-up read, its request log reset), serves it on 127.0.0.1 on a port of its
own, and answers a tiny protocol of JSON lines on its stdin and stdout:

* first, the parent writes the spec (``files``, ``keys``, ``auth_cost``, ``indices``) and the
  child answers ``{"url": ...}`` once it serves;
* then ``{"op": "reset"}`` (its request log emptied, answer ``{}``) and ``{"op": "requests"}``
  (answer ``{"requests": [{"method", "path", "status"}, ...]}``, the log as
  ``Emulator.requests`` has it).

The child ends when its stdin closes: the parent closes it on leaving the context (normally, on
an error or on Ctrl-C, which the child itself ignores), and the system closes it when the
parent dies, however it dies, so no child outlives the benchmark. A child that does not end
within seconds of that is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench.runner import BenchError

ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 10.0  # seconds a child has to end once its stdin is closed
TAIL = 4000


@dataclass(frozen=True)
class ServeSpec:
    """What ``fixtures.seeded_emulator`` is given: the files ``0 .. files - 1`` (or those of
    ``indices``), ``keys`` api-keys, ``auth_cost`` seconds per authenticated request."""

    files: int
    keys: int
    auth_cost: float
    indices: tuple[int, ...] | None = None

    def as_json(self) -> dict[str, Any]:
        indices = None if self.indices is None else list(self.indices)
        return {
            "files": self.files,
            "keys": self.keys,
            "auth_cost": self.auth_cost,
            "indices": indices,
        }


@dataclass(frozen=True)
class ServedRequest:
    """One request of a child's log, as much of ``RequestRecord`` as the benchmark reads."""

    method: str
    path: str
    status: int


class ServedError(BenchError):
    """A child emulator could not start or stopped answering; the message carries its stderr."""


class ServedEmulator:
    """The parent's handle on one child: its ``url``, its request log reset and read."""

    def __init__(self, proc: subprocess.Popen[str], stderr: IO[bytes]) -> None:
        self._proc = proc
        self._stderr = stderr
        self.url = ""

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _send(self, message: dict[str, Any]) -> None:
        stdin = self._proc.stdin
        if stdin is None:
            raise ServedError("the emulator process has no stdin")
        try:
            stdin.write(json.dumps(message) + "\n")
            stdin.flush()
        except OSError as exc:  # a broken pipe: the child is gone
            raise self._failed(f"the emulator process stopped ({exc})") from exc

    def _receive(self, what: str) -> dict[str, Any]:
        line = self._proc.stdout.readline() if self._proc.stdout is not None else ""
        if not line:
            raise self._failed(what)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _ask(self, message: dict[str, Any]) -> dict[str, Any]:
        self._send(message)
        return self._receive("the emulator process stopped answering")

    def _failed(self, what: str) -> ServedError:
        self._stderr.seek(0)
        tail = self._stderr.read().decode("utf-8", errors="replace")[-TAIL:]
        return ServedError(f"{what} (exit {self._proc.poll()}):\n{tail}")

    def start(self, spec: ServeSpec) -> None:
        """Send the spec: the child seeds and starts its emulator (``wait_ready`` waits)."""
        self._send(spec.as_json())

    def wait_ready(self) -> None:
        self.url = str(self._receive("the emulator process did not start")["url"])

    def reset_requests(self) -> None:
        self._ask({"op": "reset"})

    def requests(self) -> list[ServedRequest]:
        records = self._ask({"op": "requests"})["requests"]
        return [ServedRequest(r["method"], r["path"], int(r["status"])) for r in records]

    def stop(self) -> None:
        """Close the child's stdin (it ends on that), wait for it; kill it if it lingers."""
        with contextlib.suppress(OSError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        finally:
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._stderr.close()

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()


def _spawn() -> ServedEmulator:
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    stderr = tempfile.TemporaryFile()  # noqa: SIM115 - the child's handle closes it in stop()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.served"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=ROOT,
            env=env,
        )
    except BaseException:
        stderr.close()
        raise
    return ServedEmulator(proc, stderr)


@contextlib.contextmanager
def served_emulators(specs: Sequence[ServeSpec]) -> Iterator[list[ServedEmulator]]:
    """One child emulator per spec, started together (seeding in parallel), every one serving
    when this yields; all of them stopped on leaving, killed first if leaving on an error."""
    children: list[ServedEmulator] = []
    try:
        for spec in specs:
            child = _spawn()
            children.append(child)
            child.start(spec)
        for child in children:
            child.wait_ready()
        yield children
    except BaseException:
        for child in children:
            child.kill()
        raise
    finally:
        for child in children:
            child.stop()


# -- the child ---------------------------------------------------------------------------------


def serve(stdin: IO[str], stdout: IO[str]) -> int:
    """The child's side: seed and serve the emulator of the first line's spec, then answer the
    parent's lines until stdin closes."""
    from bench.fixtures import seeded_emulator

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us by closing stdin
    first = stdin.readline()
    if not first:
        return 0
    spec = json.loads(first)
    indices = spec["indices"]
    with seeded_emulator(
        files=int(spec["files"]),
        keys=int(spec["keys"]),
        auth_cost=float(spec["auth_cost"]),
        indices=None if indices is None else [int(i) for i in indices],
    ) as emulator:
        stdout.write(json.dumps({"url": emulator.url}) + "\n")
        stdout.flush()
        for line in stdin:
            op = json.loads(line)["op"]
            answer: dict[str, Any] = {}
            if op == "reset":
                emulator.reset_requests()
            elif op == "requests":
                answer["requests"] = [
                    {"method": r.method, "path": r.path, "status": r.status}
                    for r in emulator.requests()
                ]
            else:
                raise ValueError(f"unknown op {op!r}")
            stdout.write(json.dumps(answer) + "\n")
            stdout.flush()
    return 0


def main() -> int:
    """The protocol keeps the real stdout to itself: anything else written to fd 1 (a stray
    print) goes to stderr instead of into an answer."""
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    with protocol:
        return serve(sys.stdin, protocol)


if __name__ == "__main__":
    raise SystemExit(main())
