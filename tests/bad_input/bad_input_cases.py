"""The bad-input catalogue: loading ``cases/<name>/case.yaml`` and running one case.

A case is a directory holding the files the command needs (usually ``desired-state.yaml`` and
``auth/``) and ``case.yaml``, which says what to run and what must come out::

    # one line: what is wrong
    category: desired-state | reference | source | plan-file | flag | server
    argv: [apply, desired-state.yaml, --auto-approve]   # run in a copy of the case directory
    env: {NAME: value, OTHER: null}       # on top of CPA_URL/CPA_MANAGEMENT_KEY (null unsets)
    emulator: {management_key: null}      # Emulator keyword arguments (optional)
    setup: ban                            # a name in SETUPS: disturb the server first (optional)
    unreadable: [auth/bob.json]           # made mode 000 before the run (optional)
    never: [a planted value]              # must not appear in anything printed (optional)
    exit: 1                               # the exit code (documented in docs/exit-codes.md)
    place: "desired-state.yaml:6:"        # the place the message must name
    says: ["unknown key 'x'"]             # more text the message must hold
    requests: none | reads                # none: the server saw no request at all

In ``argv``, ``env``, ``emulator``, ``place``, ``says`` and the case's files, ``@URL@`` is the
emulator's URL, ``@KEY@`` its management key, ``@DEAD_URL@`` a loopback URL nothing listens
on and ``@LAN_IP@`` a non-loopback address of this host.

Most cases run ``reconciler.cli.main`` in this process. A case with ``unreadable`` files runs
``python -m reconciler`` in a subprocess instead; as root (who reads any file) that subprocess
runs without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (``setpriv``), so mode 000 holds.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from ruamel.yaml import YAML

from reconciler import cli
from reconciler.emulator import Emulator

HERE = Path(__file__).resolve().parent
CASES_DIR = HERE / "cases"
REPO = HERE.parents[1]
EXIT_CODES_DOC = REPO / "docs" / "exit-codes.md"

KEY = "bad-input-KEY-5e0c2b91"
CATEGORIES = ("desired-state", "reference", "source", "plan-file", "flag", "server")
CASE_KEYS = frozenset(
    {
        "category",
        "argv",
        "env",
        "emulator",
        "setup",
        "unreadable",
        "never",
        "exit",
        "place",
        "says",
        "requests",
    }
)
ENV_CLEARED = ("CPA_URL", "CPA_MANAGEMENT_KEY", "SSL_CERT_FILE", "SSL_CERT_DIR")


@dataclass(frozen=True)
class Case:
    name: str
    directory: Path
    about: str
    category: str
    argv: tuple[str, ...]
    exit: int
    place: str
    says: tuple[str, ...]
    requests: str
    env: Mapping[str, str | None] = field(default_factory=dict)
    emulator: Mapping[str, Any] = field(default_factory=dict)
    setup: str | None = None
    unreadable: tuple[str, ...] = ()
    never: tuple[str, ...] = ()


def load_cases() -> list[Case]:
    return [load_case(d) for d in sorted(CASES_DIR.iterdir()) if (d / "case.yaml").is_file()]


def load_case(directory: Path) -> Case:
    path = directory / "case.yaml"
    text = path.read_text()
    data = YAML(typ="safe", pure=True).load(text)
    unknown = set(data) - CASE_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
    about = text.splitlines()[0].removeprefix("#").strip()
    if data["category"] not in CATEGORIES:
        raise ValueError(f"{path}: category must be one of {CATEGORIES}")
    if data["requests"] not in ("none", "reads"):
        raise ValueError(f"{path}: requests must be none or reads")
    if data.get("setup") is not None and data["setup"] not in SETUPS:
        raise ValueError(f"{path}: setup must be one of {sorted(SETUPS)}")
    return Case(
        name=directory.name,
        directory=directory,
        about=about,
        category=data["category"],
        argv=tuple(str(a) for a in data["argv"]),
        exit=int(data["exit"]),
        place=str(data["place"]),
        says=tuple(str(s) for s in data.get("says") or ()),
        requests=data["requests"],
        env=dict(data.get("env") or {}),
        emulator=dict(data.get("emulator") or {}),
        setup=data.get("setup"),
        unreadable=tuple(data.get("unreadable") or ()),
        never=tuple(str(s) for s in data.get("never") or ()),
    )


def documented_exit_codes() -> set[int]:
    """The exit codes of the table in docs/exit-codes.md (rows starting ``| <code> |``)."""
    codes = set()
    for line in EXIT_CODES_DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and cells[0].isdigit():
            codes.add(int(cells[0]))
    return codes


# -- placeholders -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Places:
    """Values for the placeholders of a case."""

    url: str
    key: str
    dead_url: str
    lan_ip: str | None

    def fill(self, text: str) -> str:
        if "@LAN_IP@" in text:
            if self.lan_ip is None:
                raise LookupError("no non-loopback address on this host")
            text = text.replace("@LAN_IP@", self.lan_ip)
        for name, value in (
            ("@DEAD_URL@", self.dead_url),
            ("@URL@", self.url),
            ("@KEY@", self.key),
        ):
            text = text.replace(name, value)
        return text

    def fill_any(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.fill(value)
        if isinstance(value, dict):
            return {k: self.fill_any(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.fill_any(v) for v in value)
        return value


def dead_url() -> str:
    """A loopback URL on a port that was free a moment ago (nothing listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def non_loopback_ipv4() -> str | None:
    """An IPv4 address of this host that is not loopback (no packet is sent to find it)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))
        address = str(probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()
    if address == "0.0.0.0" or ipaddress.ip_address(address).is_loopback:
        return None
    return address


def copy_case(case: Case, places: Places, workdir: Path) -> None:
    """The case's files in ``workdir``, placeholders filled, ``unreadable`` ones mode 000."""
    shutil.copytree(case.directory, workdir, ignore=shutil.ignore_patterns("case.yaml"))
    for path in workdir.rglob("*"):
        if path.is_file() and b"@" in path.read_bytes():
            path.write_text(places.fill(path.read_text()))
    for relative in case.unreadable:
        (workdir / relative).chmod(0)


# -- setups: disturb the server before the run ----------------------------------------------------

PLANTED_IN_BROKEN_CONFIG = "sk-PLANTED-6a41"


def _ban(emu: Emulator) -> None:
    """Five failed authentications from this IP: CPA bans it (403 even with the right key)."""
    with httpx.Client() as http:
        for _ in range(5):
            http.get(emu.management_url + "/debug", headers={"Authorization": "Bearer wrong"})
    with httpx.Client() as http:
        answer = http.get(emu.management_url + "/debug", headers={"Authorization": f"Bearer {KEY}"})
    assert answer.status_code == 403, answer.text


def _edit_config(emu: Emulator, extra: str) -> None:
    """config.yaml edited by hand into something CPA cannot load: the watcher keeps the old
    config, and ``GET /config.yaml`` serves the file as it is on disk."""
    emu.config_path.write_text(emu.config_yaml() + extra)


def _config_not_yaml(emu: Emulator) -> None:
    _edit_config(emu, f"api-keys: [{PLANTED_IN_BROKEN_CONFIG}\n")


def _config_duplicate_key(emu: Emulator) -> None:
    _edit_config(
        emu, f"proxy-url: {PLANTED_IN_BROKEN_CONFIG}\nproxy-url: x-{PLANTED_IN_BROKEN_CONFIG}\n"
    )


def _config_bad_value(emu: Emulator) -> None:
    _edit_config(emu, f"request-retry: !!int {PLANTED_IN_BROKEN_CONFIG}\n")


def _config_not_a_mapping(emu: Emulator) -> None:
    emu.config_path.write_text(f"- debug\n- {PLANTED_IN_BROKEN_CONFIG}\n")


def _html_listing(emu: Emulator) -> None:
    emu.inject_fault(
        "GET",
        "/auth-files",
        status=200,
        body="<html><body>Welcome to nginx!</body></html>",
        times=9,
    )


def _server_error(emu: Emulator) -> None:
    emu.inject_fault("GET", "/config.yaml", status=500, times=9)


SETUPS: dict[str, Callable[[Emulator], None]] = {
    "ban": _ban,
    "config_not_yaml": _config_not_yaml,
    "config_duplicate_key": _config_duplicate_key,
    "config_bad_value": _config_bad_value,
    "config_not_a_mapping": _config_not_a_mapping,
    "html_listing": _html_listing,
    "server_error": _server_error,
}


# -- running -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


def environment(case: Case, places: Places, base: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k not in ENV_CLEARED}
    env.update({"CPA_URL": places.url, "CPA_MANAGEMENT_KEY": places.key, "NO_COLOR": "1"})
    for name, value in case.env.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = places.fill(str(value))
    return env


def run_in_process(argv: list[str], env: dict[str, str], workdir: Path) -> Outcome:
    """``cli.main(argv)`` with ``env`` as the whole environment and ``workdir`` as cwd."""
    out, err = io.StringIO(), io.StringIO()
    with (
        _process_state(env, workdir),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 1
    return Outcome(code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _process_state(env: dict[str, str], workdir: Path) -> Iterator[None]:
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(workdir)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def without_file_override() -> list[str] | None:
    """The command prefix that makes mode 000 hold for this user, or None if impossible."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]


def run_subprocess(
    argv: list[str], env: dict[str, str], workdir: Path, prefix: list[str]
) -> Outcome:
    command = [*prefix, sys.executable, "-m", "reconciler", *argv]
    env = {**env, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return Outcome(done.returncode, done.stdout, done.stderr)
