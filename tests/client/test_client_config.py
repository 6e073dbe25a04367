"""Config endpoints against the CPA emulator: config.yaml, settings, api-keys, lists, maps."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler import errors
from reconciler.client.config import SETTINGS
from reconciler.client.management import ManagementClient

Sent = Any


def test_get_config_is_json(client: ManagementClient) -> None:
    config = client.get_config()
    assert isinstance(config, dict)
    assert config["debug"] is False
    assert "remote-management" not in config  # hidden by the server


def test_get_config_yaml_is_the_file(client: ManagementClient, emulator: Any) -> None:
    text = client.get_config_yaml()
    assert text == emulator.config_yaml()
    assert "secret-key" in text


def test_put_config_yaml(client: ManagementClient, emulator: Any) -> None:
    text = client.get_config_yaml().replace("debug: false", "debug: true")
    assert "debug: true" in text

    result = client.put_config_yaml(text)

    assert result.ok is True and result.changed == ["config"]
    assert client.get_config()["debug"] is True
    assert "debug: true" in emulator.config_yaml()


def test_put_config_yaml_invalid_yaml(client: ManagementClient) -> None:
    with pytest.raises(errors.InvalidConfigError) as caught:
        client.put_config_yaml("port: [unclosed\n")
    error = caught.value
    assert (error.status, error.code) == (400, "invalid_yaml")
    assert error.details and error.details.startswith("yaml: ")
    assert str(error).startswith("PUT /v0/management/config.yaml: 400 invalid_yaml: yaml: ")
    assert "unclosed" not in (error.message.split(": ", 1)[0])


def test_put_config_yaml_type_error_is_invalid_yaml(client: ManagementClient) -> None:
    with pytest.raises(errors.InvalidConfigError) as caught:
        client.put_config_yaml('port: "notanumber"\n')
    assert caught.value.code == "invalid_yaml"


def test_put_config_yaml_invalid_config(client: ManagementClient, emulator: Any) -> None:
    body = '{"error":"invalid_config","message":"gemini-api-key[0].weight: must be <= 1000000"}'
    emulator.inject_fault("PUT", "/config.yaml", status=422, body=body)
    with pytest.raises(errors.InvalidConfigError) as caught:
        client.put_config_yaml(client.get_config_yaml())
    assert (caught.value.status, caught.value.code) == (422, "invalid_config")
    assert "weight" in str(caught.value)


_SAMPLE: dict[str, Any] = {
    "proxy-url": "socks5://127.0.0.1:1080",
    "routing.strategy": "fill-first",
    "logs-max-total-size-mb": 50,
    "error-logs-max-files": 3,
    "request-retry": 4,
    "max-retry-credentials": 2,
    "max-retry-interval": 15,
}


@pytest.mark.parametrize("key", list(SETTINGS))
def test_every_scalar_setting_round_trips(client: ManagementClient, key: str) -> None:
    before = client.get_setting(key)
    value = _SAMPLE.get(key, not before if isinstance(before, bool) else None)
    assert value is not None, f"no sample value for {key}"

    assert client.set_setting(key, value).status == "ok"

    assert client.get_setting(key) == value


def test_settings_accept_the_endpoint_path(client: ManagementClient) -> None:
    client.set_setting("quota-exceeded/switch-project", True)
    assert client.get_setting("/quota-exceeded/switch-project") is True
    assert client.get_config()["quota-exceeded"]["switch-project"] is True


def test_strategy_is_normalised_by_the_server(client: ManagementClient) -> None:
    client.set_setting("routing.strategy", "rr")
    assert client.get_setting("routing.strategy") == "round-robin"


def test_invalid_setting_value_is_a_400(client: ManagementClient) -> None:
    with pytest.raises(errors.ApiError) as caught:
        client.set_setting("routing.strategy", "sideways")
    assert caught.value.status == 400 and caught.value.code == "invalid strategy"


def test_delete_proxy_url(client: ManagementClient) -> None:
    client.set_setting("proxy-url", "http://proxy:3128")
    client.delete_setting("proxy-url")
    assert client.get_setting("proxy-url") == ""


def test_unknown_setting_is_refused_without_sending(
    client: ManagementClient, emulator: Any
) -> None:
    emulator.reset_requests()
    with pytest.raises(errors.UnsupportedError, match="put_config_yaml"):
        client.get_setting("remote-management.secret-key")
    assert emulator.requests() == []


def test_api_keys(client: ManagementClient) -> None:
    client.put_api_keys(["k1", "k2", "k3"])
    assert client.get_api_keys() == ["k1", "k2", "k3"]

    client.patch_api_key(index=0, value="k0")
    client.patch_api_key(old="k2", new="k22")
    client.patch_api_key(old="absent", new="k4")  # appends
    assert client.get_api_keys() == ["k0", "k22", "k3", "k4"]

    client.delete_api_key(value="k3")
    client.delete_api_key(index=0)
    assert client.get_api_keys() == ["k22", "k4"]

    client.put_api_keys([])
    assert client.get_api_keys() == []


def test_api_key_arguments_are_checked(client: ManagementClient) -> None:
    with pytest.raises(ValueError):
        client.patch_api_key(index=0)
    with pytest.raises(ValueError):
        client.delete_api_key()


def test_delete_list_item_needs_a_query(client: ManagementClient) -> None:
    with pytest.raises(ValueError):
        client.delete_list_item("gemini-api-key")


def test_bad_list_name_is_refused_without_sending(client: ManagementClient, emulator: Any) -> None:
    emulator.reset_requests()
    with pytest.raises(errors.UnsupportedError):
        client.get_list("../config")
    assert emulator.requests() == []


def test_unknown_list_is_unsupported(client: ManagementClient) -> None:
    with pytest.raises(errors.UnsupportedError):
        client.get_list("no-such-list")


def test_latest_version(client: ManagementClient, emulator: Any) -> None:
    emulator.inject_fault("GET", "/latest-version", status=200, body='{"latest-version":"v7.3.1"}')
    assert client.get_latest_version() == "v7.3.1"
