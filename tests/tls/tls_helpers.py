"""Shared pieces of the TLS tests: the key, certificate files, the in-process CLI runner."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.cli import main

KEY = "tls-test-KEY-7f3a9c"
CLEARED_ENV = (
    "CPA_URL",
    "CPA_MANAGEMENT_KEY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
)

DESIRED = """\
config:
  debug: true
auth-files:
  files: []
"""


@dataclass(frozen=True)
class CertFiles:
    """PEM files: the server's chain and key, and the CA to trust (None when self-signed)."""

    cert: Path
    key: Path
    ca: Path | None


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


class Cli:
    """``cli(*argv)``: the command line in-process, its exit code and what it printed."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys

    def __call__(self, *argv: str) -> Run:
        self._capsys.readouterr()
        code = main(list(argv))
        out, err = self._capsys.readouterr()
        return Run(code, out, err)


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
    if ipaddress.ip_address(address).is_loopback or address == "0.0.0.0":
        return None
    return address
