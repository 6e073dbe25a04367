"""The fault tests' world: one emulator with credentials on it, a desired state whose apply
takes every kind of step, and the checks that nothing was lost.

``World.create`` starts an emulator holding four auth files (``keep-a`` and ``keep-b`` to be
patched, ``old-x`` and ``old-y`` to be pruned) and writes a desired state that changes two
config keys, creates three files (two batches when ``UPLOAD_BATCH`` is 2), sets ``disabled``
and a field on ``keep-a`` and two fields on ``keep-b`` (one the listing does not show, so every
plan downloads that file), and deletes the two ``old-*`` files. A fault-free apply sends::

    GET config.yaml, GET auth-files, GET auth-files/download x plan_downloads   (the plan)
    GET auth-files (freshness check), GET auth-files/download x2 (backups),
    GET config.yaml (re-read), PUT config.yaml, (GET auth-files, POST auth-files) x2,
    PATCH status, PATCH fields x2, DELETE auth-files

``keep-a`` and ``keep-b`` have a ``source`` holding their original tokens: a reconciler that
re-uploaded an existing file would put those back over refreshed ones, and the tests would see.
"""

from __future__ import annotations

import functools
import io
import json
import time
from collections.abc import Iterable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from reconciler import cli
from reconciler.client.management import ManagementClient
from reconciler.emulator import Emulator, RequestRecord
from reconciler.statedir.backup import list_backups, read_backup

KEY = "faults-mgmt-key-7c1e"
PREFIX = "/v0/management"
TIMEOUT = 0.5  # --timeout for runs that meet a slow server, in seconds

EXISTING = ("keep-a.json", "keep-b.json", "old-x.json", "old-y.json")
NEW = ("new-1.json", "new-2.json", "new-3.json")
PRUNED = ("old-x.json", "old-y.json")

CONFIG = "update config/config.yaml"
# The actions of the world's plan in the order apply carries them out.
ORDER = (
    CONFIG,
    "create auth-file/new-1.json",
    "create auth-file/new-2.json",
    "create auth-file/new-3.json",
    "update auth-file/keep-a.json",
    "update auth-file/keep-b.json",
    "delete auth-file/old-x.json",
    "delete auth-file/old-y.json",
)

# Every endpoint a run of the world's apply calls, as (method, path under /v0/management).
ENDPOINTS = (
    ("GET", "/config.yaml"),
    ("GET", "/auth-files"),
    ("GET", "/auth-files/download"),
    ("PUT", "/config.yaml"),
    ("POST", "/auth-files"),
    ("PATCH", "/auth-files/status"),
    ("PATCH", "/auth-files/fields"),
    ("DELETE", "/auth-files"),
)


def credential(name: str, kind: str = "claude") -> dict[str, Any]:
    stem = name.removesuffix(".json")
    return {
        "type": kind,
        "email": f"{stem}@example.com",
        "access_token": f"at-{stem}-original",
        "refresh_token": f"rt-{stem}-original",
        "expired": "2030-01-01T00:00:00Z",
    }


DESIRED = """\
target:
  url: {url}
  management-key: ${{env:CPA_MANAGEMENT_KEY}}
config:
  debug: true
  request-retry: 2
auth-files:
  prune: true
  max-deletions: 5
  files:
    - name: keep-a.json
      source: auth/keep-a.json
      disabled: true
      fields: {{priority: 5}}
    - name: keep-b.json
      source: auth/keep-b.json
      fields: {{note: team-b, proxy_url: "http://127.0.0.1:3128"}}
    - name: new-1.json
      source: auth/new-1.json
    - name: new-2.json
      source: auth/new-2.json
    - name: new-3.json
      source: auth/new-3.json
"""


@dataclass(frozen=True)
class Result:
    """One CLI run: exit code and output."""

    code: int
    out: str
    err: str

    def listed(self, label: str) -> list[str]:
        """The actions on the ``done:`` or ``not done:`` line of an ApplyError."""
        prefix = f"  {label}: "
        lines = [ln for ln in self.err.splitlines() if ln.startswith(prefix)]
        assert len(lines) == 1, f"no single {label!r} line in:\n{self.err}"
        text = lines[0][len(prefix) :]
        return [] if text == "nothing" else text.split(", ")


