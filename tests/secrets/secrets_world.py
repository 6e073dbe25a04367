"""A CPA with secrets everywhere, and the scanner that proves none of them gets out.

Every secret value contains the marker ``Pl4nted`` and nothing that is not a secret does, so
one search finds a leak even when only part of a value got out. The secrets are planted:

* in the environment: the management key, a client API key, a provider key, a proxy password,
  an auth-file header token (all used through ``${env:...}``);
* in the desired state itself: a literal client API key, a literal proxy URL with
  ``user:pass@``, a literal provider header value and a literal auth-file header value;
* in a ``${file:...}`` secret (a provider API key);
* in the auth-file sources: access, refresh and id tokens;
* in the live CPA: its secret-key (plaintext in the first config.yaml), client API keys,
  provider keys, a proxy URL with a password, and auth files holding tokens (one of them
  unlisted, so ``prune`` deletes it and the backup must hold its tokens).
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.emulator import Emulator

MARK = "Pl4nted"


def planted(role: str) -> str:
    """A distinctive secret value: ``<role>-Pl4nted-<random hex>``."""
    return f"{role}-{MARK}-{secrets.token_hex(4)}"


KEY = planted("mgmt")

ENV_SECRETS = {
    "CPA_MANAGEMENT_KEY": KEY,
    "CLIENT_KEY_A": planted("sk-client-a"),
    "CLAUDE_KEY": planted("sk-ant"),
    "PROXY_PASSWORD": planted("proxy-pw"),
    "HEADER_TOKEN": planted("hdr-env"),
}
FILE_SECRET = planted("sk-codex-file")
LITERALS = {
    "api_key": planted("sk-literal"),
    "proxy_password": planted("literal-pw"),
    "provider_header": planted("hdr-literal"),
    "auth_header": planted("auth-hdr-literal"),
}
TOKENS = {
    name: {
        "access_token": planted(f"at-{name}"),
        "refresh_token": planted(f"rt-{name}"),
        "id_token": planted(f"id-{name}"),
    }
    for name in ("alice", "bob-source", "bob-live", "carol-live")
}
LIVE = {
    "api_key": planted("sk-live-old"),
    "claude_key": planted("live-claude"),
    "claude_proxy_pw": planted("live-claude-pw"),
    "proxy_pw": planted("live-proxy-pw"),
    "gemini_key": planted("live-gemini"),
}

ALICE = "codex-alice@example.com.json"
BOB = "claude-bob@example.com.json"
CAROL = "antigravity-carol@example.com.json"

DESIRED = f"""\
target:
  management-key: ${{env:CPA_MANAGEMENT_KEY}}
config:
  debug: true
  proxy-url: socks5://relay:${{env:PROXY_PASSWORD}}@proxy.internal:1080
  remote-management:
    allow-remote: false
    secret-key: ${{env:CPA_MANAGEMENT_KEY}}
  api-keys:
    - ${{env:CLIENT_KEY_A}}
    - {LITERALS["api_key"]}
  claude-api-key:
    - api-key: ${{env:CLAUDE_KEY}}
      proxy-url: http://bob:{LITERALS["proxy_password"]}@egress.internal:3128
      headers:
        X-Team-Token: {LITERALS["provider_header"]}
  codex-api-key:
    - api-key: ${{file:secrets/codex-key.txt}}
      base-url: https://api.openai.com/v1
config-policy:
  prune: false
  ignore: []
auth-files:
  prune: true
  protect: []
  max-deletions: 5
  files:
    - name: {ALICE}
      source: auth/codex-alice.json
      fields:
        priority: 3
        headers:
          X-Upstream-Token: ${{env:HEADER_TOKEN}}
    - name: {BOB}
      source: auth/claude-bob.json
      fields:
        note: team-b
        headers:
          X-Literal: {LITERALS["auth_header"]}
"""


def live_config(auth_dir: Path) -> str:
    return f"""\
# The live config.yaml, before any apply.
host: "127.0.0.1"
port: 8317
remote-management:
  allow-remote: false
  secret-key: "{KEY}"
auth-dir: "{auth_dir}"
debug: false
proxy-url: "http://olduser:{LIVE["proxy_pw"]}@oldproxy.internal:3128"
api-keys:
  - "{LIVE["api_key"]}"
claude-api-key:
  - api-key: "{LIVE["claude_key"]}"
    proxy-url: "http://old:{LIVE["claude_proxy_pw"]}@egress.internal:3128"
gemini-api-key:
  - api-key: "{LIVE["gemini_key"]}"
"""


def auth_content(kind: str, email: str, tokens: Mapping[str, str]) -> dict[str, Any]:
    return {"type": kind, "email": email, **tokens, "expired": "2030-01-01T00:00:00Z"}


def all_secret_values() -> list[str]:
    values = [*ENV_SECRETS.values(), FILE_SECRET, *LITERALS.values(), *LIVE.values()]
    values += [v for tokens in TOKENS.values() for v in tokens.values()]
    return values


@dataclass
class World:
    """The desired-state repo, the live CPA and the environment that ties them."""

    repo: Path
    emu: Emulator

    @property
    def desired(self) -> Path:
        return self.repo / "desired-state.yaml"

    @property
    def state_dir(self) -> Path:
        return self.repo / ".reconciler"

    def environ(self, base: Mapping[str, str]) -> dict[str, str]:
        env = {k: v for k, v in base.items() if not k.startswith(("CPA_", "RECONCILER_"))}
        env.update(ENV_SECRETS)
        env["CPA_URL"] = self.emu.url
        env["NO_COLOR"] = "1"
        return env


def make_repo(repo: Path) -> None:
    (repo / "auth").mkdir(parents=True)
    (repo / "secrets").mkdir()
    (repo / "desired-state.yaml").write_text(DESIRED)
    (repo / "secrets" / "codex-key.txt").write_text(FILE_SECRET + "\n")
    sources = {
        "codex-alice.json": auth_content("codex", "alice@example.com", TOKENS["alice"]),
        "claude-bob.json": auth_content("claude", "bob@example.com", TOKENS["bob-source"]),
    }
    for name, content in sources.items():
        (repo / "auth" / name).write_text(json.dumps(content))


def seed_live(emu: Emulator) -> None:
    """Auth files already on the server: bob (declared) and carol (not declared: pruned)."""
    emu.write_auth_file(BOB, auth_content("claude", "bob@example.com", TOKENS["bob-live"]))
    emu.write_auth_file(
        CAROL, auth_content("antigravity", "carol@example.com", TOKENS["carol-live"])
    )


def leaks(text: str) -> list[str]:
    """The lines of ``text`` that hold a planted value (or a piece of one: the marker)."""
    return [line for line in text.splitlines() if MARK in line]


def assert_no_leak(where: str, text: str) -> None:
    found = leaks(text)
    assert not found, f"{where} holds a secret:\n" + "\n".join(found[:10])


def files_under(root: Path) -> Iterable[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# -- the command line, in-process, with everything it prints and logs --------------------------


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    logged: str

    @property
    def everything(self) -> str:
        return "\n".join((self.out, self.err, self.logged))


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture):
        self._capsys = capsys
        self._caplog = caplog

    def __call__(self, *argv: str | Path) -> Run:
        self._capsys.readouterr()
        self._caplog.clear()
        code = main([str(a) for a in argv])
        out, err = self._capsys.readouterr()
        return Run(code, out, err, self._caplog.text)
