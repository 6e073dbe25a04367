"""Fixtures for the TLS and transport-security tests.

Certificates come from ``trustme`` (a private CA and a server certificate for 127.0.0.1 and
localhost) and from ``cryptography`` directly (a self-signed certificate, which no CA signed).
``cli(*argv)`` runs ``reconciler.cli.main`` in-process with a clean environment; ``lan_ip`` is
a non-loopback address of this host, for the plain-http rule (None when the host has none).
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tls_helpers import CLEARED_ENV, DESIRED, KEY, CertFiles, Cli, non_loopback_ipv4

from reconciler.emulator import Emulator


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


@pytest.fixture
def desired(tmp_path: Path) -> Path:
    """A desired-state file with one change to make on a fresh emulator (debug: true)."""
    path = tmp_path / "repo" / "desired-state.yaml"
    path.parent.mkdir()
    path.write_text(DESIRED)
    return path


@pytest.fixture(scope="session")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    """A server certificate for 127.0.0.1/localhost signed by a private CA."""
    root = tmp_path_factory.mktemp("private-ca")
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost", "::1")
    files = CertFiles(root / "server.pem", root / "server.key", root / "ca.pem")
    issued.cert_chain_pems[0].write_to_path(str(files.cert))
    issued.private_key_pem.write_to_path(str(files.key))
    assert files.ca is not None
    ca.cert_pem.write_to_path(str(files.ca))
    return files


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    """A certificate for 127.0.0.1 that signs itself: no CA vouches for it."""
    root = tmp_path_factory.mktemp("self-signed")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cpa.self-signed.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    files = CertFiles(root / "server.pem", root / "server.key", None)
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@pytest.fixture
def tls_emulator(private_ca: CertFiles) -> Iterator[Emulator]:
    with Emulator(management_key=KEY, tls_cert=private_ca.cert, tls_key=private_ca.key) as emu:
        yield emu


@pytest.fixture
def self_signed_emulator(self_signed: CertFiles) -> Iterator[Emulator]:
    with Emulator(management_key=KEY, tls_cert=self_signed.cert, tls_key=self_signed.key) as emu:
        yield emu


@pytest.fixture(scope="session")
def lan_ip() -> str:
    address = non_loopback_ipv4()
    if address is None:
        pytest.skip("this host has no non-loopback IPv4 address to serve plain http on")
    return address
