"""Every file an operator names is read only when it is a regular file, and only up to a limit
(issue 9, item 8).

``${file:/dev/zero}``, ``source: /dev/zero`` and ``--management-key-file /dev/zero`` grew memory
without end; a FIFO made the command (and the daemon) wait for ever. Each kind of file is tried
with ``/dev/zero``, a FIFO no one writes to, and a (sparse) regular file above its limit: the
command, run as a subprocess under a memory limit and a timeout, exits 1 in bounded time with a
message naming the file (and the limit), and sends no request to the server.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hostile_server import HostileServer, Reply, Seen

from reconciler import local_files
from reconciler.client.transport import CA_BUNDLE_LIMIT
from reconciler.errors import UsageError
from reconciler.local_files import (
    DOCUMENT_LIMIT,
    PLAN_FILE_LIMIT,
    SECRET_LIMIT,
    SOURCE_LIMIT,
    FileTooLargeError,
    NotRegularFileError,
    read_bounded,
)

KEY = "bounded-files-KEY-5b7e"
REPO = Path(__file__).resolve().parents[2]
MEMORY_LIMIT = 1024 * 1024 * 1024
SECONDS = 15  # each command must end well within this (they take ~1 s)

pytestmark = pytest.mark.timeout(120)

GOOD_SOURCE = '{"type": "codex", "email": "a@example.com", "access_token": "AT-PLANTED"}\n'


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli(
    *argv: str, cwd: Path, url: str, key: str | None = KEY
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CPA_", "RECONCILER_"))}
    env.update({"CPA_URL": url, "NO_COLOR": "1", "PYTHONPATH": str(REPO)})
    if key is not None:
        env["CPA_MANAGEMENT_KEY"] = key
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=SECONDS,
        preexec_fn=_limit_memory,
    )
    assert time.monotonic() - started < SECONDS
    return done


@pytest.fixture
def server() -> HostileServer:
    """A server that would answer an empty CPA: any request it records is a failure here."""

    def handler(req: Seen) -> Reply | None:
        if req.path.startswith("/v0/management/config.yaml"):
            return Reply(200, {"Content-Type": "application/yaml"}, b"debug: false\n")
        if req.path.startswith("/v0/management/auth-files"):
            return Reply.json({"files": []})
        return None

    with HostileServer(handler) as srv:
        yield srv  # type: ignore[misc]


def special(kind: str, tmp_path: Path, limit: int) -> str:
    """The path of a file of ``kind``: /dev/zero, a FIFO, or a sparse file over ``limit``."""
    if kind == "dev-zero":
        return "/dev/zero"
    if kind == "fifo":
        path = tmp_path / "named-pipe"
        os.mkfifo(path)
        return str(path)
    path = tmp_path / "huge"
    with path.open("wb") as fh:
        fh.truncate(limit + 1)
    return str(path)


KINDS = ["dev-zero", "fifo", "too-large"]


def reason(kind: str, limit: int) -> str:
    return {
        "dev-zero": "a character device, not a regular file",
        "fifo": "a FIFO, not a regular file",
        "too-large": f"larger than the {limit // (1024 * 1024)} MiB limit",
    }[kind]


def check_refused(
    done: subprocess.CompletedProcess[str],
    server: HostileServer,
    *says: str,
    reads_first: bool = False,
) -> None:
    """Exit 1 with one error naming ``says``, and no request (``reads_first``: reads only)."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    for text in says:
        assert text in done.stderr
    if reads_first:
        assert [r.method for r in server.requests] == ["GET"] * len(server.requests)
    else:
        assert server.requests == []


def check_desired_refused(
    tmp_path: Path,
    server: HostileServer,
    command: str,
    desired: str,
    *says: str,
    reads_first: bool = False,
) -> None:
    """``command desired-state.yaml`` holding ``desired`` is refused (``check_refused``)."""
    (tmp_path / "desired-state.yaml").write_text(desired)
    done = run_cli(command, "desired-state.yaml", cwd=tmp_path, url=server.url)
    check_refused(done, server, *says, reads_first=reads_first)


