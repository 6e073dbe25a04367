"""TLS is verified by default; ``--ca-cert`` trusts a private CA; plain http leaves only loopback.

The emulator serves HTTPS with a self-signed certificate or one from a private CA (trustme).
A refused certificate must end the run before any HTTP request: the emulator's log stays empty.
"""

from __future__ import annotations

from pathlib import Path

import certifi
import pytest
from tls_helpers import KEY, CertFiles, Cli

from reconciler.client.transport import CA_BUNDLE_LIMIT
from reconciler.emulator import Emulator

COMMANDS_WITH_DESIRED = (
    ("plan",),
    ("plan", "--json"),
    ("apply", "--auto-approve"),
)


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CPA_MANAGEMENT_KEY", KEY)


def _assert_tls_refusal(err: str, url: str) -> None:
    assert "TLS handshake failed" in err
    assert "certificate verify failed" in err
    assert url in err
    assert KEY not in err


# -- verified by default ------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS_WITH_DESIRED, ids=" ".join)
def test_self_signed_certificate_is_refused(
    cli: Cli,
    desired: Path,
    self_signed_emulator: Emulator,
    key_env: None,
    command: tuple[str, ...],
) -> None:
    emu = self_signed_emulator
    run = cli(command[0], str(desired), *command[1:], "--url", emu.url)
    assert run.code == 1
    _assert_tls_refusal(run.err, emu.url)
    assert emu.requests() == []


def test_export_refuses_a_self_signed_certificate(
    cli: Cli, self_signed_emulator: Emulator, key_env: None
) -> None:
    emu = self_signed_emulator
    run = cli("export", "--url", emu.url)
    assert run.code == 1
    _assert_tls_refusal(run.err, emu.url)
    assert emu.requests() == []


def test_private_ca_is_not_trusted_without_ca_cert(
    cli: Cli, desired: Path, tls_emulator: Emulator, key_env: None
) -> None:
    run = cli("plan", str(desired), "--url", tls_emulator.url)
    assert run.code == 1
    _assert_tls_refusal(run.err, tls_emulator.url)
    assert tls_emulator.requests() == []


def test_allow_insecure_http_does_not_switch_off_certificate_checks(
    cli: Cli, desired: Path, self_signed_emulator: Emulator, key_env: None
) -> None:
    emu = self_signed_emulator
    run = cli("plan", str(desired), "--url", emu.url, "--allow-insecure-http")
    assert run.code == 1
    _assert_tls_refusal(run.err, emu.url)
    assert emu.requests() == []


def test_another_ca_does_not_vouch_for_a_self_signed_certificate(
    cli: Cli,
    desired: Path,
    self_signed_emulator: Emulator,
    private_ca: CertFiles,
    key_env: None,
) -> None:
    emu = self_signed_emulator
    assert private_ca.ca is not None
    run = cli("plan", str(desired), "--url", emu.url, "--ca-cert", str(private_ca.ca))
    assert run.code == 1
    _assert_tls_refusal(run.err, emu.url)
    assert emu.requests() == []


# -- --ca-cert -----------------------------------------------------------------------------------


def test_plan_and_apply_with_ca_cert_for_a_private_ca(
    cli: Cli, desired: Path, tls_emulator: Emulator, private_ca: CertFiles, key_env: None
) -> None:
    emu = tls_emulator
    assert emu.url.startswith("https://127.0.0.1:")
    trust = ("--url", emu.url, "--ca-cert", str(private_ca.ca))

    plan = cli("plan", str(desired), *trust, "--detailed-exitcode")
    assert plan.code == 2, plan.err
    assert "debug" in plan.out
    assert emu.mutating_requests() == []

    apply = cli("apply", str(desired), *trust, "--auto-approve")
    assert apply.code == 0, apply.err
    assert [(r.method, r.path) for r in emu.mutating_requests()] == [
        ("PUT", "/v0/management/config.yaml")
    ]
    assert "debug: true" in emu.config_yaml()

    again = cli("plan", str(desired), *trust, "--detailed-exitcode")
    assert again.code == 0, again.err


