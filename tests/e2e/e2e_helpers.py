"""Helpers for the end-to-end tests: planted secrets, desired-state projects, the CLI run
in-process, and the emulator's request log read once it has settled.

Every secret planted here contains ``PLANTED`` (and nothing else in the tests does), so a test
can assert that no output, plan file or backup manifest holds any of them.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from ruamel.yaml import YAML

from reconciler import cli
from reconciler.emulator import Emulator, RequestRecord

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = REPO / "examples" / "desired-state"

MARKER = "PLANTED"
KEY = "mgmt-key-PLANTED-4d1f7a"
EXAMPLE_ENV = {
    "CLIENT_KEY_TEAM_A": "sk-team-a-PLANTED-81c2",
    "CLIENT_KEY_TEAM_B": "sk-team-b-PLANTED-93d4",
    "ANTHROPIC_API_KEY": "sk-ant-PLANTED-a5e6",
    "OPENAI_API_KEY": "sk-openai-PLANTED-b7f8",
    "GEMINI_API_KEY": "AIza-gemini-PLANTED-c9a0",
    "BOB_PROXY_URL": "socks5://bob:proxy-pw-PLANTED-d1b2@127.0.0.1:1080",
}
# Variables a test run must not inherit from the developer's shell.
CLEARED_ENV = ("CPA_URL", "CPA_MANAGEMENT_KEY", "CLIENT_KEY_1", "CLIENT_KEY_2", *EXAMPLE_ENV)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
UPLOAD = ("POST", "/v0/management/auth-files")


@dataclass(frozen=True)
class Result:
    """One CLI run: its exit code and what it printed."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """Runs ``reconciler.cli.main(argv)`` in this process and captures its output."""

    def __init__(self, capsys: Any) -> None:
        self._capsys = capsys
        self.results: list[Result] = []

    def __call__(self, *argv: str | Path) -> Result:
        self._capsys.readouterr()
        code = cli.main([str(a) for a in argv])
        captured = self._capsys.readouterr()
        result = Result(code, captured.out, captured.err)
        self.results.append(result)
        return result


def assert_converges(cli: Cli, desired: str | Path) -> None:
    """A plan with changes, an apply that succeeds, then a plan with none."""
    assert cli("plan", desired, "--detailed-exitcode").code == 2
    applied = cli("apply", desired, "--auto-approve")
    assert applied.code == 0, applied.text
    again = cli("plan", desired, "--detailed-exitcode")
    assert again.code == 0, again.out


# -- desired-state projects ---------------------------------------------------------------


def dump_yaml(data: Any) -> str:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def auth_source(email: str, provider: str = "codex", **extra: Any) -> dict[str, Any]:
    """A credential as a CPA login writes it, with planted tokens."""
    user = email.split("@")[0]
    return {
        "type": provider,
        "email": email,
        "access_token": f"at-{user}-{MARKER}-1a2b",
        "refresh_token": f"rt-{user}-{MARKER}-3c4d",
        "id_token": f"id-{user}-{MARKER}-5e6f",
        "expired": "2030-01-01T00:00:00Z",
        **extra,
    }


def out_of_band_files(emu: Emulator, *names: str) -> dict[str, dict[str, Any]]:
    """Auth files that appeared on the server without git (a login in the web UI): each
    written with a credential for ``<name>@example.com``; returns them by name."""
    written = {}
    for name in names:
        data = auth_source(name.removesuffix(".json") + "@example.com")
        emu.write_auth_file(name, data)
        written[name] = data
    return written


@dataclass
class Project:
    """A directory holding a desired-state file and the auth-file sources it names."""

    root: Path

    @property
    def desired(self) -> Path:
        return self.root / "desired-state.yaml"

    @property
    def state_dir(self) -> Path:
        return self.root / ".reconciler"

    def write(self, doc: Mapping[str, Any] | str, name: str = "desired-state.yaml") -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(doc if isinstance(doc, str) else dump_yaml(dict(doc)), encoding="utf-8")
        return path

    def source(self, relative: str, content: Mapping[str, Any] | str | bytes) -> str:
        """Write an auth-file source; returns ``relative`` for the desired file's ``source``."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(json.dumps(dict(content)), encoding="utf-8")
        return relative

    def backups(self) -> list[Path]:
        base = self.state_dir / "backups"
        return sorted(p for p in base.iterdir()) if base.is_dir() else []


