"""``api_call`` waits longer than the client's timeout: CPA's own upstream timeout is 60 s.

A slow upstream must come back as CPA's 502 (``cpa_error`` in a quota read), not as a client
timeout that leaves CPA's call running. ``api_call`` therefore uses at least 75 s, or its own
``timeout``; every other request keeps the client's deadline.
"""

from __future__ import annotations

import pytest

from reconciler import errors
from reconciler.client.management import API_CALL_TIMEOUT, ManagementClient
from reconciler.emulator import Emulator

KEY = "test-mgmt-key"
CANNED = {"status_code": 200, "header": {}, "body": "{}"}


def test_a_slow_api_call_gets_cpas_answer_not_a_client_timeout(emulator: Emulator) -> None:
    assert API_CALL_TIMEOUT > 60
    emulator.inject_fault("POST", "/api-call", delay=0.6)  # then the real handler answers
    client = ManagementClient(emulator.url, KEY, timeout=0.3)
    with client, pytest.raises(errors.ApiError) as caught:
        client.api_call("GET", "http://127.0.0.1:9/x")  # nothing listens there
    assert caught.value.status == 502
    assert not isinstance(caught.value, errors.UnreachableError)


def test_api_call_own_timeout(emulator: Emulator) -> None:
    emulator.inject_fault("POST", "/api-call", delay=0.6, status=200, body=CANNED)
    emulator.inject_fault("POST", "/api-call", nth=2, delay=0.6, status=200, body=CANNED)
    with ManagementClient(emulator.url, KEY, timeout=30) as client:
        assert client.api_call("GET", "http://127.0.0.1:9/x", timeout=5).status_code == 200
        with pytest.raises(errors.UnreachableError, match=r"0\.2 s timeout"):
            client.api_call("GET", "http://127.0.0.1:9/x", timeout=0.2)


def test_other_requests_keep_the_client_deadline(emulator: Emulator) -> None:
    emulator.inject_fault("GET", "/auth-files", delay=0.6, times=3)
    client = ManagementClient(emulator.url, KEY, timeout=0.3)
    with client, pytest.raises(errors.UnreachableError, match=r"0\.3 s timeout"):
        client.list_auth_files()
