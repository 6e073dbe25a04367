"""Issue 9 items 11 and 13: what a server's answer can put in our messages.

Server error text is shown with every secret of the desired state masked (also the first
characters a YAML error quotes) and control characters escaped; a redirect says where it
pointed and that it was not followed; a ``--webhook-url`` holding a token on the command line is
warned about.
"""

from __future__ import annotations

import threading

import pytest
from hostile_server import HostileServer, Reply, Seen

from reconciler import cli, errors
from reconciler.client.management import ManagementClient
from reconciler.commands import daemon as daemon_command
from reconciler.core.model import DesiredAuthFile, DesiredState
from reconciler.daemon.webhook import Webhook
from reconciler.pipeline.planning import secret_values

KEY = "hostile-test-key"
SECRET = "sk-upstream-PLANTED-3f9a1c"
REFERENCED = "value-from-env-PLANTED-77aa"


def _client(url: str, **kwargs: object) -> ManagementClient:
    client = ManagementClient(url, KEY, timeout=5.0, **kwargs)  # type: ignore[arg-type]
    client._session.retry_delays = ()
    return client


def test_server_error_text_is_redacted_and_its_control_characters_escaped() -> None:
    quoted = (
        f"yaml: unmarshal errors:\n  line 3: cannot unmarshal !!str `{SECRET[:7]}...` into int; "
        f"full {SECRET}; key {KEY}; \x1b[2J\x1b]0;owned\x07 \u202etxt.exe"
    )

    def handler(_req: Seen) -> Reply:
        return Reply.json({"error": "invalid_yaml", "message": quoted}, 400)

    with (
        HostileServer(handler) as srv,
        _client(srv.url, redact=[SECRET]) as client,
        pytest.raises(errors.InvalidConfigError) as caught,
    ):
        client.put_config_yaml("debug: true\n")
    error = caught.value
    for text in (str(error), error.details or "", repr(error.data)):
        assert SECRET not in text and SECRET[:7] not in text and KEY not in text
    message = str(error)
    assert "\x1b" not in message and "\x07" not in message and "\u202e" not in message
    assert "\\x1b[2J" in message and "\\u202etxt.exe" in message
    assert "cannot unmarshal !!str `***...` into int" in message


def test_set_redactions_applies_to_later_errors() -> None:
    answer = Reply.json({"error": f"bad {SECRET}"}, 400)
    with HostileServer(lambda _r: answer) as srv, _client(srv.url) as client:
        client.set_redactions([SECRET])
        with pytest.raises(errors.ApiError) as caught:
            client.get_config_yaml()
    assert SECRET not in str(caught.value)


def test_redactions_given_as_a_function_are_collected_at_the_first_error() -> None:
    """A plan passes the desired state's secrets as a function (walking a large state costs
    ~10 ms): not called while every answer is a success, called once an error is met, and
    its values masked from then on."""
    calls: list[int] = []

    def values() -> list[str]:
        calls.append(1)
        return [SECRET]

    failing = threading.Event()

    def handler(_req: Seen) -> Reply:
        if failing.is_set():
            return Reply.json({"error": f"bad {SECRET}"}, 400)
        return Reply.json({"files": []})

    with HostileServer(handler) as srv, _client(srv.url, redact=values) as client:
        client.list_auth_files()
        assert calls == []
        failing.set()
        for _ in range(2):
            with pytest.raises(errors.ApiError) as caught:
                client.list_auth_files()
            assert SECRET not in str(caught.value) and "bad ***" in str(caught.value)
    assert calls == [1]


def test_secret_values_of_the_desired_state() -> None:
    state = DesiredState(
        config={
            "api-keys": [SECRET],
            "debug": True,
            "proxy-url": "socks5://u:pw-PLANTED@h:1",
            "note": REFERENCED,
            "plain": "not-secret-value",
        },
        secret_paths=frozenset({("note",)}),
        auth_files=(
            DesiredAuthFile(name="a.json", fields={"headers": {"X-Token": "hdr-PLANTED-1"}}),
        ),
    )
    values = secret_values(state)
    assert {SECRET, "socks5://u:pw-PLANTED@h:1", REFERENCED, "hdr-PLANTED-1"} <= set(values)
    assert "not-secret-value" not in values


def test_a_redirect_says_where_and_that_it_was_not_followed() -> None:
    def handler(_req: Seen) -> Reply:
        return Reply(302, {"Location": "https://elsewhere.example:8443/login?next=x&tok=abc#f"})

    with (
        HostileServer(handler) as srv,
        _client(srv.url) as client,
        pytest.raises(errors.ApiError) as caught,
    ):
        client.get_config_yaml()
    message = str(caught.value)
    assert "302 Found: a redirect to https://elsewhere.example:8443/login, not followed" in message
    assert "tok=abc" not in message and "next=" not in message
    assert len(srv.requests) == 1  # not followed, not retried


def test_a_webhook_redirect_is_reported_as_one() -> None:
    reports: list[tuple[str, str]] = []

    def handler(_req: Seen) -> Reply:
        return Reply(301, {"Location": "https://hooks.example/services/T0/B0/SECRET-PATH?x=1"})

    with HostileServer(handler) as srv:
        hook = Webhook(
            srv.url + "/services/T0/B0/TOKEN-PLANTED",
            None,
            report=lambda result, reason: reports.append((result, reason)),
        )
        hook.submit({"event": "drift.detected", "kind": "config", "path": "debug"})
        hook.close(timeout=5)
    [(result, reason)] = reports
    assert result == "failed"
    assert (
        "HTTP 301 Moved Permanently: a redirect to https://hooks.example/…, not followed" in reason
    )
    assert "SECRET-PATH" not in reason and "TOKEN-PLANTED" not in reason


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("https://hooks.slack.com/services/T0/B0/TOKEN-PLANTED", True),
        ("https://receiver.example/hook?token=PLANTED", True),
        ("https://user:pw@receiver.example", True),
        ("https://receiver.example", False),
        ("http://127.0.0.1:9000/", False),
    ],
)
def test_a_webhook_url_with_a_token_on_the_command_line_is_warned_about(
    url: str, warned: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    args = cli.build_parser("daemon").parse_args(
        ["daemon", "desired.yaml", "--webhook-url", url, "--url", "http://127.0.0.1:8317"]
    )
    daemon_command.config_from(args, {"RECONCILER_WEBHOOK_SECRET": "s"})
    err = capsys.readouterr().err
    assert ("--webhook-url puts the URL" in err) is warned
    assert "RECONCILER_WEBHOOK_URL" in err if warned else err == ""
    assert "PLANTED" not in err