def copy_example(dest: Path) -> Project:
    shutil.copytree(EXAMPLE_DIR, dest)
    return Project(dest)


def desired_doc(
    *,
    config: Mapping[str, Any] | None = None,
    files: Iterable[Mapping[str, Any]] = (),
    prune: bool = False,
    protect: Iterable[str] = (),
    max_deletions: int = 5,
    key_ref: bool = True,
) -> dict[str, Any]:
    """A desired-state document; the target comes from CPA_URL / CPA_MANAGEMENT_KEY."""
    doc: dict[str, Any] = {}
    if key_ref:
        doc["target"] = {"management-key": "${env:CPA_MANAGEMENT_KEY}"}
    if config is not None:
        doc["config"] = dict(config)
    doc["auth-files"] = {
        "prune": prune,
        "protect": list(protect),
        "max-deletions": max_deletions,
        "files": [dict(f) for f in files],
    }
    return doc


# -- the emulator's request log ---------------------------------------------------------


def settled(emu: Emulator, timeout: float = 5.0) -> list[RequestRecord]:
    """Every request the emulator answered, once all connections have closed.

    The emulator records a request just after writing its answer, so a client can return a
    moment before the record exists. Each connection's handler leaves the server's connection
    set only after its last request is recorded; the CLI closes its client before returning,
    so an empty set means the log is complete. (The emulator has no public "idle" check; if
    its internals change, fall back to waiting until the log stops growing.)
    """
    server = getattr(emu, "_server", None)
    lock = getattr(server, "connections_lock", None)
    deadline = time.monotonic() + timeout
    if server is None or lock is None:
        records = emu.requests()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            again = emu.requests()
            if len(again) == len(records):
                return again
            records = again
        return records
    while time.monotonic() < deadline:
        with lock:
            if not server.connections:
                break
        time.sleep(0.005)
    return emu.requests()


def management(emu: Emulator) -> list[RequestRecord]:
    return [r for r in settled(emu) if r.is_management]


def mutating(emu: Emulator) -> list[RequestRecord]:
    return [r for r in management(emu) if r.method not in READ_METHODS]


def described(records: Iterable[RequestRecord]) -> list[str]:
    return [f"{r.method} {r.path} -> {r.status}" for r in records]


def planted_in(text: str, values: Iterable[str] = ()) -> list[str]:
    """The planted secrets (and any extra ``values``) that appear in ``text``."""
    found = [v for v in (*EXAMPLE_ENV.values(), KEY, *values) if v and v in text]
    if MARKER in text and not found:
        found.append(MARKER)
    return found


# -- disturbing the emulator the way CPA and its users do -----------------------------------

BCRYPT_LINE = re.compile(r"^(\s*secret-key:\s*).*$", re.MULTILINE)


def secret_key_line(config_yaml: str) -> str:
    match = BCRYPT_LINE.search(config_yaml)
    assert match is not None, "config.yaml has no secret-key line"
    return match.group(0).strip()


def rehash_secret(emu: Emulator, plaintext: str = KEY) -> None:
    """Put the plaintext key back into config.yaml out of band; the reload hashes it anew
    (a new salt, so a different hash of the same key)."""
    text = BCRYPT_LINE.sub(lambda m: m.group(1) + json.dumps(plaintext), emu.config_yaml(), 1)
    emu.set_config_yaml(text)


def web_ui_put(emu: Emulator, setting: str, value: Any, key: str = KEY) -> None:
    """What the management web UI sends to change one setting."""
    answer = httpx.put(
        f"{emu.management_url}/{setting}",
        json={"value": value},
        headers={"Authorization": f"Bearer {key}"},
        timeout=5.0,
    )
    assert answer.status_code == 200, answer.text