@pytest.mark.parametrize("command", ["validate", "plan"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_file_reference(tmp_path: Path, server: HostileServer, kind: str, command: str) -> None:
    path = special(kind, tmp_path, SECRET_LIMIT)
    check_desired_refused(
        tmp_path,
        server,
        command,
        f'config:\n  api-keys:\n    - "${{file:{path}}}"\n',
        "desired-state.yaml:3: config.api-keys[0]",
        f"${{file:{path}}}: the file cannot be read ({reason(kind, SECRET_LIMIT)})",
    )


@pytest.mark.parametrize("command", ["validate", "plan"])
@pytest.mark.parametrize("kind", KINDS)
def test_an_auth_file_source(
    tmp_path: Path, server: HostileServer, kind: str, command: str
) -> None:
    """plan reads a source only once the listing shows its file missing: two reads first."""
    path = special(kind, tmp_path, SOURCE_LIMIT)
    check_desired_refused(
        tmp_path,
        server,
        command,
        f"auth-files:\n  files:\n    - name: a.json\n      source: {path}\n",
        "desired-state.yaml:4: auth-files.files[0].source",
        f"{path} cannot be read ({reason(kind, SOURCE_LIMIT)})",
        reads_first=command == "plan",
    )


@pytest.mark.parametrize("command", ["plan", "export"])
@pytest.mark.parametrize("kind", KINDS)
def test_the_management_key_file(
    tmp_path: Path, server: HostileServer, kind: str, command: str
) -> None:
    path = special(kind, tmp_path, SECRET_LIMIT)
    (tmp_path / "desired-state.yaml").write_text("config:\n  debug: true\n")
    argv = [command, "--management-key-file", path]
    argv += ["desired-state.yaml"] if command == "plan" else ["--url", server.url]
    done = run_cli(*argv, cwd=tmp_path, url=server.url, key=None)
    check_refused(
        done,
        server,
        f"--management-key-file {path}: cannot be read ({reason(kind, SECRET_LIMIT)})",
    )


@pytest.mark.parametrize("kind", KINDS)
def test_the_desired_state_file(tmp_path: Path, server: HostileServer, kind: str) -> None:
    path = special(kind, tmp_path, DOCUMENT_LIMIT)
    done = run_cli("plan", path, cwd=tmp_path, url=server.url)
    check_refused(done, server, f"{path}: cannot be read: {reason(kind, DOCUMENT_LIMIT)}")


@pytest.mark.parametrize("kind", KINDS)
def test_a_config_file(tmp_path: Path, server: HostileServer, kind: str) -> None:
    path = special(kind, tmp_path, DOCUMENT_LIMIT)
    (tmp_path / "desired-state.yaml").write_text(f"config-file: {path}\n")
    done = run_cli("validate", "desired-state.yaml", cwd=tmp_path, url=server.url)
    if kind == "too-large":
        check_refused(done, server, f"{path}: cannot be read: {reason(kind, DOCUMENT_LIMIT)}")
    else:
        check_refused(done, server, f"desired-state.yaml:1: config-file: {path} is not a regular")


@pytest.mark.parametrize("kind", KINDS)
def test_a_plan_file(tmp_path: Path, server: HostileServer, kind: str) -> None:
    path = special(kind, tmp_path, PLAN_FILE_LIMIT)
    (tmp_path / "desired-state.yaml").write_text("config:\n  debug: true\n")
    done = run_cli("apply", "desired-state.yaml", "--plan", path, cwd=tmp_path, url=server.url)
    check_refused(done, server, f"plan file {path} cannot be read: {reason(kind, PLAN_FILE_LIMIT)}")


@pytest.mark.parametrize("kind", KINDS)
def test_the_ca_bundle(tmp_path: Path, server: HostileServer, kind: str) -> None:
    """--ca-cert /dev/zero grew memory without end; a FIFO waited for ever; a bundle over 1 MiB
    was read whole."""
    path = special(kind, tmp_path, CA_BUNDLE_LIMIT)
    (tmp_path / "desired-state.yaml").write_text("config:\n  debug: true\n")
    done = run_cli("plan", "desired-state.yaml", "--ca-cert", path, cwd=tmp_path, url=server.url)
    if kind == "too-large":
        check_refused(done, server, f"--ca-cert {path}: ", "larger than the 1 MiB limit")
    else:
        check_refused(done, server, f"--ca-cert {path}: ", "is not a regular file")


@pytest.mark.parametrize("kind", KINDS)
def test_the_webhook_secret_file(tmp_path: Path, server: HostileServer, kind: str) -> None:
    """The daemon stops before it starts (exit 1), as for any flag it cannot honour."""
    path = special(kind, tmp_path, SECRET_LIMIT)
    (tmp_path / "desired-state.yaml").write_text("config:\n  debug: true\n")
    done = run_cli(
        "daemon",
        "desired-state.yaml",
        "--listen",
        "127.0.0.1:0",
        "--webhook-url",
        "http://127.0.0.1:9/hook",
        "--webhook-secret-file",
        path,
        cwd=tmp_path,
        url=server.url,
    )
    check_refused(
        done,
        server,
        f"--webhook-secret-file {path}: cannot read it ({reason(kind, SECRET_LIMIT)})",
    )


# -- the reader itself ------------------------------------------------------------------------


def test_reads_a_regular_file_up_to_its_limit_and_follows_symlinks(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_bytes(b"x" * 1024)
    link = tmp_path / "link"  # a mounted Kubernetes secret is a symlink to a regular file
    link.symlink_to(data)
    assert read_bounded(link, 1024) == b"x" * 1024
    with pytest.raises(FileTooLargeError, match="larger than the 1023 bytes limit"):
        read_bounded(data, 1023)


def test_a_file_that_reports_no_size_is_still_bounded() -> None:
    """/proc files report st_size 0: the reader counts what it reads, not what stat says."""
    status = Path("/proc/self/status")
    if not status.is_file():  # pragma: no cover - not Linux
        pytest.skip("needs /proc/self/status")
    assert os.stat(status).st_size == 0
    with pytest.raises(FileTooLargeError):
        read_bounded(status, 16)


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda p: "/dev/zero", NotRegularFileError),
        (lambda p: (os.mkfifo(p / "f"), str(p / "f"))[1], NotRegularFileError),
        (lambda p: str(p), IsADirectoryError),
        (lambda p: str(p / "missing"), FileNotFoundError),
    ],
)
def test_what_is_refused(tmp_path: Path, make: Callable[[Path], str], error: type[OSError]) -> None:
    started = time.monotonic()
    with pytest.raises(error):
        read_bounded(make(tmp_path), local_files.SECRET_LIMIT)
    assert time.monotonic() - started < 1


