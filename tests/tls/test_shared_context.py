"""Clients share one TLS context per verification setting and CA bundle content
(``client.transport._shared_context``): building one loads the CA certificates (~25 ms), and a
fleet builds one client per target. A different ``--ca-cert`` gets a context of its own."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme
from tls_helpers import KEY, CertFiles

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.emulator import Emulator


def _context(verify: bool | str) -> ssl.SSLContext:
    with ManagementClient("https://127.0.0.1:1", KEY, timeout=5, verify=verify) as client:
        pool = client._session._http._transport._pool  # type: ignore[attr-defined]
        context = pool._ssl_context
    assert isinstance(context, ssl.SSLContext)
    return context


def _ca_file(path: Path) -> str:
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


def test_default_verification_is_one_context(tmp_path: Path) -> None:
    first = _context(True)
    assert _context(True) is first
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname


def test_each_ca_bundle_content_is_a_context_of_its_own(tmp_path: Path) -> None:
    one, two = _ca_file(tmp_path / "one.pem"), _ca_file(tmp_path / "two.pem")
    copy = tmp_path / "copy.pem"
    copy.write_bytes(Path(one).read_bytes())
    assert _context(one) is not _context(two)
    assert _context(one) is not _context(True)
    assert _context(str(copy)) is _context(one)  # the same certificates, the same context


def test_a_shared_context_still_checks_the_certificate(
    tls_emulator: Emulator, private_ca: CertFiles, tmp_path: Path
) -> None:
    assert private_ca.ca is not None
    other = _ca_file(tmp_path / "other.pem")
    for verify, trusted in ((str(private_ca.ca), True), (other, False), (True, False)) * 2:
        with ManagementClient(tls_emulator.url, KEY, timeout=5, verify=verify) as client:
            try:
                client.list_auth_file_summaries()
                answered = True
            except errors.ApiError as exc:  # the refused handshake
                assert "certificate" in str(exc).lower(), exc
                answered = False
        assert answered is trusted, verify
