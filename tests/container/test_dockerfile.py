"""The Dockerfile, read the way the builder reads it: base, stages, user, health check, command.

Docker cannot run here, so these checks hold the Dockerfile to its promises by parsing it,
and run its HEALTHCHECK command for real against a small HTTP server.
"""

from __future__ import annotations

import http.server
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from container_helpers import (
    REPO,
    Dockerfile,
    Instruction,
    dockerignore_excludes,
    parse_dockerfile,
    read_dockerfile,
    read_dockerignore,
    shell_words,
)

import reconciler
from reconciler.cli import build_parser

EXPECTED_CMD = [
    "daemon",
    "/desired/desired-state.yaml",
    "--listen",
    "0.0.0.0:9464",
    "--state-dir",
    "/var/lib/reconciler",
]
BUILD_TOOLS = re.compile(r"\b(apt-get|apt|apk|gcc|g\+\+|cc|make|build-essential|python3-dev)\b")


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return read_dockerfile()


def _option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def _healthcheck_argv(dockerfile: Dockerfile) -> list[str]:
    _flags, rest = dockerfile.final.last("HEALTHCHECK").flags_and_rest()
    assert rest.startswith("CMD "), "HEALTHCHECK CMD in exec form"
    return Instruction("CMD", rest[4:], 0).exec_form()


# -- the parser itself ---------------------------------------------------------------------


def test_parser_joins_continuations_and_drops_comments() -> None:
    text = (
        "# syntax=docker/dockerfile:1\n"
        "ARG BASE=python:3.11-slim\n"
        "FROM ${BASE} AS builder\n"
        "RUN a \\\n"
        "    # a comment inside the continuation\n"
        "    && b\n"
        "FROM ${BASE}\n"
        'CMD ["x", "y"]\n'
    )
    parsed = parse_dockerfile(text)
    assert parsed.global_args == {"BASE": "python:3.11-slim"}
    assert [s.name for s in parsed.stages] == ["builder", None]
    assert parsed.stage("builder").last("RUN").args == "a && b"
    assert parsed.final.last("CMD").exec_form() == ["x", "y"]


# -- base and stages -----------------------------------------------------------------------


