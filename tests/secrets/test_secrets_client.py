"""The management key never shows in ``ManagementClient``'s repr/str nor in any exception it
raises: message, repr, args, the server's code, details and parsed body, and the formatted
traceback with its whole ``__cause__`` chain. Several answers below echo the key back (a
proxy that reflects the Authorization header, a debug page): the client must still not hand
it to the caller.
"""

from __future__ import annotations

import json
import socket
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from secrets_world import MARK, planted

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.emulator import Emulator

KEY = planted("client-key")
WRONG = planted("wrong-key")


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(management_key=KEY) as emulator:
        yield emulator


def texts_of(error: BaseException) -> list[str]:
    """Every text a caller (or a log handler) could take from the error."""
    found = [str(error), repr(error), *(str(a) for a in error.args)]
    found.append("".join(traceback.format_exception(error)))
    for name in ("code", "details", "message", "method", "endpoint"):
        found.append(str(getattr(error, name, "")))
    found.append(json.dumps(getattr(error, "data", None), default=str))
    return found


def assert_key_hidden(error: BaseException, *keys: str) -> None:
    for text in texts_of(error):
        for key in keys:
            assert key not in text, f"{type(error).__name__} shows the key: {text[:300]}"
        assert MARK not in text, f"{type(error).__name__} shows a planted value: {text[:300]}"


def test_repr_and_str_hide_the_key() -> None:
    client = ManagementClient("http://127.0.0.1:8317", KEY)
    try:
        for text in (repr(client), str(client), f"{client!r}", repr(client.management_key)):
            assert KEY not in text and MARK not in text
        assert "127.0.0.1:8317" in repr(client)
    finally:
        client.close()


def _raise(call: Callable[[], Any]) -> errors.ApiError:
    with pytest.raises(errors.ApiError) as caught:
        call()
    return caught.value


def test_wrong_key_and_the_halt_after_it(emu: Emulator) -> None:
    with ManagementClient(emu.url, WRONG, timeout=5) as client:
        first = _raise(client.get_config_yaml)
        halted = _raise(client.list_auth_files)
    assert isinstance(first, errors.UnauthorizedError)
    assert isinstance(halted, errors.UnauthorizedError)
    assert_key_hidden(first, WRONG, KEY)
    assert_key_hidden(halted, WRONG, KEY)


ECHO = {
    "error": f"Bearer {KEY}",
    "message": f"rejected Authorization: Bearer {KEY}",
    "echo": {"headers": {"Authorization": f"Bearer {KEY}"}},
}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, ECHO),
        (401, ECHO),
        (403, ECHO),
        (404, ECHO),
        (422, {"error": "invalid_config", "message": f"key {KEY} is not allowed"}),
        (500, ECHO),
        (502, f"<html><pre>Authorization: Bearer {KEY}</pre></html>"),
    ],
    ids=lambda v: str(v) if isinstance(v, int) else "",
)
def test_an_answer_that_echoes_the_key(emu: Emulator, status: int, body: Any) -> None:
    emu.inject_fault("GET", "/config.yaml", status=status, body=body, times=3)
    with ManagementClient(emu.url, KEY, timeout=5) as client:
        client._session.retry_delays = ()
        error = _raise(client.get_config_yaml)
    assert error.status == status
    assert_key_hidden(error, KEY)


@pytest.mark.parametrize(
    "body",
    [
        f'{{"files": [{{"name": "{KEY}"',  # cut off
        f"<html>debug: Authorization: Bearer {KEY}</html>",  # 200 but not JSON
        {"files": [{"name": 7, "token": KEY}]},  # not the expected shape
    ],
    ids=["truncated-json", "not-json", "wrong-shape"],
)
def test_a_broken_success_answer_that_echoes_the_key(emu: Emulator, body: Any) -> None:
    emu.inject_fault("GET", "/auth-files", status=200, body=body, times=3)
    with ManagementClient(emu.url, KEY, timeout=5) as client:
        client._session.retry_delays = ()
        error = _raise(client.list_auth_files)
    assert_key_hidden(error, KEY)


def test_no_answer(emu: Emulator) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with ManagementClient(dead, KEY, timeout=5) as client:
        client._session.retry_delays = ()
        error = _raise(client.get_config_yaml)
    assert isinstance(error, errors.UnreachableError)
    assert_key_hidden(error, KEY)


def test_dropped_connection_and_timeout(emu: Emulator) -> None:
    emu.inject_fault("GET", "/config.yaml", drop=True)
    emu.inject_fault("GET", "/auth-files", delay=1.0)
    with ManagementClient(emu.url, KEY, timeout=0.2) as client:
        client._session.retry_delays = ()
        dropped = _raise(client.get_config_yaml)
        slow = _raise(client.list_auth_files)
    assert isinstance(dropped, errors.UnreachableError)
    assert isinstance(slow, errors.UnreachableError)
    assert_key_hidden(dropped, KEY)
    assert_key_hidden(slow, KEY)


@pytest.mark.parametrize("bad", [f"{KEY}\x01", f"{KEY}\nsecond-line", ""])
def test_a_key_that_cannot_be_sent(emu: Emulator, bad: str) -> None:
    with ManagementClient(emu.url, bad, timeout=5) as client:
        error = _raise(client.get_config_yaml)
    assert isinstance(error, errors.UnauthorizedError)
    assert_key_hidden(error, KEY)
    assert emu.requests() == []


def test_a_refused_put_that_quotes_the_body(emu: Emulator) -> None:
    """CPA's YAML errors quote the text we sent; the text holds the key (secret-key)."""
    body = f"remote-management:\n  secret-key: {KEY}\ndebug: [\n"
    with ManagementClient(emu.url, KEY, timeout=5) as client:
        emu.inject_fault(
            "PUT",
            "/config.yaml",
            status=400,
            body={"error": "invalid_yaml", "message": f"yaml: line 2: near {KEY}"},
        )
        error = _raise(lambda: client.put_config_yaml(body))
    assert isinstance(error, errors.InvalidConfigError)
    assert_key_hidden(error, KEY)
