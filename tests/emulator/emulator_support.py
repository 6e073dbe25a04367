"""Helpers of the emulator suite: the recorded answers of a real CPA v7.2.140 and the key."""

from __future__ import annotations

import re
import ssl
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from reconciler.emulator import Emulator

KEY = "test-mgmt-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
RECORDED = Path(__file__).parent / "fixtures" / "real-cpa-v7.2.140"
BCRYPT = re.compile(r"\$2a\$10\$[./A-Za-z0-9]{53}")


def recorded(name: str) -> bytes:
    """A byte-exact answer of the real v7.2.140 server."""
    return (RECORDED / name).read_bytes()


def as_emulated(text: str, emu: Emulator) -> str:
    """A recorded config.yaml with the recording's port and auth-dir replaced by the emulator's."""
    port = emu.url.rsplit(":", 1)[1]
    text = text.replace("port: 8317", f"port: {port}")
    return text.replace('"/srv/cpa/auths"', f'"{emu.auth_dir}"')


def hash_masked(text: str) -> str:
    """The text with every bcrypt hash replaced by a placeholder."""
    return BCRYPT.sub("<bcrypt>", text)


@cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


def client(base_url: str, **kwargs: Any) -> httpx.Client:
    """An httpx client sharing one TLS context (creating one per client is slow)."""
    kwargs.setdefault("timeout", 10)
    return httpx.Client(base_url=base_url, verify=_tls(), **kwargs)
