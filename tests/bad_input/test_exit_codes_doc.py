"""docs/exit-codes.md says the truth: each error class named there has that exit code, every
error class has a documented code, and Ctrl-C really exits 130."""

from __future__ import annotations

import inspect
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from bad_input_cases import EXIT_CODES_DOC, documented_exit_codes

from reconciler import errors

_CLASS_ROW = re.compile(r"^\| `(?P<name>\w+)`[^|]*\|.*\| (?P<code>\d+) \|$")


def _class_rows() -> dict[str, int]:
    rows = {}
    for line in EXIT_CODES_DOC.read_text().splitlines():
        match = _CLASS_ROW.match(line.strip())
        if match:
            rows[match["name"]] = int(match["code"])
    return rows


def _error_classes() -> dict[str, type[errors.ReconcilerError]]:
    return {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.ReconcilerError)
    }


def test_the_documented_codes() -> None:
    assert documented_exit_codes() == {0, 1, 2, 3, 4, 5, 130}


def test_each_documented_class_has_its_code() -> None:
    rows = _class_rows()
    classes = _error_classes()
    assert len(rows) >= 10
    for name, code in rows.items():
        assert name in classes, f"docs/exit-codes.md names {name}, which errors.py lacks"
        assert classes[name].exit_code == code, name


def test_every_error_class_exits_with_a_documented_code() -> None:
    for name, cls in _error_classes().items():
        assert cls.exit_code in documented_exit_codes(), name
        assert name in EXIT_CODES_DOC.read_text() or issubclass(cls, errors.ApiError), name


def test_ctrl_c_exits_130(tmp_path: Path) -> None:
    """SIGINT while plan waits for an answer: 'interrupted', exit 130."""
    desired = tmp_path / "desired-state.yaml"
    desired.write_text("config:\n  debug: true\n")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(30)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CPA_")}
        env.update(CPA_URL=url, CPA_MANAGEMENT_KEY="k", NO_COLOR="1")
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "plan", str(desired)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        accepted = threading.Event()
        try:
            conn, _ = server.accept()  # the request is on its way; it gets no answer
            accepted.set()
            with conn:
                proc.send_signal(signal.SIGINT)
                _out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
    assert accepted.is_set()
    assert proc.returncode == 130, err
    assert err.strip().endswith("interrupted")
    assert "Traceback" not in err
