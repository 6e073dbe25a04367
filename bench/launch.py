"""Time one whole command as a user runs it: ``python -m bench.launch SPEC``.

``SPEC`` is a JSON object with ``argv`` (the command, ``argv[0]`` a path to an executable);
the answer is one JSON line on stdout: ``rc``, ``wall`` (s, from spawning the command to
reaping it: the interpreter's start-up, every import and the work), ``cpu`` (s, the command's
user and system time, which other work on the machine inflates far less than wall time) and
``peak_mb`` (the command's peak RSS, ``ru_maxrss`` from ``wait4``).

This launcher is its own small process on purpose, importing only the standard library: Linux
carries the high-water mark of the process that spawns a command over into the command's
``ru_maxrss``, so the spawner must be smaller than what it measures (the benchmark's own
process, holding the emulator, is not). The command's output goes to files and is shown (its
last lines, on stderr) only when it fails.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from typing import Any

TAIL = 4000


def launch(argv: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-launch-") as tmp:
        out, err = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        actions = [
            (os.POSIX_SPAWN_OPEN, 1, out, flags, 0o600),
            (os.POSIX_SPAWN_OPEN, 2, err, flags, 0o600),
        ]
        start = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - start
        rc = os.waitstatus_to_exitcode(status)
        if rc != 0:
            for path in (out, err):
                with open(path, encoding="utf-8", errors="replace") as stream:
                    sys.stderr.write(stream.read()[-TAIL:])
    cpu = usage.ru_utime + usage.ru_stime
    return {"rc": rc, "wall": wall, "cpu": cpu, "peak_mb": usage.ru_maxrss / 1024.0}


def main(args: list[str]) -> int:
    spec = json.loads(args[0])
    sys.stdout.write(json.dumps(launch(list(spec["argv"]))) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
