"""Ban safety, secrets, version headers and error classes, against the emulator."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.client.models import ServerVersion

DISTINCT = "sk-DISTINCTIVE-k3y-9f8e7d6c"


@pytest.fixture
def management(sent: Any) -> Any:
    """``management(emu)``: the management requests the emulator received."""
    return lambda emu: sent(emu)


# -- ban safety --------------------------------------------------------------------------


def test_wrong_key_sends_exactly_one_request(
    management: Any, make_client: Any, emulator: Any
) -> None:
    unauthorized: list[errors.UnauthorizedError] = []
    client = make_client(key="wrong-key", on_unauthorized=unauthorized.append)

    with pytest.raises(errors.UnauthorizedError) as first:
        client.list_auth_files()
    assert first.value.status == 401 and first.value.code == "invalid management key"
    assert client.halted

    for call in (
        client.get_config_yaml,
        lambda: client.put_config_yaml("debug: true\n"),
        lambda: client.upload_auth_files({"a.json": "{}"}),
        lambda: client.delete_auth_file("a.json"),
    ):
        with pytest.raises(errors.UnauthorizedError, match="halted") as later:
            call()
        assert later.value.status == 401
        assert "reset()" in str(later.value) and "set_management_key" in str(later.value)

    [refused] = management(emulator)
    assert refused.status == 401
    assert client.request_count == 1
    assert len(unauthorized) == 1


def test_reset_allows_one_more_attempt(management: Any, make_client: Any, emulator: Any) -> None:
    client = make_client(key="wrong-key")
    for _ in range(2):
        with pytest.raises(errors.UnauthorizedError):
            client.get_config()
        client.reset()
    assert len(management(emulator)) == 2


def test_new_key_resumes(make_client: Any, emulator: Any) -> None:
    client = make_client(key="wrong-key")
    with pytest.raises(errors.UnauthorizedError):
        client.get_config()
    client.set_management_key("test-mgmt-key")
    assert not client.halted
    assert client.list_auth_files() == []


@pytest.mark.parametrize("key", [None, "", "   "])
def test_no_key_is_never_sent(make_client: Any, emulator: Any, key: str | None) -> None:
    client = make_client(key=key)
    with pytest.raises(errors.UnauthorizedError) as caught:
        client.get_config()
    assert caught.value.status is None
    assert "no management key" in str(caught.value)
    assert emulator.requests() == []
    assert client.request_count == 0


def test_missing_key_request_would_count_as_failure(emulator: Any) -> None:
    """Why the rule above exists: the server answers a keyless request 401 missing key."""
    answer = httpx.get(f"{emulator.management_url}/config")
    assert answer.status_code == 401
    assert answer.json() == {"error": "missing management key"}


def test_banned_ip(management: Any, emulator_factory: Any, make_client: Any) -> None:
    emu = emulator_factory(max_failures=2, ban_window=60.0)
    for _ in range(2):
        with pytest.raises(errors.UnauthorizedError):
            make_client(emu, key="wrong-key").get_config()

    good = make_client(emu)
    with pytest.raises(errors.BannedError) as caught:
        good.get_config()
    assert caught.value.status == 403
    assert "banned" in str(caught.value).lower()
    assert isinstance(caught.value, errors.ForbiddenError)
    assert good.halted

    count = len(management(emu))
    with pytest.raises(errors.BannedError, match="halted"):
        good.get_config()
    assert len(management(emu)) == count

    emu.unban()
    good.reset()
    assert isinstance(good.get_config(), dict)


class _ForwardedFor(httpx.BaseTransport):
    """A transport that makes the request look remote to the server (X-Forwarded-For)."""

    def __init__(self) -> None:
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["X-Forwarded-For"] = "203.0.113.7"
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_remote_management_disabled(emulator_factory: Any, make_client: Any) -> None:
    emu = emulator_factory(allow_remote=False)
    client = make_client(emu, transport=_ForwardedFor())
    with pytest.raises(errors.RemoteDisabledError) as caught:
        client.get_config()
    assert caught.value.status == 403
    assert caught.value.code == "remote management disabled"
    assert "allow-remote" in str(caught.value)
    assert client.halted


def test_key_not_set(client: ManagementClient, emulator: Any) -> None:
    emulator.inject_fault(
        "GET", "/config", status=403, body='{"error":"remote management key not set"}'
    )
    with pytest.raises(errors.KeyNotSetError):
        client.get_config()
    assert client.halted


def test_management_disabled(emulator_factory: Any, make_client: Any) -> None:
    emu = emulator_factory(management_key=None)
    client = make_client(emu)
    with pytest.raises(errors.ManagementDisabledError) as caught:
        client.get_config()
    assert caught.value.status == 404 and caught.value.data is None
    assert "secret-key" in str(caught.value)
    assert not client.halted


# -- retries -----------------------------------------------------------------------------


def test_get_retries_a_server_error(
    management: Any, client: ManagementClient, emulator: Any
) -> None:
    emulator.inject_fault("GET", "/auth-files", status=503, body='{"error":"busy"}')
    emulator.reset_requests()
    assert client.list_auth_files() == []
    assert [r.status for r in management(emulator)] == [503, 200]


def test_get_gives_up_after_two_retries(
    management: Any, client: ManagementClient, emulator: Any
) -> None:
    emulator.inject_fault("GET", "/auth-files", status=500, body='{"error":"x"}', times=5)
    emulator.reset_requests()
    with pytest.raises(errors.ServerError) as caught:
        client.list_auth_files()
    assert caught.value.retryable
    assert len(management(emulator)) == 3


@pytest.mark.parametrize(
    ("method", "path", "call"),
    [
        ("PUT", "/config.yaml", lambda c: c.put_config_yaml("debug: true\n")),
        ("POST", "/auth-files", lambda c: c.upload_auth_file("a.json", "{}")),
        ("PATCH", "/auth-files/fields", lambda c: c.patch_auth_file_fields("a.json", {"n": 1})),
        ("DELETE", "/auth-files", lambda c: c.delete_auth_file("a.json")),
    ],
)
def test_writes_are_never_retried(
    management: Any, client: ManagementClient, emulator: Any, method: str, path: str, call: Any
) -> None:
    emulator.inject_fault(method, path, status=500, body='{"error":"write_failed"}')
    emulator.reset_requests()
    with pytest.raises(errors.ServerError) as caught:
        call(client)
    assert caught.value.code == "write_failed"
    assert len(management(emulator)) == 1


def test_dropped_connection_on_get_is_retried(client: ManagementClient, emulator: Any) -> None:
    emulator.inject_fault("GET", "/config.yaml", drop=True)
    assert "secret-key" in client.get_config_yaml()


def test_dropped_connection_on_write_is_unreachable(
    client: ManagementClient, emulator: Any
) -> None:
    emulator.inject_fault("PUT", "/config.yaml", drop=True)
    with pytest.raises(errors.UnreachableError) as caught:
        client.put_config_yaml(client.get_config_yaml())
    assert caught.value.status is None and caught.value.retryable
    assert str(caught.value).startswith("PUT /v0/management/config.yaml: no answer")
    assert isinstance(caught.value.__cause__, httpx.HTTPError)


def test_truncated_answer_is_unreachable(client: ManagementClient, emulator: Any) -> None:
    client.upload_auth_file("a.json", '{"type":"codex"}')
    emulator.inject_fault("GET", "/auth-files", truncate=True, times=3)
    with pytest.raises(errors.UnreachableError):
        client.list_auth_files()


def test_timeout_is_unreachable_and_not_retried(make_client: Any, emulator: Any) -> None:
    client = make_client(timeout=0.3)
    emulator.inject_fault("GET", "/config", delay=1.5)
    with pytest.raises(errors.UnreachableError, match="timed out") as caught:
        client.get_config()
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert client.request_count == 1


def test_non_json_answer_is_an_api_error(client: ManagementClient, emulator: Any) -> None:
    emulator.inject_fault("GET", "/config", status=200, body="<html>login</html>", times=3)
    with pytest.raises(errors.ApiError, match="not JSON") as caught:
        client.get_config()
    assert type(caught.value) is errors.ApiError


def test_cut_off_json_answer_is_unreachable(client: ManagementClient, emulator: Any) -> None:
    emulator.inject_fault("GET", "/config", status=200, body='{"debug": tr', times=3)
    with pytest.raises(errors.UnreachableError, match="cut off"):
        client.get_config()


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield port


def test_connection_refused(closed_port: int) -> None:
    with ManagementClient(f"127.0.0.1:{closed_port}", "k", timeout=2) as client:
        with pytest.raises(errors.UnreachableError, match="cannot connect"):
            client.get_config()
        assert client.request_count == 0
        assert client.healthz() is False


def test_tls_failure_is_unreachable(client: ManagementClient, emulator: Any) -> None:
    https = emulator.url.replace("http://", "https://")
    with (
        ManagementClient(https, "test-mgmt-key", timeout=2) as tls_client,
        pytest.raises(errors.UnreachableError),
    ):
        tls_client.put_config_yaml("debug: true\n")


# -- version headers ---------------------------------------------------------------------


def test_version_on_success(make_client: Any) -> None:
    seen: list[ServerVersion] = []
    client = make_client(on_server_version=seen.append)
    assert client.server_version is None
    client.list_auth_files()
    client.get_config()
    assert len(seen) == 1
    version = client.server_version
    assert version is not None and version == seen[0]
    assert (version.version, version.normalized) == ("v7.2.140", "7.2.140")
    assert version.commit == "a7e3596b7"
    assert version.build_date
    assert version.support_plugin is True


def test_version_on_401(make_client: Any) -> None:
    seen: list[ServerVersion] = []
    client = make_client(key="wrong", on_server_version=seen.append)
    with pytest.raises(errors.UnauthorizedError):
        client.get_config()
    assert [v.normalized for v in seen] == ["7.2.140"]


def test_version_without_v_prefix(emulator_factory: Any, make_client: Any) -> None:
    emu = emulator_factory(version="7.3.0", commit="none", build_date="unknown")
    client = make_client(emu)
    client.get_config()
    assert client.server_version == ServerVersion(
        version="7.3.0",
        normalized="7.3.0",
        commit="none",
        build_date="unknown",
        support_plugin=client.server_version.support_plugin if client.server_version else None,
    )


def test_version_change_calls_back_again() -> None:
    versions = iter(["v7.2.140", "v7.2.140", "v7.3.0"])

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={}, headers={"x-cpa-version": next(versions)})

    seen: list[ServerVersion] = []
    transport = httpx.MockTransport(answer)
    with ManagementClient("h", "k", transport=transport, on_server_version=seen.append) as c:
        for _ in range(3):
            c.get_config()
    assert [v.version for v in seen] == ["v7.2.140", "v7.3.0"]


def test_healthz_sends_no_key(client: ManagementClient, emulator: Any) -> None:
    emulator.reset_requests()
    assert client.healthz() is True
    [probe] = emulator.requests()
    assert probe.path == "/healthz"
    assert not probe.authenticated


def test_healthz_works_while_halted(make_client: Any) -> None:
    client = make_client(key="wrong")
    with pytest.raises(errors.UnauthorizedError):
        client.get_config()
    assert client.healthz() is True


# -- secrets -----------------------------------------------------------------------------


def _assert_secret_free(*texts: object) -> None:
    for text in texts:
        assert DISTINCT not in str(text)
        assert DISTINCT not in repr(text)


def test_key_is_not_in_repr_or_str(make_client: Any) -> None:
    client = make_client(key=DISTINCT)
    _assert_secret_free(client, client.management_key, vars(client))


def test_key_is_not_in_errors_or_logs(
    make_client: Any, emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(key=DISTINCT)
    with pytest.raises(errors.UnauthorizedError) as first:
        client.get_config()
    with pytest.raises(errors.UnauthorizedError) as halted:
        client.get_config()
    for error in (first.value, halted.value):
        _assert_secret_free(error, error.args, error.details, error.data)
    _assert_secret_free(caplog.text)


def test_key_with_a_newline_is_refused_locally(make_client: Any, emulator: Any) -> None:
    client = make_client(key=f"{DISTINCT}\nX-Evil: 1")
    with pytest.raises(errors.UnauthorizedError, match="control characters") as caught:
        client.get_config()
    _assert_secret_free(caught.value)
    assert emulator.requests() == []


def test_key_is_not_in_unreachable_errors(closed_port: int) -> None:
    with (
        ManagementClient(f"127.0.0.1:{closed_port}", DISTINCT, timeout=1) as client,
        pytest.raises(errors.UnreachableError) as caught,
    ):
        client.get_config()
    _assert_secret_free(caught.value, caught.value.__cause__)


def test_non_ascii_key_is_sent_as_utf8_bytes() -> None:
    """Go compares the header bytes with the UTF-8 config value, so UTF-8 is what matches."""
    seen: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        raw = {name.lower(): value for name, value in request.headers.raw}
        seen.append(raw[b"authorization"])
        return httpx.Response(200, json={"files": []})

    with ManagementClient("h", "clé-ü", transport=httpx.MockTransport(answer)) as client:
        client.list_auth_files()
    assert seen == ["Bearer clé-ü".encode()]


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [
        ("application/yaml; charset=utf-8", True),
        ("text/plain", True),
        (None, True),
        ("text/html; charset=utf-8", False),
        ("application/xhtml+xml", False),
    ],
)
def test_config_yaml_content_type(content_type: str | None, accepted: bool) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": content_type} if content_type else {}
        return httpx.Response(200, content=b"debug: true\n", headers=headers)

    with ManagementClient("h", "k", transport=httpx.MockTransport(answer)) as client:
        if accepted:
            assert client.get_config_yaml() == "debug: true\n"
        else:
            with pytest.raises(errors.ApiError, match="web page"):
                client.get_config_yaml()


def test_auth_file_download_as_html_is_refused() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>login</html>", headers={"Content-Type": "text/html"})

    with (
        ManagementClient("h", "k", transport=httpx.MockTransport(answer)) as client,
        pytest.raises(errors.ApiError, match="not the JSON file"),
    ):
        client.download_auth_file("a.json")
