"""PATCH /auth-files/fields checks the type of ``weight`` and ``request_retry`` only, as CPA's
``PatchAuthFileFields`` does: the body is decoded with json.Number and the number's literal is
parsed as a 64-bit integer, so ``1.0`` and ``1e3`` are refused like ``"1"``. A negative weight
is stored as 0 (credentialweight.Normalize), a negative request_retry deletes the field.
Every other field is stored as sent, whatever its type; a ``headers`` value that is not a
mapping of strings replaces all of the file's headers. A bad weight is answered only after
the file was found (404 first); a bad request_retry before."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconciler.emulator import Emulator

ALICE = {"type": "codex", "email": "alice@example.com", "access_token": "a", "refresh_token": "r"}
WEIGHT = "weight must be an integer"
RETRY = "request_retry must be an integer or null"


def _upload(mgmt, name: str, data: dict[str, Any]) -> None:
    raw = json.dumps(data).encode()
    assert mgmt.post("/auth-files", params={"name": name}, content=raw).status_code == 200


def _patch_raw(mgmt, body: str):
    """The body as written (a JSON literal such as 1e3 survives)."""
    headers = {"Content-Type": "application/json"}
    return mgmt.patch("/auth-files/fields", content=body.encode(), headers=headers)


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ('"high"', WEIGHT),
        ('"5"', WEIGHT),
        ("true", WEIGHT),
        ("[1]", WEIGHT),
        ("{}", WEIGHT),
        ("1.5", f'{WEIGHT}: strconv.ParseInt: parsing "1.5": invalid syntax'),
        ("1.0", f'{WEIGHT}: strconv.ParseInt: parsing "1.0": invalid syntax'),
        ("1e3", f'{WEIGHT}: strconv.ParseInt: parsing "1000.0": invalid syntax'),
        (
            "9223372036854775808",
            f'{WEIGHT}: strconv.ParseInt: parsing "9223372036854775808": value out of range',
        ),
        ("1000001", "weight must not exceed 1000000"),
        ('"x", "request_retry": 2', WEIGHT),
    ],
)
def test_a_weight_cpa_cannot_parse_is_refused_and_nothing_changes(
    emulator: Emulator, mgmt, literal: str, message: str
) -> None:
    _upload(mgmt, "a.json", {**ALICE, "weight": 3})
    answer = _patch_raw(mgmt, f'{{"name": "a.json", "note": "n", "weight": {literal}}}')
    assert (answer.status_code, answer.json()) == (400, {"error": message})
    stored = emulator.read_auth_file("a.json")
    assert stored["weight"] == 3 and "note" not in stored and "request_retry" not in stored


@pytest.mark.parametrize(("sent", "stored"), [(-5, 0), (0, 0), (1_000_000, 1_000_000)])
def test_a_negative_weight_is_stored_as_zero(
    emulator: Emulator, mgmt, sent: int, stored: int
) -> None:
    _upload(mgmt, "a.json", ALICE)
    answer = mgmt.patch("/auth-files/fields", json={"name": "a.json", "weight": sent})
    assert answer.json() == {"status": "ok"}
    assert emulator.read_auth_file("a.json")["weight"] == stored


@pytest.mark.parametrize(
    "literal",
    ['"1"', "true", "1.5", "2.0", "1e2", "[]", "9223372036854775808", "-9223372036854775809"],
)
def test_a_request_retry_cpa_cannot_parse_is_refused(
    emulator: Emulator, mgmt, literal: str
) -> None:
    _upload(mgmt, "a.json", {**ALICE, "request_retry": 2})
    answer = _patch_raw(mgmt, f'{{"name": "a.json", "request_retry": {literal}}}')
    assert (answer.status_code, answer.json()) == (400, {"error": RETRY})
    assert emulator.read_auth_file("a.json")["request_retry"] == 2


def test_the_smallest_64_bit_request_retry_deletes_it(emulator: Emulator, mgmt) -> None:
    _upload(mgmt, "a.json", {**ALICE, "request_retry": 2})
    answer = _patch_raw(mgmt, '{"name": "a.json", "request_retry": -9223372036854775808}')
    assert answer.json() == {"status": "ok"}
    assert "request_retry" not in emulator.read_auth_file("a.json")


def test_a_missing_file_is_404_before_a_bad_weight_but_not_before_a_bad_request_retry(
    mgmt,
) -> None:
    weight = mgmt.patch("/auth-files/fields", json={"name": "zz.json", "weight": "x"})
    assert (weight.status_code, weight.json()) == (404, {"error": "auth file not found"})
    path = mgmt.patch("/auth-files/fields", json={"name": "zz.json", "a..b": 1})
    assert path.status_code == 404
    retry = mgmt.patch("/auth-files/fields", json={"name": "zz.json", "request_retry": "x"})
    assert (retry.status_code, retry.json()) == (400, {"error": RETRY})


def test_other_fields_are_stored_as_sent_whatever_their_type(emulator: Emulator, mgmt) -> None:
    _upload(mgmt, "a.json", ALICE)
    odd = {"priority": "1", "websockets": "yes", "note": 5, "proxy_url": {}, "prefix": [1]}
    answer = mgmt.patch("/auth-files/fields", json={"name": "a.json", **odd})
    assert answer.json() == {"status": "ok"}
    stored = emulator.read_auth_file("a.json")
    assert {key: stored[key] for key in odd} == odd
    listed = mgmt.get("/auth-files").json()["files"]
    assert [entry["name"] for entry in listed] == ["a.json"]


@pytest.mark.parametrize(
    "value",
    [
        {"X-A": None},
        {"X-A": None, "X-B": "b"},
        {"X-A": 5},
        ["X-A", "X-B"],
        "X-A: a",
        None,
    ],
)
def test_headers_that_are_not_a_mapping_of_strings_replace_them_all(
    emulator: Emulator, mgmt, value: Any
) -> None:
    """applyAuthFileHeadersPatch merges only a mapping of strings: anything else is stored as
    sent in place of the file's headers (here X-Keep is lost)."""
    _upload(mgmt, "a.json", {**ALICE, "headers": {"X-Keep": "k", "X-A": "a"}})
    answer = mgmt.patch("/auth-files/fields", json={"name": "a.json", "headers": value})
    assert answer.json() == {"status": "ok"}
    assert emulator.read_auth_file("a.json")["headers"] == value


def test_a_dotted_null_header_keeps_the_others(emulator: Emulator, mgmt) -> None:
    """The alternative to ``headers: {X-A: null}``: one header cleared, the rest kept."""
    _upload(mgmt, "a.json", {**ALICE, "headers": {"X-Keep": "k", "X-A": "a"}})
    answer = mgmt.patch("/auth-files/fields", json={"name": "a.json", "headers.X-A": None})
    assert answer.json() == {"status": "ok"}
    assert emulator.read_auth_file("a.json")["headers"] == {"X-Keep": "k", "X-A": None}
