"""The emulator's optional TLS: https URL, the request log, and the cert/key pair rule."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
from tls_helpers import KEY, CertFiles

from reconciler.emulator import Emulator


def test_serves_https_and_logs_requests(tls_emulator: Emulator, private_ca: CertFiles) -> None:
    assert tls_emulator.url.startswith("https://")
    assert tls_emulator.management_url.startswith("https://")
    assert private_ca.ca is not None
    trust = ssl.create_default_context(cafile=str(private_ca.ca))
    with httpx.Client(verify=trust) as http:
        answer = http.get(
            tls_emulator.management_url + "/debug", headers={"Authorization": f"Bearer {KEY}"}
        )
    assert answer.status_code == 200
    assert answer.json() == {"debug": False}
    assert [(r.method, r.path, r.status) for r in tls_emulator.requests()] == [
        ("GET", "/v0/management/debug", 200)
    ]


def test_a_refused_handshake_leaves_no_request(self_signed_emulator: Emulator) -> None:
    with httpx.Client() as http, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY"):
        http.get(self_signed_emulator.management_url + "/debug")
    assert self_signed_emulator.requests() == []


def test_plain_http_client_gets_no_answer(tls_emulator: Emulator) -> None:
    url = tls_emulator.management_url.replace("https://", "http://") + "/debug"
    with httpx.Client() as http, pytest.raises(httpx.HTTPError):
        http.get(url, headers={"Authorization": f"Bearer {KEY}"})
    assert tls_emulator.requests() == []


@pytest.mark.parametrize("which", ["cert", "key"])
def test_cert_and_key_go_together(private_ca: CertFiles, which: str) -> None:
    kwargs: dict[str, Path] = (
        {"tls_cert": private_ca.cert} if which == "cert" else {"tls_key": private_ca.key}
    )
    with pytest.raises(ValueError, match="tls_cert and tls_key go together"):
        Emulator(**kwargs)  # type: ignore[arg-type]


def test_without_tls_the_url_stays_http() -> None:
    with Emulator() as emu:
        assert emu.url.startswith("http://127.0.0.1:")