def test_both_stages_use_one_pinned_slim_python(dockerfile: Dockerfile) -> None:
    assert len(dockerfile.stages) == 2
    bases = {dockerfile.resolve(s.base) for s in dockerfile.stages}
    assert len(bases) == 1
    (base,) = bases
    assert re.fullmatch(r"python:3\.1[12](\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base), base


def test_builder_makes_one_wheel_without_dependencies(dockerfile: Dockerfile) -> None:
    builder = dockerfile.stage("builder")
    words = shell_words(builder.last("RUN"))
    assert words[:2] == ["pip", "wheel"]
    assert {"--no-deps", "--no-cache-dir", "--wheel-dir"} <= set(words)


def test_final_stage_installs_only_the_wheel_from_the_builder(dockerfile: Dockerfile) -> None:
    final = dockerfile.final
    assert not final.all("COPY") and not final.all("ADD"), "no source tree in the final image"
    installs = [r for r in final.all("RUN") if "pip install" in r.args]
    assert len(installs) == 1
    flags, _rest = installs[0].flags_and_rest()
    assert any("from=builder" in f for f in flags), "the wheel comes by a mount from the builder"
    words = shell_words(installs[0])
    assert "--no-cache-dir" in words
    (target,) = [w for w in words[2:] if not w.startswith("-")]
    assert target.endswith(".whl")


def test_final_stage_installs_no_compiler_or_package_manager(dockerfile: Dockerfile) -> None:
    for run in dockerfile.final.all("RUN"):
        assert not BUILD_TOOLS.search(run.args), f"line {run.line}: {run.args}"


def test_every_pip_call_skips_the_cache(dockerfile: Dockerfile) -> None:
    pip_runs = [r for s in dockerfile.stages for r in s.all("RUN") if "pip " in r.args]
    assert pip_runs
    for run in pip_runs:
        assert "--no-cache-dir" in run.args, f"line {run.line}"


def test_python_environment(dockerfile: Dockerfile) -> None:
    env = " ".join(i.args for i in dockerfile.final.all("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env


def test_oci_labels_and_version(dockerfile: Dockerfile) -> None:
    labels = " ".join(i.args for i in dockerfile.final.all("LABEL"))
    for key in ("title", "description", "version", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    version_arg = next(a for a in dockerfile.final.all("ARG") if a.args.startswith("VERSION="))
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert version_arg.args == f"VERSION={pyproject['project']['version']}"
    assert reconciler.__version__ == pyproject["project"]["version"]


# -- user, volume, command -------------------------------------------------------------------


def test_runs_as_a_fixed_non_root_user(dockerfile: Dockerfile) -> None:
    final = dockerfile.final
    user = final.last("USER")
    uid, _, gid = user.args.partition(":")
    assert uid.isdigit() and int(uid) >= 10000, "numeric, so runAsNonRoot can verify it"
    assert gid.isdigit() and int(gid) != 0
    created = " ".join(r.args for r in final.all("RUN"))
    assert f"--uid {uid}" in created and f"--gid {gid}" in created
    last_run = max(r.line for r in final.all("RUN"))
    assert user.line > last_run, "everything is installed as root, nothing runs as root"


def test_state_dir_is_a_volume_owned_by_the_user(dockerfile: Dockerfile) -> None:
    final = dockerfile.final
    state_dir = _option(final.last("CMD").exec_form(), "--state-dir")
    assert state_dir in final.last("VOLUME").exec_form()
    uid = final.last("USER").args.split(":")[0]
    created = " ".join(r.args for r in final.all("RUN"))
    assert re.search(rf"install -d -o {uid} -g \d+ -m 0?700 {re.escape(state_dir)}\b", created)


def test_entrypoint_and_default_command(dockerfile: Dockerfile) -> None:
    final = dockerfile.final
    assert final.last("ENTRYPOINT").exec_form() == ["reconciler"]
    assert final.last("CMD").exec_form() == EXPECTED_CMD
    assert final.last("EXPOSE").args == "9464"


def test_default_command_is_accepted_by_the_daemon() -> None:
    args = build_parser().parse_args(EXPECTED_CMD)
    assert args.command == "daemon"


# -- HEALTHCHECK -------------------------------------------------------------------------------


def test_healthcheck_probes_healthz_on_the_listen_port(dockerfile: Dockerfile) -> None:
    argv = _healthcheck_argv(dockerfile)
    assert argv[:2] == ["python", "-c"], "the slim image has no curl"
    url = re.search(r"'(http://[^']+)'", argv[2])
    assert url is not None
    parts = urlsplit(url.group(1))
    listen = _option(dockerfile.final.last("CMD").exec_form(), "--listen")
    assert parts.hostname == "127.0.0.1"
    assert parts.port == int(listen.rsplit(":", 1)[1])
    assert parts.path == "/healthz"
    flags, _rest = dockerfile.final.last("HEALTHCHECK").flags_and_rest()
    assert any(f.startswith("--timeout=") for f in flags)


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        code = self.status if self.path == "/healthz" else 404
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    handler = type("Health", (_Health,), {})  # its own status, whatever other tests set
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    thread.join()
    server.server_close()


def _run_healthcheck(dockerfile: Dockerfile, port: int) -> int:
    argv = _healthcheck_argv(dockerfile)
    code = argv[2].replace("127.0.0.1:9464", f"127.0.0.1:{port}")
    assert code != argv[2]
    done = subprocess.run(
        [sys.executable, "-I", *argv[1:2], code], capture_output=True, timeout=30, check=False
    )
    return done.returncode


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False), (500, False)])
def test_healthcheck_exit_code_follows_the_answer(
    dockerfile: Dockerfile, health_server: http.server.HTTPServer, status: int, healthy: bool
) -> None:
    health_server.RequestHandlerClass.status = status  # type: ignore[attr-defined]
    code = _run_healthcheck(dockerfile, int(health_server.server_address[1]))
    assert (code == 0) is healthy


def test_healthcheck_fails_when_nothing_listens(
    dockerfile: Dockerfile, health_server: http.server.HTTPServer
) -> None:
    port = int(health_server.server_address[1])
    health_server.shutdown()
    health_server.server_close()
    assert _run_healthcheck(dockerfile, port) != 0


# -- build context -----------------------------------------------------------------------------


def test_builder_copies_exist_and_are_in_the_build_context(dockerfile: Dockerfile) -> None:
    patterns = read_dockerignore()
    copies = dockerfile.stage("builder").all("COPY")
    sources = [src for c in copies for src in c.args.split()[:-1]]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert not dockerignore_excludes(patterns, source.rstrip("/")), source
    assert not dockerignore_excludes(patterns, "reconciler/schema/desired-state.schema.json")
    assert not dockerignore_excludes(patterns, "reconciler/demo_data/auth/x.json")


@pytest.mark.parametrize(
    "path",
    [".git/config", ".venv/bin/python", "tests/conftest.py", "examples/.env", ".env",
     "reconciler/__pycache__/cli.cpython-311.pyc", "build/lib/x.py", "desired-state.yaml"],
)  # fmt: skip
def test_build_context_leaves_out(path: str) -> None:
    assert dockerignore_excludes(read_dockerignore(), path)


def test_dockerignore_matcher_semantics() -> None:
    assert dockerignore_excludes(["*"], "a/b/c")
    assert not dockerignore_excludes(["*", "!a/"], "a/b/c")
    assert dockerignore_excludes(["*", "!a/", "**/c"], "a/b/c")
    assert not dockerignore_excludes(["x"], "xy")
