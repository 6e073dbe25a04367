"""``list_auth_file_summaries``: the listing as a reconciler reads it, validated from the bytes.

It must agree with ``list_auth_files`` on every field it has, and fail exactly as any other answer
does: cut off, not JSON, or the wrong shape.
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler import errors
from reconciler.client.management import ManagementClient
from reconciler.client.models import AuthFileSummary
from reconciler.core.auth_diff import LISTED_FIELDS

ALICE = {"type": "codex", "email": "alice@example.com", "access_token": "at-alice", "note": "t1"}
BOB = {"type": "claude", "email": "bob@example.com", "refresh_token": "rt-bob", "priority": 3}


def test_agrees_with_the_full_listing(client: ManagementClient) -> None:
    client.upload_auth_files({"codex-alice.json": ALICE, "claude-bob.json": BOB})
    client.set_auth_file_disabled("claude-bob.json", True)
    client.patch_auth_file_fields("claude-bob.json", {"weight": 2, "websockets": True})
    full = {info.name: info for info in client.list_auth_files()}
    summaries = {info.name: info for info in client.list_auth_file_summaries()}
    assert summaries.keys() == full.keys() == {"codex-alice.json", "claude-bob.json"}
    for name, summary in summaries.items():
        for field in AuthFileSummary.model_fields:
            assert getattr(summary, field) == getattr(full[name], field), (name, field)
    bob = summaries["claude-bob.json"]
    assert (bob.disabled, bob.priority, bob.weight, bob.websockets) == (True, 3, 2, True)
    assert summaries["codex-alice.json"].note == "t1"


def test_other_fields_are_skipped_not_kept(client: ManagementClient) -> None:
    client.upload_auth_file("codex-alice.json", ALICE)
    [summary] = client.list_auth_file_summaries()
    assert summary.model_extra is None or summary.model_extra == {}
    assert not hasattr(summary, "recent_requests")


def test_every_listed_policy_field_is_read() -> None:
    assert set(LISTED_FIELDS) <= set(AuthFileSummary.model_fields)


def test_filters_by_name(client: ManagementClient) -> None:
    client.upload_auth_files({"codex-alice.json": ALICE, "claude-bob.json": BOB})
    found = client.list_auth_file_summaries(name="claude-bob.json")
    assert [f.name for f in found] == ["claude-bob.json"]


def test_cut_off_answer_is_unreachable(client: ManagementClient, emulator: Any) -> None:
    emulator.inject_fault("GET", "/auth-files", status=200, body='{"files": [{"na', times=3)
    with pytest.raises(errors.UnreachableError, match="cut off"):
        client.list_auth_file_summaries()


def test_non_json_answer_is_an_api_error(client: ManagementClient, emulator: Any) -> None:
    emulator.inject_fault("GET", "/auth-files", status=200, body="<html>login</html>", times=3)
    with pytest.raises(errors.ApiError, match="not JSON") as caught:
        client.list_auth_file_summaries()
    assert type(caught.value) is errors.ApiError


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"files": [{"name": 7}]}', "files.0.name"),
        ('{"files": [{"disabled": false}]}', "files.0.name"),
        ('{"files": {"name": "a.json"}}', "files"),
        ('{"files": [{"name": "a.json", "priority": "high"}]}', "files.0.priority"),
    ],
)
def test_wrong_shape_names_the_field(
    client: ManagementClient, emulator: Any, body: str, where: str
) -> None:
    emulator.inject_fault("GET", "/auth-files", status=200, body=body)
    with pytest.raises(errors.ApiError, match="expected shape") as caught:
        client.list_auth_file_summaries()
    assert f"{where}:" in str(caught.value)
    assert str(caught.value).startswith("GET /v0/management/auth-files: ")