def run_cli(*argv: str) -> Result:
    """``reconciler <argv>`` in this process (so UPLOAD_BATCH may be patched)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(argv))
    return Result(code, out.getvalue(), err.getvalue())


@dataclass
class World:
    """The emulator, the desired-state project beside it, and what was there before any run:
    ``originals`` (the four credentials), ``config_before`` and the ``config_after`` a
    successful apply leaves."""

    emu: Emulator
    root: Path
    originals: dict[str, dict[str, Any]]
    config_before: str
    config_after: str

    @property
    def desired(self) -> Path:
        return self.root / "desired.yaml"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @classmethod
    def create(cls, root: Path, emu: Emulator) -> World:
        (root / "auth").mkdir(parents=True)
        originals = {}
        for name in EXISTING:
            originals[name] = credential(name)
            emu.write_auth_file(name, originals[name])
        for name in (*NEW, "keep-a.json", "keep-b.json"):
            data = originals.get(name) or credential(name, "codex")
            (root / "auth" / name).write_text(json.dumps(data))
        (root / "desired.yaml").write_text(DESIRED.format(url=emu.url))
        before = emu.config_yaml()
        emu.reset_requests()
        return cls(emu, root, originals, before, expected_config(before))

    @functools.cached_property
    def cpa(self) -> ManagementClient:
        """A client of the emulator for a test's own changes (the fixture closes it)."""
        return ManagementClient(self.emu.url, KEY)

    def close(self) -> None:
        if "cpa" in self.__dict__:
            self.cpa.close()

    @property
    def plan_seen(self) -> tuple[str, str, int]:
        """The last request of a plan of this world: once handled, the plan has seen all."""
        if self.plan_downloads:
            return ("GET", "/auth-files/download", self.plan_downloads)
        return ("GET", "/auth-files", 1)

    @functools.cached_property
    def plan_downloads(self) -> int:
        """How many GET auth-files/download a plan of this world makes (one plan to count;
        read it before the run it is for: it resets the request log)."""
        self.emu.reset_requests()
        assert self.plan().code == 0
        count = len(matching(self.emu, "GET", "/auth-files/download"))
        self.emu.reset_requests()
        return count

    # -- running ---------------------------------------------------------------------------

    def apply(self, *extra: str, timeout: float = TIMEOUT) -> Result:
        return run_cli(
            "apply",
            str(self.desired),
            "--auto-approve",
            "--timeout",
            str(timeout),
            "--state-dir",
            str(self.state_dir),
            *extra,
        )

    def plan(self, *extra: str, timeout: float = TIMEOUT) -> Result:
        return run_cli("plan", str(self.desired), "--timeout", str(timeout), *extra)

    def converges(self, *, config: str | None = "", foreign: Iterable[str] = ()) -> None:
        """With the faults gone, one apply converges and a plan then shows nothing to do.

        ``config``: the config.yaml expected after it ("": ``config_after``; None: not
        checked). ``foreign``: files someone else created, which must keep their own tokens.
        """
        self.emu.clear_faults()
        applied = self.apply(timeout=10)
        assert applied.code == 0, applied.err
        planned = self.plan("--detailed-exitcode", timeout=10)
        assert planned.code == 0, planned.out + planned.err
        if config is not None:
            assert self.emu.config_yaml() == (config or self.config_after)
        for name in set(NEW) - set(foreign):
            assert self.emu.read_auth_file(name)["access_token"] == credential(name)["access_token"]
        self.assert_nothing_lost(any_config=config is None)

    # -- the invariants --------------------------------------------------------------------

    def server_files(self) -> set[str]:
        return {p.name for p in self.emu.auth_dir.glob("*.json")}

    def backed_up(self) -> dict[str, list[dict[str, Any]]]:
        """Every auth file in a readable backup (name -> the contents saved), all checked."""
        saved: dict[str, list[dict[str, Any]]] = {}
        for root in list_backups(self.state_dir):
            contents = read_backup(root)
            for name, raw in contents.auth_files.items():
                data = json.loads(raw)
                assert isinstance(data, dict), f"{root}/{name} is not a JSON object"
                saved.setdefault(name, []).append(data)
            if contents.config_text is not None:
                assert isinstance(YAML(typ="safe").load(contents.config_text), dict), root
            for path in root.rglob("*"):
                if path.is_file() and not path.name.endswith(".tmp"):
                    assert path.stat().st_mode & 0o777 == 0o600, path
        return saved

    def assert_nothing_lost(
        self, refreshed: Iterable[str] = (), *, any_config: bool = False
    ) -> None:
        """Each credential that existed is on the server with tokens the server gave it, or
        in a backup exactly as it was; config.yaml is the old or the new one, whole."""
        on_server = self.server_files()
        saved = self.backed_up()
        configs = [read_backup(root).config_text for root in list_backups(self.state_dir)]
        assert any_config or {c for c in configs if c} <= {self.config_before}, "config backup"
        for name, original in self.originals.items():
            if name in on_server:
                live = self.emu.read_auth_file(name)
                if name not in refreshed:
                    assert live["refresh_token"] == original["refresh_token"], name
                continue
            assert name in PRUNED, f"{name} vanished from the server"
            assert original in saved.get(name, []), f"{name} is gone and not in any backup"
        text = self.emu.config_yaml()
        assert any_config or text in (self.config_before, self.config_after), "neither config"
        assert isinstance(YAML(typ="safe").load(text), dict)


def expected_config(live_text: str) -> str:
    """The config.yaml a successful apply of ``DESIRED`` over ``live_text`` leaves behind,
    written out by hand rather than by the reconciler's own diff and rewrite: the two lines the
    desired state changes, and every other byte (comments, quoting, order) as it was."""
    changes = {"debug: false": "debug: true", "request-retry: 0": "request-retry: 2"}
    after = live_text
    for before, now in changes.items():
        assert after.count(f"\n{before}\n") == 1, f"the emulator's config.yaml has no {before!r}"
        after = after.replace(f"\n{before}\n", f"\n{now}\n")
    return after


# -- the request log -------------------------------------------------------------------------


def matching(emu: Emulator, method: str, path: str) -> list[RequestRecord]:
    return [r for r in emu.requests() if r.method == method and r.path == PREFIX + path]


def wait_for(emu: Emulator, method: str, path: str, count: int, limit: float = 10.0) -> None:
    """Until the emulator has handled ``count`` requests to ``method path`` (a delayed one
    is recorded only after the server carried it out, after the client gave up)."""
    deadline = time.monotonic() + limit
    while len(matching(emu, method, path)) < count:
        assert time.monotonic() < deadline, f"{method} {path} #{count} never arrived"
        time.sleep(0.01)


def settle(emu: Emulator, quiet: float) -> None:
    """Until the request log has not grown for ``quiet`` seconds (in-flight requests done)."""
    seen, since = len(emu.requests()), time.monotonic()
    while time.monotonic() - since < quiet:
        time.sleep(0.02)
        now = len(emu.requests())
        if now != seen:
            seen, since = now, time.monotonic()


def mutating(emu: Emulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in emu.mutating_requests()]