def test_ca_cert_works_from_the_environment_url_too(
    cli: Cli,
    desired: Path,
    tls_emulator: Emulator,
    private_ca: CertFiles,
    key_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CPA_URL", tls_emulator.url)
    run = cli("plan", str(desired), "--ca-cert", str(private_ca.ca))
    assert run.code == 0, run.err


def test_export_with_ca_cert(
    cli: Cli, tls_emulator: Emulator, private_ca: CertFiles, key_env: None
) -> None:
    run = cli("export", "--url", tls_emulator.url, "--ca-cert", str(private_ca.ca))
    assert run.code == 0, run.err
    assert "${env:CPA_MANAGEMENT_KEY}" in run.out
    assert KEY not in run.out + run.err


def test_localhost_name_is_verified_too(
    cli: Cli, desired: Path, tls_emulator: Emulator, private_ca: CertFiles, key_env: None
) -> None:
    url = tls_emulator.url.replace("127.0.0.1", "localhost")
    run = cli("plan", str(desired), "--url", url, "--ca-cert", str(private_ca.ca))
    assert run.code == 0, run.err


def test_a_ca_cert_file_that_does_not_exist_is_a_usage_error(
    cli: Cli, desired: Path, tls_emulator: Emulator, tmp_path: Path, key_env: None
) -> None:
    missing = tmp_path / "no-such-ca.pem"
    run = cli("plan", str(desired), "--url", tls_emulator.url, "--ca-cert", str(missing))
    assert run.code == 1
    assert str(missing) in run.err
    assert tls_emulator.requests() == []


def test_a_ca_bundle_of_many_cas_up_to_the_limit_is_trusted(
    cli: Cli,
    desired: Path,
    tls_emulator: Emulator,
    private_ca: CertFiles,
    tmp_path: Path,
    key_env: None,
) -> None:
    """A system-style bundle: other CAs, labels in comments (not all ASCII), the private CA last,
    padded to exactly the 1 MiB a CA bundle may hold."""
    assert private_ca.ca is not None
    head = Path(certifi.where()).read_bytes() + "# Label: Főtanúsítvány\n".encode()
    tail = b"# Label: the team's private CA\n" + private_ca.ca.read_bytes()
    filler = b"# padding\n" * ((CA_BUNDLE_LIMIT - len(head) - len(tail)) // 10)
    bundle = head + filler + b"#" * (CA_BUNDLE_LIMIT - len(head + filler + tail) - 1) + b"\n"
    path = tmp_path / "ca-bundle.pem"
    path.write_bytes(bundle + tail)
    assert path.stat().st_size == CA_BUNDLE_LIMIT
    run = cli("plan", str(desired), "--url", tls_emulator.url, "--ca-cert", str(path))
    assert run.code == 0, run.err
    assert "debug" in run.out


def test_an_empty_ca_bundle_is_a_usage_error(
    cli: Cli, desired: Path, tls_emulator: Emulator, tmp_path: Path, key_env: None
) -> None:
    """Not the system's CAs silently: an empty --ca-cert trusts nothing and says so."""
    empty = tmp_path / "ca.pem"
    empty.write_text("\n")
    run = cli("plan", str(desired), "--url", tls_emulator.url, "--ca-cert", str(empty))
    assert run.code == 1
    assert f"--ca-cert {empty}: CA bundle '{empty}' cannot be loaded: it is empty" in run.err
    assert tls_emulator.requests() == []


# -- plain http only to loopback ------------------------------------------------------------------

NON_LOOPBACK = "http://192.0.2.10:8317"  # TEST-NET-1: never routed


@pytest.mark.parametrize(
    "argv",
    [
        ("plan", "{desired}"),
        ("apply", "{desired}", "--auto-approve"),
        ("export",),
        ("restore", "{backup}"),
    ],
    ids=lambda argv: argv[0],
)
def test_plain_http_to_another_host_is_refused(
    cli: Cli, desired: Path, tmp_path: Path, key_env: None, argv: tuple[str, ...]
) -> None:
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "manifest.json").write_text('{"target": "http://192.0.2.10:8317", "items": []}')
    args = [a.format(desired=desired, backup=backup) for a in argv]
    run = cli(*args, "--url", NON_LOOPBACK)
    assert run.code == 1
    assert "--allow-insecure-http" in run.err
    assert "192.0.2.10" in run.err
    assert KEY not in run.err


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_plain_http_to_loopback_needs_no_flag(
    cli: Cli, desired: Path, key_env: None, host: str
) -> None:
    with Emulator(management_key=KEY) as emu:
        url = emu.url.replace("127.0.0.1", host)
        run = cli("plan", str(desired), "--url", url)
    assert run.code == 0, run.err


def test_the_http_rule_is_checked_before_any_request(
    cli: Cli, desired: Path, key_env: None, lan_ip: str
) -> None:
    """An emulator on a non-loopback address hears nothing until --allow-insecure-http."""
    with Emulator(management_key=KEY, host=lan_ip, allow_remote=True) as emu:
        assert emu.url.startswith(f"http://{lan_ip}:")
        refused = cli("plan", str(desired), "--url", emu.url)
        assert refused.code == 1
        assert "--allow-insecure-http" in refused.err
        assert emu.requests() == []

        allowed = cli("plan", str(desired), "--url", emu.url, "--allow-insecure-http")
        assert allowed.code == 0, allowed.err
        assert emu.requests() != []


def test_the_http_rule_applies_to_the_url_in_the_desired_file(
    cli: Cli, tmp_path: Path, key_env: None, lan_ip: str
) -> None:
    with Emulator(management_key=KEY, host=lan_ip, allow_remote=True) as emu:
        path = tmp_path / "desired.yaml"
        path.write_text(f"target:\n  url: {emu.url}\nconfig:\n  debug: true\n")
        refused = cli("apply", str(path), "--auto-approve")
        assert refused.code == 1
        assert "--allow-insecure-http" in refused.err
        assert emu.requests() == []
