"""Every YAML the tool reads is bounded once aliases are expanded (issue 9, item 10).

An alias bomb ("billion laughs") in the server's config.yaml, one long string aliased many times
(in the server's config or in the desired file), or nesting deep enough to overflow libyaml's
C stack: each is refused in well under 10 s, as an error naming the place (the endpoint, or the
file and line), with exit 1 and no write to the server. The commands run as subprocesses under
a memory limit, so that a regression shows as a failure, not as a machine out of memory.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_server import HostileServer, Reply, Seen

from reconciler.desired.yaml_io import MAX_NODES, MAX_TEXT

KEY = "hostile-yaml-KEY-31c9"
ENDPOINT = "GET /v0/management/config.yaml"
MEMORY_LIMIT = 1536 * 1024 * 1024  # far below what any of these bombs needs when expanded
REPO = Path(__file__).resolve().parents[2]

DESIRED = """\
target:
  management-key: ${env:CPA_MANAGEMENT_KEY}
config:
  debug: true
"""


def billion_laughs(levels: int = 9) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels + 1)]
    return "debug: false\n" + "\n".join(lines) + "\n"


def string_amplification(copies: int = 200) -> str:
    """1 MiB of text, aliased ``copies`` times: a 1 MiB answer that expands to 200 MiB."""
    return f'debug: false\nnote: &s "{"x" * 1024 * 1024}"\napi-keys:\n' + "".join(
        "  - *s\n" for _ in range(copies)
    )


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli(*argv: str, cwd: Path, url: str, timeout: float = 30) -> tuple[int, str, str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CPA_", "HTTP", "ALL_PROXY"))}
    env.update(
        {"CPA_URL": url, "CPA_MANAGEMENT_KEY": KEY, "NO_COLOR": "1", "PYTHONPATH": str(REPO)}
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_memory,
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


def cpa_serving(config_text: str) -> HostileServer:
    def handler(req: Seen) -> Reply | None:
        path = req.path.split("?")[0]
        if req.method == "GET" and path == "/v0/management/config.yaml":
            return Reply(200, {"Content-Type": "application/yaml"}, config_text.encode())
        if req.method == "GET" and path == "/v0/management/auth-files":
            return Reply.json({"files": []})
        return None

    return HostileServer(handler)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("config_text", "says"),
    [
        pytest.param(billion_laughs(), f"more than {MAX_NODES:,} values", id="billion-laughs"),
        pytest.param(string_amplification(), "MiB of text", id="string-amplification"),
        pytest.param(
            "a: " + "[" * 100_000 + "]" * 100_000 + "\n",
            "nested more than 200 levels deep",
            id="deep-nesting",
        ),
    ],
)
@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_bomb_in_the_servers_config_is_refused_quickly(
    tmp_path: Path, config_text: str, says: str, command: str
) -> None:
    (tmp_path / "desired-state.yaml").write_text(DESIRED)
    argv = ["plan", "desired-state.yaml"]
    if command == "apply":
        argv = ["apply", "desired-state.yaml", "--auto-approve"]
    with cpa_serving(config_text) as server:
        code, out, err, seconds = run_cli(*argv, cwd=tmp_path, url=server.url)
    assert code == 1, (out, err)
    assert seconds < 10
    assert f"error: {ENDPOINT}: the server's config.yaml" in err
    assert says in err
    assert "Traceback" not in err
    assert "x" * 100 not in out + err
    assert {r.method for r in server.requests} == {"GET"}


def test_a_billion_laughs_desired_file_is_refused_with_its_line(tmp_path: Path) -> None:
    text = DESIRED + "\n".join(billion_laughs().splitlines()[1:]).replace("a", "x-a") + "\n"
    (tmp_path / "desired-state.yaml").write_text(text)
    code, _out, err, seconds = run_cli(
        "validate", "desired-state.yaml", cwd=tmp_path, url="http://127.0.0.1:9"
    )
    assert code == 1
    assert seconds < 10
    assert "desired-state.yaml:" in err
    assert "too large once aliases are expanded" in err


@pytest.mark.timeout(60)
def test_string_amplification_in_the_desired_file_is_refused_with_its_line(
    tmp_path: Path,
) -> None:
    """A valid file of ~1 MB whose aliases make over 1 GB of strings: refused at load."""
    long = "k" * 10_000
    text = (
        DESIRED
        + f'  api-keys-source: &s "{long}"\n'
        + "  api-keys:\n"
        + "".join("    - *s\n" for _ in range(100_000))
    )
    assert len(text) < 2 * 1024 * 1024
    (tmp_path / "desired-state.yaml").write_text(text)
    with cpa_serving("debug: false\n") as server:
        code, out, err, seconds = run_cli(
            "plan", "desired-state.yaml", cwd=tmp_path, url=server.url
        )
    assert code == 1, (out, err)
    assert seconds < 10
    # The line of the list that crossed the bound: config.api-keys, whose first item is line 7.
    assert "error: desired-state.yaml:7: YAML: document too large once aliases are expanded" in err
    assert f"more than {MAX_TEXT // (1024 * 1024)} MiB of text" in err
    assert long not in out + err
    assert server.requests == []  # refused before any request


@pytest.mark.timeout(60)
def test_a_deeply_nested_json_answer_is_one_line_naming_the_endpoint(tmp_path: Path) -> None:
    """json.loads meets Python's recursion limit (a RecursionError, which was a traceback)."""
    deep = b"[" * 100_000 + b"]" * 100_000

    def handler(req: Seen) -> Reply | None:
        if req.path.startswith("/v0/management/auth-files"):
            return Reply(200, {"Content-Type": "application/json"}, b'{"files": ' + deep + b"}")
        return None

    (tmp_path / "desired-state.yaml").write_text("auth-files:\n  files: []\n")
    with HostileServer(handler) as server:
        code, out, err, _seconds = run_cli(
            "plan", "desired-state.yaml", cwd=tmp_path, url=server.url
        )
    assert code == 1, (out, err)
    assert err.startswith(
        "error: GET /v0/management/auth-files: 200 with a JSON answer nested too deeply to read"
    )
    assert err.count("\n") == 1