def test_a_directory_key_file_is_a_usage_error(tmp_path: Path) -> None:
    from reconciler.desired.loader import read_key_file

    with pytest.raises(UsageError, match=r"--management-key-file .*: cannot be read \(is a"):
        read_key_file(tmp_path)


def test_references_resolve_to_a_bounded_amount_of_text() -> None:
    """Each file is bounded, and so is the text all references make together: one 1 MiB file
    named by many references is refused at the reference that crosses the bound."""
    from reconciler.desired import references
    from reconciler.desired.yaml_io import parse_yaml
    from reconciler.errors import ReferenceError_

    count = references.MAX_RESOLVED_TEXT // SECRET_LIMIT + 1
    text = "keys:\n" + "".join('  - "${file:big}"\n' for _ in range(count))
    document = parse_yaml(text, name="d.yaml")
    with pytest.raises(ReferenceError_) as caught:
        references.resolve(
            document.data, environ={}, read_file=lambda _: "x" * SECRET_LIMIT, document=document
        )
    assert str(caught.value).startswith(f"d.yaml:{count + 1}: keys[{count - 1}]: ")
    assert "resolve to more than 16 MiB of text in all" in str(caught.value)
    fewer = parse_yaml("keys:\n" + "".join(text.splitlines(True)[1:count]), name="d.yaml")
    resolved = references.resolve(
        fewer.data, environ={}, read_file=lambda _: "x" * SECRET_LIMIT, document=fewer
    )
    assert len(resolved.data["keys"]) == count - 1
