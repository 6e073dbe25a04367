"""``desired.parse_ahead``: a large desired file parsed by a forked child reads exactly as the
command's own parse reads it (data, lines, the sections told, errors), and only then.

Each case runs in a fresh ``python`` process: forking is refused in a process running threads
(as pytest's may be), and what the child leaves behind is seen only once that process ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.desired import parse_ahead

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="parse_ahead needs os.fork")

_READ = """
import json, os, sys, threading
from reconciler.desired import parse_ahead, yaml_io
if os.environ.get("WITH_THREAD"):
    threading.Thread(target=threading.Event().wait, daemon=True).start()
started = parse_ahead.start(sys.argv[1:])
told = []
def on_section(key, value):
    told.append([key, value if value is None or len(json.dumps(value)) < 200 else "large"])
out = {"started": started}
try:
    doc = yaml_io.read_yaml(sys.argv[-1], name="desired.yaml", on_section=on_section)
except Exception as exc:
    out["error"] = str(exc)
else:
    out["data"] = doc.data
    out["lines"] = sorted([list(path), line] for path, line in doc.lines.items())
    out["string_keys"] = doc.string_keys
    out["dollar_paths"] = sorted(map(list, doc.dollar_paths or ()))
out["told"] = told
out["taken"] = parse_ahead.taken()
print(json.dumps(out))
"""


def _read(*paths: Path, ahead: bool = True, thread: bool = False) -> dict[str, Any]:
    """``start(paths)`` then ``read_yaml(paths[-1])`` in a new process, as JSON."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env[parse_ahead.SWITCH] = "1" if ahead else "0"
    if thread:
        env["WITH_THREAD"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", _READ, *map(str, paths)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _big(tmp_path: Path, tail: str = "", name: str = "desired.yaml") -> Path:
    """A desired file over ``MIN_SIZE``: a target, 6,000 api-keys, 2,000 auth-file entries."""
    lines = [
        "target:",
        "  url: http://127.0.0.1:8317",
        "  management-key: ${env:CPA_MANAGEMENT_KEY}",
        "config:",
        "  debug: false",
        "  api-keys:",
        *(f'    - "sk-{index:05d}"' for index in range(6000)),
        "auth-files:",
        "  prune: false",
        "  files:",
    ]
    for index in range(2000):
        lines += [
            f"    - name: codex-user{index:05d}@example.com.json",
            "      disabled: false",
            f"      fields: {{priority: {index % 9 + 1}, note: team-{index % 17}}}",
        ]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n" + tail)
    assert path.stat().st_size >= parse_ahead.MIN_SIZE
    return path


def _same_reading(one: dict[str, Any], two: dict[str, Any]) -> None:
    for key in ("data", "lines", "error", "string_keys", "dollar_paths"):
        assert one.get(key) == two.get(key), key


def test_a_large_file_is_read_by_the_child_exactly_as_here(tmp_path: Path) -> None:
    path = _big(tmp_path)
    ahead, here = _read(path), _read(path, ahead=False)
    assert (ahead["started"], ahead["taken"]) == (True, 1)
    assert (here["started"], here["taken"]) == (False, 0)
    _same_reading(ahead, here)
    assert ahead["data"]["auth-files"]["files"][1999]["fields"] == {
        "priority": 2,
        "note": "team-10",
    }
    assert ahead["string_keys"] is True
    assert ahead["dollar_paths"] == [["target", "management-key"]]
    # the same sections told, each once; a large value once the whole result is here
    assert sorted(ahead["told"], key=str) == sorted(here["told"], key=str)
    assert ahead["told"] == [
        ["target", None],
        ["target", {"url": "http://127.0.0.1:8317", "management-key": "${env:CPA_MANAGEMENT_KEY}"}],
        ["config", None],
        ["auth-files", None],
        ["config", "large"],
        ["auth-files", "large"],
    ]


def test_a_document_the_fast_path_leaves_is_read_here_and_told_once(tmp_path: Path) -> None:
    # an alias at the very end: the child told the sections before it, then gave up
    path = _big(tmp_path, tail="x-defaults: &d {a: 1}\nx-more: *d\n")
    ahead, here = _read(path), _read(path, ahead=False)
    assert (ahead["started"], ahead["taken"]) == (True, 0)
    assert ahead["data"]["x-more"] == {"a": 1}
    _same_reading(ahead, here)
    keys = [key for key, value in ahead["told"] if value is None]
    assert keys == ["target", "config", "auth-files", "x-defaults"]  # never twice
    # as the fast path here told them, but for the large values, which come with the result
    assert ahead["told"] == [told for told in here["told"] if told[1] != "large"]


def test_a_syntax_error_is_worded_here_as_without(tmp_path: Path) -> None:
    path = _big(tmp_path, tail="broken: [1, 2\n")
    ahead, here = _read(path), _read(path, ahead=False)
    assert ahead["taken"] == 0
    assert "YAML syntax error" in ahead["error"]
    assert ahead["error"] == here["error"]


def test_a_child_that_read_other_bytes_is_not_taken(tmp_path: Path) -> None:
    other = _big(tmp_path, name="other.yaml")
    path = _big(tmp_path, tail="extra: 1\n")
    # the child parses other.yaml (the first large argument); desired.yaml is read here
    ahead, here = _read(other, path), _read(path, ahead=False)
    assert (ahead["started"], ahead["taken"]) == (True, 0)
    _same_reading(ahead, here)
    assert ahead["data"]["extra"] == 1


def test_a_yaml_file_is_picked_before_another_large_argument(tmp_path: Path) -> None:
    plan = _big(tmp_path, name="plan.json")  # as `apply --plan plan.json desired.yaml`
    path = _big(tmp_path, tail="extra: 2\n")
    ahead = _read(plan, path)
    assert (ahead["started"], ahead["taken"]) == (True, 1)
    assert ahead["data"]["extra"] == 2


def test_small_files_switched_off_and_threaded_processes_are_not_forked(tmp_path: Path) -> None:
    small = tmp_path / "small.yaml"
    small.write_text("config: {debug: true}\n")
    assert _read(small)["started"] is False
    big = _big(tmp_path)
    assert _read(big, ahead=False)["started"] is False
    threaded = _read(big, thread=True)
    assert (threaded["started"], threaded["taken"]) == (False, 0)
    _same_reading(threaded, _read(big, ahead=False))


_LEAVE = """
import sys
from reconciler.desired import parse_ahead
assert parse_ahead.start(sys.argv[1:])
print(parse_ahead._pending.pid, flush=True)
"""


_STREAMS = """
import os, sys, time
from reconciler.desired import parse_ahead
assert parse_ahead.start(sys.argv[1:])
pid = parse_ahead._pending.pid
for _ in range(200):  # the child points its streams at /dev/null first thing
    held = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in (0, 1, 2)]
    if held == [os.devnull] * 3:
        break
    time.sleep(0.01)
print(held)
"""


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc to see the child")
def test_the_child_holds_none_of_the_command_s_streams(tmp_path: Path) -> None:
    """A caller reading the command's output through a pipe waits for no child of it."""
    done = subprocess.run(
        [sys.executable, "-c", _STREAMS, str(_big(tmp_path))],
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == str([os.devnull] * 3)


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc to see the child")
def test_a_child_not_taken_ends_with_the_process(tmp_path: Path) -> None:
    path = _big(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _LEAVE, str(path)],
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert not Path(f"/proc/{int(done.stdout)}").exists()


_CLI = """
import sys
from reconciler import cli
from reconciler.desired import parse_ahead
code = cli.main(sys.argv[1:])
print("taken", parse_ahead.taken(), "code", code)
"""


def test_the_cli_parses_the_desired_file_ahead(tmp_path: Path) -> None:
    path = _big(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO), CPA_MANAGEMENT_KEY="k")
    args = [sys.executable, "-c", _CLI, "validate", str(path), "--no-references"]
    ahead = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    here = subprocess.run(
        args, env={**env, parse_ahead.SWITCH: "0"}, capture_output=True, text=True, timeout=60
    )
    assert ahead.stdout.splitlines()[-1] == "taken 1 code 0", ahead.stderr
    assert here.stdout.splitlines()[-1] == "taken 0 code 0", here.stderr
    assert ahead.stdout == here.stdout.replace("taken 0", "taken 1")
    assert ahead.stderr == here.stderr
