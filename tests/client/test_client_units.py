"""Pure parts of the client: URL normalisation, version headers, status-to-error mapping.

No server is needed: these functions take values (strings, ``httpx.Headers``, finished
``httpx.Response`` objects) and return values.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from reconciler import errors
from reconciler.client.errors import error_from_response, redact
from reconciler.client.management import ManagementClient
from reconciler.client.models import AuthFileInfo, OAuthStart, ServerVersion
from reconciler.client.transport import (
    normalize_api_base,
    parse_model,
    server_version_from_headers,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8317", "http://127.0.0.1:8317"),
        ("http://127.0.0.1:8317/", "http://127.0.0.1:8317"),
        ("  http://127.0.0.1:8317/v0/management  ", "http://127.0.0.1:8317"),
        ("http://127.0.0.1:8317/v0/management/", "http://127.0.0.1:8317"),
        ("127.0.0.1:8317", "http://127.0.0.1:8317"),
        ("cpa.example.com/v0/management", "http://cpa.example.com"),
        ("https://cpa.example.com/prefix/v0/management", "https://cpa.example.com/prefix"),
    ],
)
def test_normalize_api_base(given: str, expected: str) -> None:
    assert normalize_api_base(given) == expected


@pytest.mark.parametrize("bad", ["", "   ", "ftp://host", "http://", "/v0/management"])
def test_normalize_api_base_rejects_what_is_not_an_address(bad: str) -> None:
    with pytest.raises(errors.UsageError):
        normalize_api_base(bad)


def test_missing_ca_bundle_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(errors.UsageError, match="CA bundle"):
        ManagementClient("https://127.0.0.1:1", "k", verify=str(tmp_path / "none.pem"))


def test_version_headers_are_read_case_insensitively() -> None:
    headers = httpx.Headers(
        {
            "x-cpa-VERSION": "v7.2.140",
            "X-Cpa-Commit": "a7e3596b7",
            "X-CPA-BUILD-DATE": "2026-11-24T06:51:07Z",
            "x-cpa-support-plugin": "1",
        }
    )
    assert server_version_from_headers(headers) == ServerVersion(
        version="v7.2.140",
        normalized="7.2.140",
        commit="a7e3596b7",
        build_date="2026-11-24T06:51:07Z",
        support_plugin=True,
    )


def test_legacy_server_headers_are_a_fallback() -> None:
    headers = httpx.Headers({"X-Server-Version": "6.9.1", "X-Server-Build-Date": "unknown"})
    version = server_version_from_headers(headers)
    assert version is not None
    assert (version.version, version.normalized, version.build_date) == (
        "6.9.1",
        "6.9.1",
        "unknown",
    )
    assert version.support_plugin is None


def test_dev_build_version_is_kept_as_is() -> None:
    version = server_version_from_headers(httpx.Headers({"X-CPA-VERSION": "dev"}))
    assert version is not None and version.normalized == "dev"


def test_no_version_headers_give_none() -> None:
    assert server_version_from_headers(httpx.Headers({"Content-Type": "text/plain"})) is None


def _answer(status: int, body: bytes | str = b"", **kwargs: object) -> httpx.Response:
    request = httpx.Request("GET", "http://cpa/v0/management/x")
    content = body.encode() if isinstance(body, str) else body
    return httpx.Response(status, content=content, request=request)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, '{"error":"invalid management key"}', errors.UnauthorizedError),
        (401, '{"error":"missing management key"}', errors.UnauthorizedError),
        (
            403,
            '{"error":"IP banned due to too many failed attempts. Try again in 29m59s"}',
            errors.BannedError,
        ),
        (403, '{"error":"remote management disabled"}', errors.RemoteDisabledError),
        (403, '{"error":"remote management key not set"}', errors.KeyNotSetError),
        (403, '{"error":"something else"}', errors.ForbiddenError),
        (404, "", errors.ManagementDisabledError),
        (404, "404 page not found", errors.UnsupportedError),
        (404, '{"error":"file not found"}', errors.NotFoundError),
        (400, '{"error":"invalid_yaml","message":"yaml: line 1"}', errors.InvalidConfigError),
        (422, '{"error":"invalid_config","message":"bad weight"}', errors.InvalidConfigError),
        (400, '{"error":"invalid body"}', errors.ApiError),
        (409, '{"error":"virtual"}', errors.ApiError),
        (500, '{"error":"write_failed"}', errors.ServerError),
        (502, "Bad Gateway", errors.ServerError),
        (503, "", errors.ServerError),
    ],
)
def test_status_mapping(status: int, body: str, expected: type[errors.ApiError]) -> None:
    error = error_from_response(_answer(status, body), "GET", "/v0/management/x")
    assert type(error) is expected
    assert error.status == status
    assert str(error).startswith(f"GET /v0/management/x: {status}")


def test_error_fields_and_message() -> None:
    body = '{"error":"invalid_yaml","message":"yaml: line 1: did not find expected \',\' or \']\'"}'
    error = error_from_response(_answer(400, body), "PUT", "/v0/management/config.yaml")
    assert error.code == "invalid_yaml"
    assert error.details == "yaml: line 1: did not find expected ',' or ']'"
    assert error.data == {"error": "invalid_yaml", "message": error.details}
    assert (error.method, error.endpoint) == ("PUT", "/v0/management/config.yaml")
    assert str(error) == (
        "PUT /v0/management/config.yaml: 400 invalid_yaml: yaml: line 1: did not find "
        "expected ',' or ']'"
    )
    assert not error.retryable


def test_long_server_text_is_cut_in_the_message() -> None:
    body = '{"error":"x","message":"' + "y" * 5000 + '"}'
    error = error_from_response(_answer(400, body), "GET", "/v0/management/x")
    assert len(str(error)) < 400
    assert error.details is not None and len(error.details) == 5000


def test_redact_replaces_the_secret() -> None:
    error = errors.ApiError("GET /x: 400 bad key sk-secret", details="sk-secret here")
    redact(error, "sk-secret")
    assert "sk-secret" not in str(error)
    assert "sk-secret" not in repr(error.args)
    assert error.details == "*** here"


def test_shape_errors_name_the_field_not_the_value() -> None:
    with pytest.raises(errors.ApiError) as caught:
        parse_model(AuthFileInfo, {"name": "a.json", "priority": "sk-not-a-number"}, "GET", "/e")
    assert "priority" in str(caught.value)
    assert "sk-not-a-number" not in str(caught.value)


def test_models_keep_unknown_fields() -> None:
    info = AuthFileInfo.model_validate({"name": "a.json", "brand_new": {"x": 1}})
    assert info.model_extra == {"brand_new": {"x": 1}}


def test_oauth_start_accepts_both_spellings() -> None:
    start = OAuthStart.model_validate(
        {"auth_url": "https://x", "state": "s", "verification_url": "https://v"}
    )
    assert (start.url, start.auth_url) == ("https://x", "https://x")
    assert (start.verification_uri, start.verification_url) == ("https://v", "https://v")
